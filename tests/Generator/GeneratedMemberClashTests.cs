using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using AttentionGen.Tests.Analyzers;
using Microsoft.CodeAnalysis;
using Xunit;

namespace AttentionGen.Tests.Generator;

/// <summary>
/// The rules' list of generated members (compile-time/Model/GeneratedMembers) must cover what the emitters write: for every
/// member in a generated file, a user member of the same signature is reported (AG0022) and nothing is generated.
/// </summary>
public class GeneratedMemberClashTests
{
    private const string Members = "/*members*/";

    public static TheoryData<string> Sources => new()
    {
        "[FlashAttention(Dim = 64)] partial class C { /*members*/ }",
        "[FlashAttention] partial class C { /*members*/ }",
        "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16)] partial class C { /*members*/ }",
        "[Dilated(NumHeads = 4, DilationRate = 2, SegmentSize = 16)] partial class C { /*members*/ }",
        "[Sparse(Heads = 2)] partial class C { /*members*/ }",
        "[Local(WindowSize = 8)] partial class C { /*members*/ }",
        "[Flex] partial class C { /*members*/ }",
        "[Flex(MaskMod = nameof(M))] partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) => kv <= q; /*members*/ }",
        "[Flex(MaskMod = nameof(M), ScoreMod = nameof(F))] partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) => q % 3 == kv % 2; [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s; /*members*/ }",
        "[Flex(MaskMod = nameof(M))] partial class C { [MaskMod] static bool M(int b, int h, int q, int kv, ReadOnlySpan<int> docs) => docs[q] == docs[kv]; /*members*/ }",
    };

    [Theory]
    [MemberData(nameof(Sources))]
    public async Task EveryGeneratedMemberIsKnownToTheClashRule(string source)
    {
        string[] clashing = GeneratedMemberDeclarations(source.Replace(Members, string.Empty));
        Assert.NotEmpty(clashing);

        foreach (string member in clashing)
        {
            string withMember = source.Replace(Members, member);
            Reported[] reported = await AnalyzerHarness.AnalyzeAsync(withMember);
            (_, GeneratorRunResult result) = GeneratorHarness.Run(AnalyzerHarness.Usings + withMember);

            Assert.True(reported.Any(d => d.Id == "AG0022"), $"no AG0022 for the user member '{member}'");
            Assert.Empty(result.GeneratedSources);
        }
    }

    [Theory]
    [InlineData("ForwardWithCapture")]
    [InlineData("CacheStepWithCapture")]
    [InlineData("cache")]
    [InlineData("scale")]
    public async Task ACaptureNamedLikeWhatTheGeneratedCodeCallsIsRenamedThere(string name)
    {
        // The capture becomes a parameter of the generated Forward/Prefill/Decode, which call ForwardWithCapture and
        // CacheStepWithCapture: under the same name it would shadow them (CS0149).
        string text = await GeneratorHarness.GenerateCleanlyAsync(AnalyzerHarness.Usings +
            $"[Flex(MaskMod = nameof(M))] partial class C {{ [MaskMod] static bool M(int b, int h, int q, int kv, ReadOnlySpan<int> {name}) => {name}[kv] <= q; }}");

        Assert.Contains($"global::AttentionGen.Tensor {name}Capture,", text);
    }

    /// <summary>For each member the generator writes into C, a user declaration that C# would reject beside it.</summary>
    private static string[] GeneratedMemberDeclarations(string source)
    {
        (Compilation output, GeneratorRunResult result) = GeneratorHarness.Run(AnalyzerHarness.Usings + source);
        SyntaxTree generated = Assert.Single(result.GeneratedSources).SyntaxTree;
        INamedTypeSymbol type = output.GetTypeByMetadataName("C")!;
        var declarations = new List<string>();
        // Property accessors (get_X) are left out: the rule covers the property itself, not its hidden accessor names.
        foreach (ISymbol member in type.GetMembers().Where(m => m is not IMethodSymbol { AssociatedSymbol: not null } && m.DeclaringSyntaxReferences.Any(r => r.SyntaxTree == generated)))
        {
            string parameters = member is IMethodSymbol method
                ? string.Join(", ", method.Parameters.Select((p, i) => $"{p.Type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat)} p{i}"))
                : string.Empty;
            declarations.Add(member switch
            {
                IMethodSymbol { MethodKind: MethodKind.Constructor } => $"C({parameters}) {{ }}",
                IMethodSymbol => $"void {member.Name}({parameters}) {{ }}",
                _ => $"int {member.Name};",
            });
        }

        return declarations.ToArray();
    }
}
