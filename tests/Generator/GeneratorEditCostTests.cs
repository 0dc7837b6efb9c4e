using System.Diagnostics;
using System.Linq;
using System.Reflection;
using System.Text;
using AttentionGen.Generator;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;
using Xunit.Abstractions;

namespace AttentionGen.Tests.Generator;

/// <summary>
/// A project of 50 attention layers (ten of each kind) and an edit that has nothing to do with attention, as a user
/// typing elsewhere makes on every keystroke: every step the generator names is reused (Cached or Unchanged), every
/// output is Cached, and the time the generator takes per edit is printed (measured, not asserted: timings belong to
/// benchmarks).
/// </summary>
public sealed class GeneratorEditCostTests(ITestOutputHelper output)
{
    private const int Edits = 20;

    [Fact]
    public void AnUnrelatedEditReusesEveryStepOfFiftyLayers()
    {
        CSharpCompilation compilation = GeneratorHarness.Compile(FiftyLayers());
        var clock = Stopwatch.StartNew();
        GeneratorDriver driver = GeneratorHarness.CreateDriver().RunGenerators(compilation);
        double firstRunMs = clock.Elapsed.TotalMilliseconds;
        Assert.Equal(50, driver.GetRunResult().Results.Single().GeneratedSources.Length);

        GeneratorRunResult rerun = default;
        clock.Restart();
        for (int edit = 0; edit < Edits; edit++)
        {
            CSharpCompilation edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText(
                $"namespace App; class Unrelated{edit} {{ int X => {edit}; }}", GeneratorHarness.ParseOptions));
            driver = driver.RunGenerators(edited);
            rerun = driver.GetRunResult().Results.Single();
        }

        double perEditMs = clock.Elapsed.TotalMilliseconds / Edits;
        output.WriteLine($"50 layers: first run {firstRunMs:F1} ms, then {perEditMs:F2} ms per unrelated edit (mean of {Edits})");

        // Every step the generator names (TrackingNames lists them), so a step added later is checked too. Roslyn's
        // own steps inside ForAttributeWithMetadataName are tracked as well but see the new file, so they are not Cached.
        string[] steps = typeof(TrackingNames).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral)
            .Select(f => (string)f.GetRawConstantValue()!)
            .ToArray();
        Assert.NotEmpty(steps);
        foreach (string step in steps)
        {
            var outputs = rerun.TrackedSteps[step].SelectMany(s => s.Outputs).ToArray();
            Assert.NotEmpty(outputs);
            Assert.All(outputs, o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{step}: {o.Reason}"));
        }

        var emitted = rerun.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs).ToArray();
        Assert.Equal(50, emitted.Length);
        Assert.All(emitted, o => Assert.Equal(IncrementalStepRunReason.Cached, o.Reason));
    }

    private static string FiftyLayers()
    {
        var source = new StringBuilder("using System;\nusing AttentionGen;\nnamespace App;\n");
        for (int i = 0; i < 10; i++)
        {
            source.AppendLine($"[FlashAttention(Dim = {64 * (i + 1)}, Heads = 4, DimHead = 16, Causal = {(i % 2 == 0 ? "true" : "false")})] public partial class Flash{i} {{ }}");
            source.AppendLine($"[Dilated(DModel = 64, NumHeads = 4, SegmentSize = {32 * (i + 1)}, DilationRate = 2)] public partial class Dilated{i} {{ }}");
            source.AppendLine($"[Sparse(Heads = 4, Mode = SparseMode.Local, LocalAttnCtx = {8 * (i + 1)})] public partial class Sparse{i} {{ }}");
            source.AppendLine($"[Local(WindowSize = {16 * (i + 1)}, Causal = true)] public partial class Local{i} {{ }}");
            source.AppendLine($$"""
                [Flex(MaskMod = nameof(Window), ScoreMod = nameof(Cap))]
                public partial class Flex{{i}}
                {
                    [MaskMod] static bool Window(int b, int h, int q, int kv) => kv <= q && q - kv < {{64 * (i + 1)}};
                    [ScoreMod] static float Cap(float s, int b, int h, int q, int kv) => 30f * MathF.Tanh(s / 30f);
                }
                """);
        }

        return source.ToString();
    }
}
