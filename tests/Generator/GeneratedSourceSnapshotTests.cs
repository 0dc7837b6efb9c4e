using System;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using AttentionGen.Tests.Package;
using AttentionGen.Tests.Verifiers;
using Microsoft.CodeAnalysis;
using Xunit;

namespace AttentionGen.Tests.Generator;

/// <summary>
/// What the generator emits for one representative layer of each attribute, compared byte for byte with a snapshot
/// in tests/Generator/Snapshots through the source-generator test framework (which also compiles the result: no
/// errors allowed). A change to an emitter shows up here as a diff to review; after checking it is intended, rewrite
/// the snapshots with <c>ATTENTIONGEN_WRITE_SNAPSHOTS=1 dotnet test --filter GeneratedSourceSnapshotTests</c> and
/// commit them with the change.
/// </summary>
public class GeneratedSourceSnapshotTests
{
    private const string WriteVariable = "ATTENTIONGEN_WRITE_SNAPSHOTS";

    /// <summary>The layer's source, and the name of the one file the generator adds for it (its snapshot's name).</summary>
    public static TheoryData<string, string> Layers => new()
    {
        {
            "using AttentionGen; namespace App; [FlashAttention(Dim = 256, Heads = 4, DimHead = 64, Causal = true, QBucket = 128)] public partial class FlashLayer { }",
            "App.FlashLayer.FlashAttention.g.cs"
        },
        {
            """
            using System;
            using AttentionGen;
            namespace App;
            [Flex(MaskMod = nameof(SlidingCausal), ScoreMod = nameof(SoftCap), BlockSize = 64)]
            public partial class FlexLayer
            {
                [MaskMod] static bool SlidingCausal(int b, int h, int q, int kv) => kv <= q && q - kv < 256;
                [ScoreMod] static float SoftCap(float score, int b, int h, int q, int kv) => 30f * MathF.Tanh(score / 30f);
            }
            """,
            "App.FlexLayer.Flex.g.cs"
        },
        {
            "using AttentionGen; namespace App; [Dilated(DModel = 64, NumHeads = 4, SegmentSizes = new[] { 16, 32 }, DilationRates = new[] { 1, 2 })] public partial class DilatedLayer { }",
            "App.DilatedLayer.Dilated.g.cs"
        },
        {
            "using AttentionGen; namespace App; [Sparse(Heads = 4, Mode = SparseMode.Strided, LocalAttnCtx = 32)] public partial class SparseLayer { }",
            "App.SparseLayer.Sparse.g.cs"
        },
        {
            "using AttentionGen; namespace App; [Local(WindowSize = 64, Causal = true, LookBackward = 1, Dim = 32, UseRotaryPosEmb = true)] public partial class LocalLayer { }",
            "App.LocalLayer.Local.g.cs"
        },
    };

    [Theory]
    [MemberData(nameof(Layers))]
    public async Task GeneratedSourceMatchesItsSnapshot(string source, string hintName)
    {
        string snapshot = Path.Combine(RepositoryLayout.Root, "tests", "Generator", "Snapshots", hintName);
        if (Environment.GetEnvironmentVariable(WriteVariable) == "1")
        {
            (_, GeneratorRunResult result) = GeneratorHarness.Run(source);
            File.WriteAllText(snapshot, Assert.Single(result.GeneratedSources).SourceText.ToString());
        }

        Assert.True(File.Exists(snapshot), $"No snapshot {snapshot}: run the tests once with {WriteVariable}=1 and review the file.");
        await new AttentionGeneratorTest(source).Generates(hintName, File.ReadAllText(snapshot)).VerifyAsync();
    }

    /// <summary>Every snapshot belongs to a case: one left behind by a renamed case would go stale unseen.</summary>
    [Fact]
    public void EverySnapshotHasACase()
    {
        string[] files = Directory.GetFiles(Path.Combine(RepositoryLayout.Root, "tests", "Generator", "Snapshots")).Select(Path.GetFileName).Order().ToArray()!;

        Assert.Equal(Layers.Select(row => (string)row[1]).Order(), files);
    }
}
