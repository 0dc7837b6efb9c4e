using System.CodeDom.Compiler;
using AttentionGen.CompileTime.Model;

namespace AttentionGen.Generator.Emit;

/// <summary>
/// Writes the partial class of a <c>[FlashAttention]</c> spec: constructors, the folded configuration,
/// <c>Attend</c>, which calls the CPU kernel specialized on the mask the attribute chose, and the
/// specialization header of its GPU kernel.
/// </summary>
internal static class FlashAttentionEmitter
{
    private const string Runtime = "global::AttentionGen";

    public static string Emit(FlashAttentionSpec spec)
    {
        using var source = new SourceWriter();
        source.OpenClass(spec.Class, GeneratedMembers.FlashAttentionBase);
        IndentedTextWriter w = source.Writer;
        string name = spec.Class.Identifier;
        bool dimFromConstructor = spec.Dim == 0;
        string dimParameter = dimFromConstructor ? "int dim, " : string.Empty;
        string dimArgument = dimFromConstructor ? "dim" : string.Empty;

        w.WriteLine("/// <summary>Creates the module from weights in PyTorch's layout: toQ [H·E, Dim], toKv [2·H·E, Dim], toOut [Dim, H·E].</summary>");
        w.WriteLine($"public {name}({dimParameter}{Runtime}.Tensor toQ, {Runtime}.Tensor toKv, {Runtime}.Tensor toOut)");
        w.WriteLine($"    : base(CreateConfig({dimArgument}), toQ, toKv, toOut)");
        w.WriteLine("{");
        w.WriteLine("}");
        w.WriteLine();
        w.WriteLine("/// <summary>Creates the module with random weights drawn like PyTorch's default, reproducible from <paramref name=\"seed\"/>.</summary>");
        w.WriteLine($"public {name}({dimParameter}int seed)");
        w.WriteLine($"    : base(CreateConfig({dimArgument}), seed)");
        w.WriteLine("{");
        w.WriteLine("}");
        w.WriteLine();

        string dim = dimFromConstructor ? "dim" : spec.Dim.ToString();
        w.WriteLine($"private static {Runtime}.Modules.FlashAttentionConfig CreateConfig({(dimFromConstructor ? "int dim" : string.Empty)}) =>");
        w.WriteLine($"    new({dim}, heads: {spec.Heads}, dimHead: {spec.DimHead}, causal: {Bool(spec.Causal)}, qBucket: {spec.QBucket}, kBucket: {spec.KBucket}, parallel: {Bool(spec.Parallel)}, mixedPrecision: {Bool(spec.MixedPrecision)});");
        w.WriteLine();

        string mask = spec.Causal ? $"{Runtime}.Cpu.CausalMask" : $"{Runtime}.Cpu.NoMask";
        w.WriteLine("/// <inheritdoc/>");
        w.WriteLine($"protected override void Attend({Runtime}.Cpu.AttentionProblem problem) =>");
        w.WriteLine($"    {Runtime}.Cpu.FlashAttentionCpu.Forward(problem, default({mask}), default({mask}), default({Runtime}.Cpu.IdentityScore));");

        w.WriteLine();
        w.WriteLine("/// <inheritdoc/>");
        w.WriteLine($"protected override string CudaHeader => {CudaHeaderEmitter.Literal(CudaHeaderEmitter.FlashAttention(spec))};");

        return source.CloseClass(spec.Class);
    }

    private static string Bool(bool value) => value ? "true" : "false";
}
