using System.CodeDom.Compiler;
using AttentionGen.CompileTime.Model;

namespace AttentionGen.Generator.Emit;

/// <summary>
/// Writes the partial class of a <c>[Flex]</c> spec: a constructor, <c>Attend</c>, <c>AttendCache</c> (the decode
/// loop against a KV cache), and nested structs whose methods call the class's mods, so the tiled kernel and the decode
/// loop are compiled once per class with the mods inlined. The structs are internal, not private: ILGPU's CPU accelerator
/// launches the ILGPU kernel specialized on them from its own dynamic assembly, which an assembly can let see its
/// internal types (InternalsVisibleTo("ILGPURuntime")) but never its private ones.
/// Without a mask mod every tile is full; with one, every tile is evaluated per element.
/// </summary>
internal static class FlexEmitter
{
    private const string Cpu = "global::AttentionGen.Cpu";
    private const string MaskStruct = GeneratedMembers.FlexMaskStruct;
    private const string ScoreStruct = GeneratedMembers.FlexScoreStruct;
    private const string PlanField = GeneratedMembers.FlexClosedFormField;
    private const string KvCache = "global::AttentionGen.Inference.KvCache";

    public static string Emit(FlexSpec spec)
    {
        using var source = new SourceWriter();
        if (spec.ModDiagnosticIds.Length > 0)
        {
            // The user's own [Experimental]/[Obsolete(DiagnosticId)] ids: calling the mods they named is what they asked for.
            source.Writer.WriteLine($"#pragma warning disable {string.Join(", ", spec.ModDiagnosticIds)}");
        }

        source.OpenClass(spec.Class, GeneratedMembers.FlexBase);
        IndentedTextWriter w = source.Writer;
        // Each mod is called through its owner: the class itself, or the class nameof(Owner.Mod) named.
        string maskMod = $"{spec.MaskModOwner?.Qualified ?? spec.Class.QualifiedIdentifier}.{ClassShape.Escape(spec.MaskMod ?? string.Empty)}";
        string scoreMod = $"{spec.ScoreModOwner?.Qualified ?? spec.Class.QualifiedIdentifier}.{ClassShape.Escape(spec.ScoreMod ?? string.Empty)}";
        bool hasMask = spec.MaskMod is not null, hasScore = spec.ScoreMod is not null;

        w.WriteLine("/// <summary>Creates the module; its mods are compiled into the kernel.</summary>");
        w.WriteLine($"public {spec.Class.Identifier}()");
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

        // A capture (run-time data the mods read) arrives as a tensor; the CPU structs hold it as an array.
        string? element = spec.CaptureElement;
        string read = element == "int" ? "capture?.ToInt32Array()" : "capture?.ToFloatArray()";
        string plan = closedForm ? PlanField : hasMask ? $"default({Cpu}.EveryTilePartial)" : $"default({Cpu}.NoMask)";
        string mask = closedForm ? PlanField : !hasMask ? $"default({Cpu}.NoMask)" : spec.MaskCaptures ? $"new {MaskStruct}(data)" : $"default({MaskStruct})";
        // The library's soft-cap with a constant cap runs as the runtime's SoftcapScore: the CPU kernels cap it a row at a time.
        string score = !hasScore ? $"default({Cpu}.IdentityScore)"
            : spec.Softcap is float cap ? $"new {Cpu}.SoftcapScore({cap.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}f)"
            : spec.ScoreCaptures ? $"new {ScoreStruct}(data)" : $"default({ScoreStruct})";
        w.WriteLine("/// <inheritdoc/>");
        w.WriteLine($"protected override void Attend({Cpu}.AttentionProblem problem, global::AttentionGen.Masks.BlockMask? blockMask, global::AttentionGen.Tensor? capture)");
        w.WriteLine("{");
        if (element is not null)
        {
            w.WriteLine($"    {element}[]? data = {read};");
        }

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
        EmitAttendCache(w, element, read, mask, score);
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
            if (spec.MaskCaptures)
            {
                w.WriteLine("public override global::AttentionGen.MaskFunction? BindMaskMod(global::AttentionGen.Tensor? capture)");
                w.WriteLine("{");
                w.WriteLine($"    {element}[] data = {read} ?? [];");
                w.WriteLine($"    return (b, h, q, kv) => {maskMod}(b, h, q, kv, data);");
                w.WriteLine("}");
            }
            else
            {
                w.WriteLine($"public override global::AttentionGen.MaskFunction? BindMaskMod(global::AttentionGen.Tensor? capture) => {maskMod};");
            }
        }

        if (hasScore)
        {
            // The score mod as a delegate too: the module probes it against a capture's length before running.
            w.WriteLine();
            w.WriteLine("/// <inheritdoc/>");
            w.WriteLine(spec.ScoreCaptures
                ? $"public override global::AttentionGen.ScoreFunction? BindScoreMod(global::AttentionGen.Tensor? capture) {{ {element}[] data = {read} ?? []; return (s, b, h, q, kv) => {scoreMod}(s, b, h, q, kv, data); }}"
                : $"public override global::AttentionGen.ScoreFunction? BindScoreMod(global::AttentionGen.Tensor? capture) => {scoreMod};");
        }

        if (spec.CaptureName is { } captureName)
        {
            string parameter = CaptureParameter(captureName);
            string type = element == "int" ? "int32" : "float32";
            w.WriteLine();
            w.WriteLine($"/// <inheritdoc/>");
            w.WriteLine($"public override string? CaptureName => \"{captureName}\";");
            w.WriteLine();
            w.WriteLine($"/// <summary>flex_attention with the mods' capture <paramref name=\"{parameter}\"/> (a {type} tensor the mods index, on q's device).</summary>");
            w.WriteLine($"public global::AttentionGen.AttentionOutput Forward(global::AttentionGen.Tensor q, global::AttentionGen.Tensor k, global::AttentionGen.Tensor v, global::AttentionGen.Tensor {ClassShape.Escape(parameter)}, float? scale = null, bool enableGqa = false, global::AttentionGen.Masks.BlockMask? blockMask = null) =>");
            w.WriteLine($"    ForwardWithCapture(q, k, v, {ClassShape.Escape(parameter)}, global::AttentionGen.DType.{(element == "int" ? "Int32" : "Float32")}, \"{parameter}\", scale, enableGqa, blockMask);");
            EmitCacheStepsWithCapture(w, parameter, type, element == "int" ? "Int32" : "Float32");
        }

        string? header = spec.CudaMods is null ? null : CudaHeaderEmitter.Flex(spec.ClosedForm, spec.CudaMods);
        w.WriteLine();
        w.WriteLine("/// <inheritdoc/>");
        w.WriteLine($"protected override string? CudaHeader => {(header is null ? "null" : CudaHeaderEmitter.Literal(header))};");

        if (hasMask && !closedForm)
        {
            w.WriteLine();
            string captured = spec.MaskCaptures ? ", capture" : string.Empty;
            w.WriteLine($"internal readonly struct {MaskStruct}{(spec.MaskCaptures ? $"({element}[]? capture)" : string.Empty)} : {Cpu}.IMaskMod");
            w.WriteLine("{");
            w.WriteLine($"    public bool IsAllowed(int batch, int head, int q, int kv) => {maskMod}(batch, head, q, kv{captured});");
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
            string captured = spec.ScoreCaptures ? ", capture" : string.Empty;
            w.WriteLine($"internal readonly struct {ScoreStruct}{(spec.ScoreCaptures ? $"({element}[]? capture)" : string.Empty)} : {Cpu}.IScoreMod");
            w.WriteLine("{");
            w.WriteLine("    public static bool IsIdentity => false;");
            w.WriteLine();
            w.WriteLine($"    public float Apply(float score, int batch, int head, int q, int kv) => {scoreMod}(score, batch, head, q, kv{captured});");
            w.WriteLine("}");
        }

        return source.CloseClass(spec.Class);
    }

    // The decode loop specialized on the same mask and score as Attend, at the cache's absolute positions.
    private static void EmitAttendCache(IndentedTextWriter w, string? element, string read, string mask, string score)
    {
        w.WriteLine("/// <inheritdoc/>");
        w.WriteLine($"protected override global::AttentionGen.AttentionOutput AttendCache(global::AttentionGen.Tensor q, {KvCache} cache, float? scale, global::AttentionGen.Tensor? capture)");
        w.WriteLine("{");
        if (element is not null)
        {
            w.WriteLine($"    {element}[]? data = {read};");
        }

        w.WriteLine($"    return global::AttentionGen.Inference.DecodeAttention.Prefill(q, cache, {mask}, {score}, scale);");
        w.WriteLine("}");
    }

    // Prefill and Decode of a class whose mods read a capture: the capture comes before the cache, as in Forward.
    private static void EmitCacheStepsWithCapture(IndentedTextWriter w, string parameter, string type, string dtype)
    {
        const string Tensor = "global::AttentionGen.Tensor";
        string escaped = ClassShape.Escape(parameter);
        foreach ((string name, string decode) in new[] { ("Prefill", "false"), ("Decode", "true") })
        {
            w.WriteLine();
            w.WriteLine($"/// <summary>{name} with the mods' capture <paramref name=\"{parameter}\"/> (a {type} tensor the mods index, on the cpu).</summary>");
            w.WriteLine($"public global::AttentionGen.AttentionOutput {name}({Tensor} q, {Tensor} k, {Tensor} v, {Tensor} {escaped}, {KvCache} cache, float? scale = null) =>");
            w.WriteLine($"    CacheStepWithCapture(q, k, v, {escaped}, global::AttentionGen.DType.{dtype}, \"{parameter}\", cache, scale, decode: {decode});");
        }
    }

    // The capture's parameter name in Forward, Prefill and Decode: renamed where it would shadow their other parameters
    // or the base methods they call (a parameter named ForwardWithCapture would make the call CS0149).
    private static string CaptureParameter(string captureName) =>
        captureName is "q" or "k" or "v" or "scale" or "enableGqa" or "blockMask" or "cache" or "ForwardWithCapture" or "CacheStepWithCapture"
            ? captureName + "Capture"
            : captureName;

    private static string Long(long value) =>
        value == long.MinValue ? "long.MinValue" : value == long.MaxValue ? "long.MaxValue" : value.ToString(System.Globalization.CultureInfo.InvariantCulture) + "L";
}
