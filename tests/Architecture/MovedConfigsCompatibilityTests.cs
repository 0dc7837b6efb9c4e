using System.Linq;
using AttentionGen.Tests.Generator;
using Microsoft.CodeAnalysis;
using Xunit;

namespace AttentionGen.Tests.Architecture;

/// <summary>
/// LocalConfig and the RopeScaling records moved from AttentionGen.Modules to the root namespace to break the
/// Variants ↔ Modules cycle. User code that imports the root namespace, as every example does, keeps compiling as
/// written: in a file that uses modules (AttentionGen + AttentionGen.Modules) and in one that calls the variant
/// functions (+ AttentionGen.Variants). Only the old fully qualified names break.
/// </summary>
public class MovedConfigsCompatibilityTests
{
    private const string ModuleUser = """
        using AttentionGen;
        using AttentionGen.Modules;

        namespace App;

        public static class ModuleUser
        {
            public static LocalAttentionModule Local() => new LocalAttentionModule(new LocalConfig(8, causal: true));

            public static DecoderAttentionConfig Decoder(bool llama3)
            {
                RopeScaling scaling = llama3 ? new Llama3RopeScaling(8, 1, 4, 8192) : new LinearRopeScaling(2);
                return new DecoderAttentionConfig(64, 4, 2, ropeScaling: scaling);
            }
        }
        """;

    private const string FunctionUser = """
        using AttentionGen;
        using AttentionGen.Modules;
        using AttentionGen.Variants;

        namespace App;

        public static class FunctionUser
        {
            public static Tensor Local(Tensor q, Tensor k, Tensor v) => LocalAttention.Forward(q, k, v, new LocalConfig(8));

            public static float[] Frequencies() => Rope.InverseFrequencies(16, 10000, new LinearRopeScaling(4));
        }
        """;

    [Theory]
    [InlineData(ModuleUser)]
    [InlineData(FunctionUser)]
    public void UserCodeNamingTheMovedConfigsCompiles(string source)
    {
        Diagnostic[] errors = GeneratorHarness.Compile(source).GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToArray();
        Assert.True(errors.Length == 0, string.Join("\n", errors.Select(e => e.ToString())));
    }
}
