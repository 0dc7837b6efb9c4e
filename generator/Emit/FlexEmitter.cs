using System.CodeDom.Compiler;
using AttentionGen.Spec.Model;

namespace AttentionGen.Generator.Emit;

/// <summary>
/// Writes the partial class of a <c>[Flex]</c> spec: a constructor, <c>Attend</c>, and private structs whose
/// methods call the class's mods, so the tiled kernel is compiled once per class with the mods inlined.
/// Without a mask mod every tile is full; with one, every tile is evaluated per element.
/// </summary>
internal static class FlexEmitter
{
    private const string Cpu = "global::AttentionGen.Cpu";
    private const string MaskStruct = "AttentionGenMaskMod";
    private const string ScoreStruct = "AttentionGenScoreMod";
    private const string PlanField = "AttentionGenClosedForm";

    public static string Emit(FlexSpec spec)
    {
        using var source = new SourceWriter();
        source.OpenClass(spec.Class, "global::AttentionGen.Modules.FlexAttentionModule");
        IndentedTextWriter w = source.Writer;
        string owner = "global::" + (spec.Class.Namespace is null ? string.Empty : spec.Class.Namespace + ".") + spec.Class.Name;
        bool hasMask = spec.MaskMod is not null, hasScore = spec.ScoreMod is not null;

        w.WriteLine("/// <summary>Creates the module; its mods are compiled into the kernel.</summary>");
        w.WriteLine($"public {spec.Class.Name}()");
        w.WriteLine($"    : base(blockSize: {spec.BlockSize})");
        w.WriteLine("{");
        w.WriteLine("}");
        w.WriteLine();

        // A recognised mask is its own closed-form plan: no block mask, whole tiles skipped or taken from its corners.
        bool closedForm = hasMask && !spec.ClosedForm.IsDefault;
        if (closedForm)
        {
            w.WriteLine("/// <summary>The mask mod as the generator recognised it: a union of diagonal boxes.</summary>");
            w.WriteLine($"private static readonly {Cpu}.ClosedFormPlan {PlanField} = new(new {Cpu}.DiagonalBox[]");
            w.WriteLine("{");
            foreach (ClosedFormBox box in spec.ClosedForm)
            {
                w.WriteLine($"    new({Long(box.DiagonalLow)}, {Long(box.DiagonalHigh)}, {Long(box.KeyLow)}, {Long(box.KeyHigh)}, {Long(box.QueryLow)}, {Long(box.QueryHigh)}),");
            }

            w.WriteLine("});");
            w.WriteLine();
        }

        string plan = closedForm ? PlanField : hasMask ? $"default({Cpu}.EveryTilePartial)" : $"default({Cpu}.NoMask)";
        string mask = closedForm ? PlanField : hasMask ? $"default({MaskStruct})" : $"default({Cpu}.NoMask)";
        string score = hasScore ? $"default({ScoreStruct})" : $"default({Cpu}.IdentityScore)";
        w.WriteLine("/// <inheritdoc/>");
        w.WriteLine($"protected override void Attend({Cpu}.AttentionProblem problem, global::AttentionGen.Masks.BlockMask? blockMask)");
        w.WriteLine("{");
        w.WriteLine("    if (blockMask is null)");
        w.WriteLine("    {");
        w.WriteLine($"        {Cpu}.FlashAttentionCpu.Forward(problem, {plan}, {mask}, {score});");
        w.WriteLine("    }");
        w.WriteLine("    else");
        w.WriteLine("    {");
        w.WriteLine($"        {Cpu}.FlashAttentionCpu.Forward(problem, blockMask.Plan, {mask}, {score});");
        w.WriteLine("    }");
        w.WriteLine("}");
        w.WriteLine();
        w.WriteLine("/// <inheritdoc/>");
        w.WriteLine($"public override bool HasClosedFormPlan => {(closedForm ? "true" : "false")};");
        w.WriteLine();
        w.WriteLine("/// <inheritdoc/>");
        w.WriteLine($"protected override bool HasScoreMod => {(hasScore ? "true" : "false")};");
        if (hasMask)
        {
            w.WriteLine();
            w.WriteLine("/// <inheritdoc/>");
            w.WriteLine($"public override global::AttentionGen.MaskFunction? MaskMod => {owner}.{spec.MaskMod};");
        }

        string? header = spec.CudaMods is null ? null : CudaHeaderEmitter.Flex(spec.ClosedForm, spec.CudaMods);
        w.WriteLine();
        w.WriteLine("/// <inheritdoc/>");
        w.WriteLine($"protected override string? CudaHeader => {(header is null ? "null" : CudaHeaderEmitter.Literal(header))};");

        if (hasMask && !closedForm)
        {
            w.WriteLine();
            w.WriteLine($"private readonly struct {MaskStruct} : {Cpu}.IMaskMod");
            w.WriteLine("{");
            w.WriteLine($"    public bool IsAllowed(int batch, int head, int q, int kv) => {owner}.{spec.MaskMod}(batch, head, q, kv);");
            w.WriteLine();
            w.WriteLine("    public bool TryGetKeyRange(int batch, int head, int q, out int start, out int end)");
            w.WriteLine("    {");
            w.WriteLine("        start = 0;");
            w.WriteLine("        end = 0;");
            w.WriteLine("        return false;");
            w.WriteLine("    }");
            w.WriteLine("}");
        }

        if (hasScore)
        {
            w.WriteLine();
            w.WriteLine($"private readonly struct {ScoreStruct} : {Cpu}.IScoreMod");
            w.WriteLine("{");
            w.WriteLine("    public static bool IsIdentity => false;");
            w.WriteLine();
            w.WriteLine($"    public float Apply(float score, int batch, int head, int q, int kv) => {owner}.{spec.ScoreMod}(score, batch, head, q, kv);");
            w.WriteLine("}");
        }

        return source.CloseClass(spec.Class);
    }

    private static string Long(long value) =>
        value == long.MinValue ? "long.MinValue" : value == long.MaxValue ? "long.MaxValue" : value.ToString(System.Globalization.CultureInfo.InvariantCulture) + "L";
}
