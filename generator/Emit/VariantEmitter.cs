using System.CodeDom.Compiler;
using System.Globalization;
using System.Linq;
using AttentionGen.CompileTime.Model;

namespace AttentionGen.Generator.Emit;

/// <summary>
/// Writes the partial classes of <c>[Dilated]</c>, <c>[Sparse]</c> and <c>[Local]</c> specs: constructors that
/// pass the attribute's constants, folded into literals, to the runtime module the class derives from.
/// </summary>
internal static class VariantEmitter
{
    private const string Modules = "global::AttentionGen.Modules";

    public static string Emit(DilatedSpec spec)
    {
        using var source = new SourceWriter();
        source.OpenClass(spec.Class, GeneratedMembers.DilatedBase);
        IndentedTextWriter w = source.Writer;
        string name = spec.Class.Identifier;
        bool dModelFromConstructor = spec.DModel == 0;
        string dModelParameter = dModelFromConstructor ? "int dModel, " : string.Empty;
        string dModelArgument = dModelFromConstructor ? "dModel" : string.Empty;
        bool mixture = !spec.SegmentSizes.IsDefault;
        string segments = mixture ? IntArray(spec.SegmentSizes.ToArray()) : IntArray([spec.SegmentSize]);
        string rates = mixture ? IntArray(spec.DilationRates.ToArray()) : IntArray([spec.DilationRate]);

        w.WriteLine("/// <summary>Creates the module from its projections (DModel → DModel, with bias) and, when UseRelPosBias, the bias table.</summary>");
        w.WriteLine($"public {name}({dModelParameter}{Modules}.Linear qProj, {Modules}.Linear kProj, {Modules}.Linear vProj, {Modules}.Linear outProj, global::AttentionGen.Variants.RelativePositionBias? relPosBias = null)");
        w.WriteLine($"    : base(CreateConfig({dModelArgument}), qProj, kProj, vProj, outProj, relPosBias)");
        w.WriteLine("{");
        w.WriteLine("}");
        w.WriteLine();
        w.WriteLine("/// <summary>Creates the module with random weights drawn like PyTorch's default, reproducible from <paramref name=\"seed\"/>.</summary>");
        w.WriteLine($"public {name}({dModelParameter}int seed)");
        w.WriteLine($"    : base(CreateConfig({dModelArgument}), seed)");
        w.WriteLine("{");
        w.WriteLine("}");
        w.WriteLine();
        string dModel = dModelFromConstructor ? "dModel" : Int(spec.DModel);
        w.WriteLine($"private static {Modules}.DilatedConfig CreateConfig({(dModelFromConstructor ? "int dModel" : string.Empty)}) =>");
        w.WriteLine($"    new({dModel}, numHeads: {Int(spec.NumHeads)}, segmentSizes: {segments}, dilationRates: {rates}, dropout: {Float(spec.Dropout)}, causal: {Bool(spec.Causal)}, useXpos: {Bool(spec.UseXpos)}, useRelPosBias: {Bool(spec.UseRelPosBias)}, distributed: {Bool(spec.Distributed)});");
        return source.CloseClass(spec.Class);
    }

    public static string Emit(SparseSpec spec)
    {
        using var source = new SourceWriter();
        source.OpenClass(spec.Class, GeneratedMembers.SparseBase);
        IndentedTextWriter w = source.Writer;
        string mode = spec.Mode switch
        {
            SparseSpec.ModeLocal => "Local",
            SparseSpec.ModeStrided => "Strided",
            _ => "All",
        };
        w.WriteLine("/// <summary>Creates the module with the attribute's pattern.</summary>");
        w.WriteLine($"public {spec.Class.Identifier}()");
        w.WriteLine($"    : base(heads: {Int(spec.Heads)}, mode: global::AttentionGen.SparseMode.{mode}, localAttnCtx: {Int(spec.LocalAttnCtx)}, blockSize: {Int(spec.BlockSize)}, causal: {Bool(spec.Causal)})");
        w.WriteLine("{");
        w.WriteLine("}");
        return source.CloseClass(spec.Class);
    }

    public static string Emit(LocalSpec spec)
    {
        using var source = new SourceWriter();
        source.OpenClass(spec.Class, GeneratedMembers.LocalBase);
        IndentedTextWriter w = source.Writer;
        w.WriteLine("/// <summary>Creates the module with the attribute's window and options.</summary>");
        w.WriteLine($"public {spec.Class.Identifier}()");
        w.WriteLine("    : base(new(");
        w.WriteLine($"        windowSize: {Int(spec.WindowSize)}, causal: {Bool(spec.Causal)}, lookBackward: {Int(spec.LookBackward)}, lookForward: {Int(spec.LookForward)},");
        w.WriteLine($"        dropout: {Float(spec.Dropout)}, sharedQk: {Bool(spec.SharedQk)}, dim: {Int(spec.Dim)}, autopad: {Bool(spec.Autopad)}, exactWindowsize: {Bool(spec.ExactWindowsize)},");
        w.WriteLine($"        scale: {Float(spec.Scale)}, useRotaryPosEmb: {Bool(spec.UseRotaryPosEmb)}, useXpos: {Bool(spec.UseXpos)}, xposScaleBase: {Float(spec.XposScaleBase)}))");
        w.WriteLine("{");
        w.WriteLine("}");
        return source.CloseClass(spec.Class);
    }

    private static string Bool(bool value) => value ? "true" : "false";

    private static string Int(int value) => value.ToString(CultureInfo.InvariantCulture);

    // Non-finite values have no literal form ("Infinityf" is not C#); the rules reject them, the emitter stays valid anyway.
    private static string Float(float value) =>
        float.IsNaN(value) ? "float.NaN"
        : float.IsPositiveInfinity(value) ? "float.PositiveInfinity"
        : float.IsNegativeInfinity(value) ? "float.NegativeInfinity"
        : value.ToString("R", CultureInfo.InvariantCulture) + "f";

    private static string IntArray(int[] values) => "new int[] { " + string.Join(", ", values.Select(Int)) + " }";
}
