using System.Linq;
using AttentionGen.Tests.Analyzers;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;
using Xunit;

namespace AttentionGen.Tests.Generator;

/// <summary>
/// A user typing: one driver sees a file go from valid to invalid (bad values, broken syntax, an untranslatable mod,
/// an unservable shape) and back. After every edit its output equals a fresh driver's on the same compilation: no
/// stale module from before the error, no crashed state after it.
/// </summary>
public class IncrementalEditTests
{
    private const string Layer = "[Flex(MaskMod = nameof(Mods.M), ScoreMod = nameof(Mods.S))] partial class L { }";
    private const string ValidMods = "static class Mods { [MaskMod] public static bool M(int b, int h, int q, int kv) => kv <= q; [ScoreMod] public static float S(float s, int b, int h, int q, int kv) => s * 0.5f; }";

    public static TheoryData<string, string[]> Edits => new()
    {
        {
            "the attributed file",
            [
                "[FlashAttention(Dim = 64, Heads = 4)] partial class L { }",
                "[FlashAttention(Dim = 64, Heads = 0)] partial class L { }",
                "[FlashAttention(Dim = 64, Heads = )] partial class L { }",
                "[FlashAttention(Dim = 64, Heads = 2)] partial class L { }",
                "[FlashAttention(Dim = 64, Heads = 2)] file partial class L { }",
                "[Local(WindowSize = 8)] partial class L { }",
                "[Local(WindowSize = 8)] partial class L { int CreateConfig; }",
                "partial class L { }",
                "[Dilated(DModel = 64, NumHeads = 4, SegmentSizes = new[] { 8, 16 }, DilationRates = new[] { 1 })] partial class L { }",
                "[Dilated(DModel = 64, NumHeads = 4, SegmentSizes = new[] { 8, 16 }, DilationRates = new[] { 1, 2 })] partial class L { }",
                "[FlashAttention(Dim = 64, Heads = 4)] partial class L { }",
            ]
        },
        {
            "the mods' file only",
            [
                ValidMods,
                ValidMods.Replace("=> kv <= q;", "{ for (int i = 0; i < q; i++) { } return true; }", System.StringComparison.Ordinal),
                ValidMods.Replace("=> kv <= q;", "=> kv >= q;", System.StringComparison.Ordinal),
                ValidMods.Replace("[ScoreMod] public static float S", "[ScoreMod] public static float S(float s, int b, int h, int q, int kv, ReadOnlySpan<float> w) => s * w[h]; [ScoreMod] public static float S", System.StringComparison.Ordinal),
                ValidMods.Replace("s * 0.5f", "s * W; static readonly float W = Environment.ProcessorCount", System.StringComparison.Ordinal),
                ValidMods.Replace("s * 0.5f", "s * W; static readonly float W = 0.25f", System.StringComparison.Ordinal),
                "static class Mods { [MaskMod] public static bool M(int b, int h, int q, int kv) => ",
                ValidMods,
            ]
        },
    };

    [Theory]
    [MemberData(nameof(Edits))]
    public void EveryEditGivesWhatAFreshRunGives(string edited, string[] versions)
    {
        bool modsFile = edited.Contains("mods", System.StringComparison.Ordinal);
        string[] first = modsFile ? [Layer, versions[0]] : [versions[0], ValidMods];
        CSharpCompilation compilation = GeneratorHarness.Compile(first.Select(s => AnalyzerHarness.Usings + s).ToArray());
        SyntaxTree tree = compilation.SyntaxTrees.ElementAt(modsFile ? 1 : 0);
        GeneratorDriver driver = GeneratorHarness.CreateDriver();
        var emitted = new System.Collections.Generic.List<int>();

        foreach (string version in versions)
        {
            SyntaxTree next = tree.WithChangedText(SourceText.From(AnalyzerHarness.Usings + version));
            compilation = compilation.ReplaceSyntaxTree(tree, next);
            tree = next;

            driver = driver.RunGenerators(compilation);
            GeneratorRunResult incremental = driver.GetRunResult().Results.Single();
            GeneratorRunResult fresh = GeneratorHarness.CreateDriver().RunGenerators(compilation).GetRunResult().Results.Single();

            Assert.Null(incremental.Exception);
            Assert.Equal(Texts(fresh), Texts(incremental));
            emitted.Add(incremental.GeneratedSources.Length);
        }

        // The sequence goes through served and unserved versions, or it would prove nothing.
        Assert.Contains(0, emitted);
        Assert.Contains(1, emitted);
    }

    private static string[] Texts(GeneratorRunResult result) =>
        result.GeneratedSources.Select(s => s.HintName + "\n" + s.SourceText).Order(System.StringComparer.Ordinal).ToArray();
}
