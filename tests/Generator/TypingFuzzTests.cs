using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using AttentionGen.CodeFixes;
using AttentionGen.Tests.Verifiers;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;
using Xunit;

namespace AttentionGen.Tests.Generator;

/// <summary>
/// What a user's editor holds while they type: each valid layer below cut after every token, with each token deleted,
/// with an opening bracket or quote typed after each token, with each literal and attribute argument value swapped for
/// a hostile one, and with each attribute argument (and attribute) given twice. Every variant goes through the analyzers and the generator, which must not throw (no
/// AD0001, no CS8785), must not emit code that fails to compile, must report only on the user's own tokens, and must
/// not drop a class silently (no output and no error at all); and each code fix offered must remove its diagnostic
/// without adding a compiler error. Deterministic: the variants are enumerated, not sampled.
/// </summary>
public class TypingFuzzTests
{
    /// <summary>A valid layer of each attribute kind, with its mods, written as the tests elsewhere write them.</summary>
    public static TheoryData<string, string> Layers => new()
    {
        { "Flash", "[FlashAttention(Dim = 256, Heads = 4, DimHead = 64, Causal = true, QBucket = 128, KBucket = 64, MixedPrecision = true)] public partial class L { }" },
        { "Dilated", "[Dilated(DModel = 64, NumHeads = 4, SegmentSizes = new[] { 16, 32 }, DilationRates = new[] { 1, 2 }, Dropout = 0.1f, Causal = true)] public partial class L { }" },
        { "Sparse", "[Sparse(Heads = 4, Mode = SparseMode.Strided, LocalAttnCtx = 32, BlockSize = 16, Causal = true)] public partial class L { }" },
        { "Local", "[Local(WindowSize = 64, Causal = true, LookBackward = 1, LookForward = 0, Dim = 32, UseRotaryPosEmb = true, UseXpos = true, XposScaleBase = 512f, Scale = 0.125f)] public partial class L { }" },
        { "Flex", "[Flex(MaskMod = nameof(M), ScoreMod = nameof(F), BlockSize = 64)] public partial class L { [MaskMod] static bool M(int b, int h, int q, int kv) => kv <= q && q - kv < 256; [ScoreMod] static float F(float s, int b, int h, int q, int kv) => 30f * MathF.Tanh(s / 30f); }" },
        { "FlexBlock", "[Flex(MaskMod = nameof(M), ScoreMod = nameof(F), BlockSize = 128)] partial class L { static readonly float[] Slopes = { 0.5f, 0.25f }; [MaskMod] static bool M(int b, int h, int q, int kv, ReadOnlySpan<int> docs) { int d = q - kv; if (d < 0) return false; return docs[q] == docs[kv] && d < 128; } [ScoreMod] static float F(float s, int b, int h, int q, int kv, ReadOnlySpan<int> docs) => s - Slopes[h % 2] * (q - kv); }" },
        { "DilatedCollection", "[Dilated(DModel = 64, NumHeads = 4, SegmentSizes = [16, 32], DilationRates = [1, 2], UseRelPosBias = true)] partial class L { }" },
        { "FlexLibrary", "[Flex(MaskMod = nameof(Mods.M), ScoreMod = nameof(Mods.S))] partial class L { } static class Mods { [MaskMod] public static bool M(int b, int h, int q, int kv) => AttentionGen.Mods.MaskMods.SlidingWindow(q, kv, 64); [ScoreMod] public static float S(float s, int b, int h, int q, int kv) => AttentionGen.Mods.ScoreMods.Alibi(s, h, q, kv, 8); }" },
    };

    private static readonly string[] Openers = ["(", "[", "<", "\""];

    private static readonly string[] Hostile =
    [
        "0", "-1", "int.MaxValue", "int.MinValue", "long.MinValue", "1e39f", "double.NaN", "float.NaN", "-float.PositiveInfinity",
        "\"\"", "null", "\"x\"", "true", "'c'", "new[] { -1 }", "(SparseMode)7", "default", "nameof(L)",
    ];

    [Theory]
    [MemberData(nameof(Layers))]
    public void TruncatedAfterAnyToken(string kind, string layer) =>
        AssertAllHold(kind, Tokens(layer).Select(t => layer[..t.Span.End]));

    // Openers typed ahead of their closers: each found a bug ("L(" a primary constructor, "Heads[" an attribute that does
    // not bind, "class<" a class without a name; BrokenSourceTests keeps those). ",", ")", "}" and "static " found none
    // and are left out, and each token is followed by one opener in turn, for the suite's time (all four: 4x the variants).
    [Theory]
    [MemberData(nameof(Layers))]
    public void AnOpenerTypedAfterAnyToken(string kind, string layer) =>
        AssertAllHold(kind, Tokens(layer).Select((t, i) => layer.Insert(t.Span.End, Openers[i % Openers.Length])));

    [Theory]
    [MemberData(nameof(Layers))]
    public void AnyTokenDeleted(string kind, string layer) =>
        AssertAllHold(kind, Tokens(layer).Select(t => layer.Remove(t.Span.Start, t.Span.Length)));

    [Theory]
    [MemberData(nameof(Layers))]
    public void AnyValueHostile(string kind, string layer)
    {
        SyntaxNode root = CSharpSyntaxTree.ParseText(layer, GeneratorHarness.ParseOptions).GetRoot();
        // Literals anywhere (mod bodies too), and whole attribute argument values (nameof, enum members, arrays).
        TextSpan[] values = root.DescendantNodes().OfType<LiteralExpressionSyntax>().Select(l => l.Span)
            .Concat(root.DescendantNodes().OfType<AttributeArgumentSyntax>().Select(a => a.Expression.Span))
            .Distinct()
            .ToArray();
        AssertAllHold(kind, values.SelectMany(span => Hostile.Select(value => Replace(layer, span, value))));
    }

    [Theory]
    [MemberData(nameof(Layers))]
    public void AnyArgumentOrAttributeTwice(string kind, string layer)
    {
        SyntaxNode root = CSharpSyntaxTree.ParseText(layer, GeneratorHarness.ParseOptions).GetRoot();
        IEnumerable<string> arguments = root.DescendantNodes().OfType<AttributeArgumentSyntax>()
            .Select(a => layer.Insert(a.Span.End, ", " + a.ToString()));
        IEnumerable<string> attributes = root.DescendantNodes().OfType<AttributeListSyntax>()
            .Select(a => layer.Insert(a.Span.End, " " + a.ToString()));
        AssertAllHold(kind, arguments.Concat(attributes));
    }

    private static IEnumerable<SyntaxToken> Tokens(string layer) =>
        CSharpSyntaxTree.ParseText(layer, GeneratorHarness.ParseOptions).GetRoot().DescendantTokens().Where(t => t.Span.Length > 0);

    private static string Replace(string text, TextSpan span, string value) => text.Remove(span.Start, span.Length).Insert(span.Start, value);

    /// <summary>Checks every variant; fails once, listing the shortest source for each distinct problem.</summary>
    private static void AssertAllHold(string kind, IEnumerable<string> variants)
    {
        var failures = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var clock = Stopwatch.StartNew();
        int count = 0;
        foreach (string variant in variants.Distinct())
        {
            count++;
            foreach (string problem in Problems(TestProject.Usings + variant))
            {
                if (!failures.TryGetValue(problem, out string? shortest) || variant.Length < shortest.Length)
                {
                    failures[problem] = variant;
                }
            }
        }

        Assert.True(failures.Count == 0, $"{kind}: {failures.Count} problem(s) in {count} variants ({clock.Elapsed.TotalSeconds:0.0} s):\n" +
            string.Join("\n", failures.Select(f => $"  {f.Key}\n    {f.Value}")));
    }

    /// <summary>What breaks the promise for one source: each problem named without its position, so repeats fold.</summary>
    private static IEnumerable<string> Problems(string source)
    {
        CSharpCompilation user = GeneratorHarness.Compile(source);
        SyntaxTree tree = user.SyntaxTrees.Single();
        ImmutableArray<Diagnostic> analyzed = user.WithAnalyzers(TestProject.Analyzers).GetAnalyzerDiagnosticsAsync().GetAwaiter().GetResult();
        GeneratorDriver driver = GeneratorHarness.CreateDriver().RunGeneratorsAndUpdateCompilation(user, out Compilation output, out ImmutableArray<Diagnostic> generatorDiagnostics);
        GeneratorRunResult result = driver.GetRunResult().Results.Single();

        if (result.Exception is { } exception)
        {
            yield return $"generator threw {exception.GetType().Name}: {exception.Message}";
        }

        foreach (Diagnostic d in generatorDiagnostics)
        {
            yield return $"generator reported {d.Id}: {d.GetMessage()}";
        }

        foreach (Diagnostic d in analyzed.Where(d => d.Id == "AD0001"))
        {
            yield return $"analyzer threw: {d.GetMessage()}";
        }

        foreach (Diagnostic d in GeneratorHarness.ErrorsInGeneratedCode(output, result))
        {
            yield return $"error in generated code {d.Id}: {d.GetMessage()}";
        }

        SyntaxNode root = tree.GetRoot();
        foreach (Diagnostic d in analyzed.Where(d => d.Id.StartsWith("AG", StringComparison.Ordinal)))
        {
            TextSpan span = d.Location.SourceSpan;
            if (d.Location.SourceTree != tree)
            {
                yield return $"{d.Id} outside the user's source: {d.Location}";
            }
            else if (span.IsEmpty || root.FindToken(span.Start).SpanStart != span.Start || root.FindToken(span.End - 1).Span.End != span.End)
            {
                yield return $"{d.Id} not on whole tokens: '{source.Substring(span.Start, Math.Min(span.Length, source.Length - span.Start))}'";
            }
        }

        foreach (string problem in FixProblems(source, analyzed))
        {
            yield return problem;
        }

        // A class with an attention attribute, no error of the user's and no AG error, must get its module.
        bool anyError = user.GetDiagnostics().Any(d => d.Severity == DiagnosticSeverity.Error)
            || analyzed.Any(d => d.Severity == DiagnosticSeverity.Error);
        if (!anyError && result.GeneratedSources.IsEmpty && HasAttentionAttribute(user, tree))
        {
            yield return "class dropped without a diagnostic";
        }
    }

    /// <summary>The code fixes, by the ids they fix.</summary>
    private static readonly Dictionary<string, CodeFixProvider> Fixes = typeof(AddPartialCodeFix).Assembly.GetTypes()
        .Where(t => typeof(CodeFixProvider).IsAssignableFrom(t) && !t.IsAbstract)
        .Select(t => (CodeFixProvider)Activator.CreateInstance(t)!)
        .SelectMany(p => p.FixableDiagnosticIds.Select(id => (id, p)))
        .ToDictionary(x => x.id, x => x.p);

    /// <summary>
    /// Each fix offered for the first diagnostic of each fixable id, applied: it must not throw, must leave fewer
    /// diagnostics of its id, and no more compiler errors than before.
    /// </summary>
    private static IEnumerable<string> FixProblems(string source, ImmutableArray<Diagnostic> analyzed)
    {
        Diagnostic[] fixable = analyzed.Where(d => Fixes.ContainsKey(d.Id)).GroupBy(d => d.Id).Select(g => g.First()).ToArray();
        if (fixable.Length == 0)
        {
            yield break;
        }

        using var workspace = new AdhocWorkspace();
        Document document = workspace.CurrentSolution
            .AddProject("User", "UserAssembly", LanguageNames.CSharp)
            .WithParseOptions(GeneratorHarness.ParseOptions)
            .WithCompilationOptions(TestProject.CompilationOptions)
            .AddMetadataReferences(TestProject.References.Value)
            .AddDocument("Source0.cs", source);
        int errorsBefore = Errors(source);
        foreach (Diagnostic diagnostic in fixable)
        {
            var actions = new List<CodeAction>();
            string? failure = null;
            try
            {
                Fixes[diagnostic.Id].RegisterCodeFixesAsync(new CodeFixContext(document, diagnostic, (a, _) => actions.Add(a), CancellationToken.None)).GetAwaiter().GetResult();
            }
            catch (Exception e)
            {
                failure = $"{diagnostic.Id} fix threw {e.GetType().Name}: {e.Message}";
            }

            if (failure is not null)
            {
                yield return failure;
                continue;
            }

            foreach (CodeAction action in actions)
            {
                string fixedSource = Applied(document, action);
                int before = analyzed.Count(d => d.Id == diagnostic.Id);
                int after = GeneratorHarness.Compile(fixedSource).WithAnalyzers(TestProject.Analyzers).GetAnalyzerDiagnosticsAsync().GetAwaiter().GetResult().Count(d => d.Id == diagnostic.Id);
                if (after >= before)
                {
                    yield return $"{diagnostic.Id} fix '{action.Title}' left {after} of {before}";
                }

                if (Errors(fixedSource) > errorsBefore)
                {
                    yield return $"{diagnostic.Id} fix '{action.Title}' added compiler errors";
                }
            }
        }
    }

    private static string Applied(Document document, CodeAction action)
    {
        ApplyChangesOperation apply = action.GetOperationsAsync(CancellationToken.None).GetAwaiter().GetResult().OfType<ApplyChangesOperation>().Single();
        return apply.ChangedSolution.GetDocument(document.Id)!.GetTextAsync().GetAwaiter().GetResult().ToString();
    }

    private static int Errors(string source) => GeneratorHarness.Compile(source).GetDiagnostics().Count(d => d.Severity == DiagnosticSeverity.Error);

    private static bool HasAttentionAttribute(Compilation compilation, SyntaxTree tree)
    {
        SemanticModel model = compilation.GetSemanticModel(tree);
        return tree.GetRoot().DescendantNodes().OfType<ClassDeclarationSyntax>()
            .Select(c => model.GetDeclaredSymbol(c))
            .Any(type => type is not null && type.GetAttributes().Any(a =>
                a.AttributeClass?.ContainingNamespace?.ToDisplayString() == "AttentionGen" &&
                a.AttributeClass.Name is "FlashAttentionAttribute" or "DilatedAttribute" or "SparseAttribute" or "LocalAttribute" or "FlexAttribute"));
    }
}
