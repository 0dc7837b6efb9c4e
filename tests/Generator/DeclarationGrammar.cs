using System;
using System.Globalization;
using CsCheck;

namespace AttentionGen.Tests.Generator;

/// <summary>
/// Random attributed declarations for the generator fuzz tests: attribute kinds with argument values in and out of
/// range, class shapes the generator cannot serve, members named like generated ones, and mod methods from a small
/// grammar of signatures and bodies. Every source is C# that compiles apart from what the AG rules report.
/// </summary>
internal static class DeclarationGrammar
{
    private static readonly Gen<string> AnyInt = Gen.OneOf("-1", "0", "1", "2", "3", "7", "16", "48", "64", "100", "128", "4096", "8192", "int.MaxValue", "int.MinValue");
    private static readonly Gen<string> AnyBool = Gen.OneOf("true", "false");
    private static readonly Gen<string> AnyFloat = Gen.OneOf("0f", "0.1f", "0.99f", "1f", "-0.5f", "float.NaN", "float.PositiveInfinity");
    private static readonly Gen<string> AnyIntArray = Gen.OneOf("new int[0]", "new[] { 16 }", "new[] { 16, 32 }", "new[] { 2048, 1000 }", "new[] { 0, -3 }", "null");
    private static readonly Gen<string> AnyMode = Gen.OneOf("SparseMode.All", "SparseMode.Local", "SparseMode.Strided", "(SparseMode)3", "(SparseMode)(-1)");
    private static readonly Gen<string> AnyModName = Gen.OneOf("nameof(M)", "nameof(F)", "\"Missing\"", "nameof(C)", "null");

    /// <summary>Any declaration: valid, invalid, or shapes the generator must refuse with a diagnostic.</summary>
    public static readonly Gen<string> Any =
        Gen.Select(AnyAttribute(), Shape(), Members(), Mod("M", mask: true), Mod("F", mask: false), Wrapper(), Compose);

    /// <summary>Valid declarations only: attribute values inside every rule, plain partial classes, valid mods.</summary>
    public static readonly Gen<string> Valid =
        Gen.Select(ValidAttribute(), Gen.OneOf("public ", "internal ", "sealed ", "abstract ", ""), Gen.OneOf("", "namespace App;\n"), (attribute, modifier, ns) =>
            $"{ns}[{attribute}] {modifier}partial class C {{ {ValidMods} }}");

    // Mods that every valid [Flex] can name: a closed-form mask, and a score mod.
    private const string ValidMods =
        "[MaskMod] static bool M(int b, int h, int q, int kv) => kv <= q && q - kv < 64; [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s - 0.5f * Math.Abs(q - kv);";

    private static string Compose(string attribute, string shape, string members, string mask, string score, string wrapper)
    {
        string[] parts = shape.Split('|');
        string declaration = $"[{attribute}] {parts[0]} C{parts[1]} {{ {members} {mask} {score} }} class B {{ }}";
        return wrapper.Replace("#", declaration);
    }

    private static Gen<string> AnyAttribute() => Gen.OneOf(
        Attribute("FlashAttention", ("Dim", AnyInt), ("Heads", AnyInt), ("DimHead", AnyInt), ("Causal", AnyBool), ("QBucket", AnyInt), ("KBucket", AnyInt), ("Parallel", AnyBool), ("MixedPrecision", AnyBool)),
        Attribute("Dilated", ("DModel", AnyInt), ("NumHeads", AnyInt), ("DilationRate", AnyInt), ("SegmentSize", AnyInt), ("SegmentSizes", AnyIntArray), ("DilationRates", AnyIntArray), ("Dropout", AnyFloat), ("Causal", AnyBool), ("Distributed", AnyBool)),
        Attribute("Sparse", ("Heads", AnyInt), ("Mode", AnyMode), ("LocalAttnCtx", AnyInt), ("BlockSize", AnyInt), ("Causal", AnyBool)),
        Attribute("Local", ("WindowSize", AnyInt), ("Causal", AnyBool), ("LookBackward", AnyInt), ("LookForward", AnyInt), ("Dropout", AnyFloat), ("SharedQk", AnyBool), ("Dim", AnyInt), ("UseRotaryPosEmb", AnyBool), ("UseXpos", AnyBool), ("Scale", AnyFloat)),
        Attribute("Flex", ("MaskMod", AnyModName), ("ScoreMod", AnyModName), ("BlockSize", AnyInt)),
        Gen.Const("FlashAttention(Dim = 64), Sparse(Heads = 2)"));

    private static Gen<string> ValidAttribute() => Gen.OneOf(
        Gen.Select(Gen.Int[0, 4], Gen.Int[1, 16], Gen.OneOf(16, 32, 64, 100, 128, 256), Gen.Int[1, 64], Gen.Int[1, 64], AnyBool,
            (dim, heads, dimHead, q, k, causal) => $"FlashAttention(Dim = {dim * 64}, Heads = {heads}, DimHead = {dimHead}, QBucket = {q * 16}, KBucket = {k * 16}, Causal = {causal}, Parallel = false)"),
        Gen.Select(Gen.Int[1, 8], Gen.Int[1, 16], Gen.Int[1, 8], Gen.Int[1, 64], Gen.Int[0, 9], AnyBool,
            (heads, width, rate, segments, dropout, causal) => $"Dilated(DModel = {heads * width}, NumHeads = {heads}, DilationRate = {rate}, SegmentSize = {rate * segments}, Dropout = {(dropout / 10.0).ToString("0.0", CultureInfo.InvariantCulture)}f, Causal = {causal})"),
        Gen.Select(Gen.Int[1, 16], Gen.OneOf("All", "Local", "Strided"), Gen.Int[1, 256], Gen.Int[1, 128], AnyBool,
            (heads, mode, ctx, block, causal) => $"Sparse(Heads = {heads}, Mode = SparseMode.{mode}, LocalAttnCtx = {ctx}, BlockSize = {block}, Causal = {(mode == "All" ? causal : "true")})"),   // AG0039: only All has a non-causal form
        Gen.Select(Gen.Int[1, 512], Gen.Int[0, 3], AnyBool, Gen.Int[0, 2], Gen.Int[1, 8], AnyBool,
            (window, back, causal, forward, dim, xpos) => $"Local(WindowSize = {window}, LookBackward = {back}, Causal = {causal}, LookForward = {(causal == "true" ? 0 : forward)}, Dim = {dim * 8}, UseXpos = {xpos}{(xpos == "true" && window == 1 ? ", XposScaleBase = 512f" : "")})"),   // AG0035: xpos needs a scale base at window 1
        Gen.Select(Gen.OneOf("MaskMod = nameof(M), ", "ScoreMod = nameof(F), ", "MaskMod = nameof(M), ScoreMod = nameof(F), ", ""), Gen.Int[1, 256],
            (mods, block) => $"Flex({mods}BlockSize = {block * 16})"));

    /// <summary>"modifiers keyword|type-parameters-and-base-list": the class shapes the rules must sort out.</summary>
    private static Gen<string> Shape() => Gen.Frequency(
        (8, Gen.Const("partial class|")),
        (1, Gen.Const("class|")),
        (1, Gen.Const("static partial class|")),
        (1, Gen.Const("abstract partial class|")),
        (1, Gen.Const("sealed partial class|")),
        (1, Gen.Const("file partial class|")),
        (1, Gen.Const("partial record|")),
        (1, Gen.Const("partial struct|")),
        (1, Gen.Const("partial class|<T>")),
        (1, Gen.Const("partial class| : B")),
        (1, Gen.Const("partial class| : IDisposable")),
        (1, Gen.Const("partial class| : AttentionGen.Modules.FlashAttentionModule")),
        (1, Gen.Const("partial class| : AttentionGen.Modules.FlexAttentionModule")));

    /// <summary>Where the class lives: a file namespace, a block namespace, nested in a type, or the global namespace.</summary>
    private static Gen<string> Wrapper() => Gen.OneOf("#", "namespace App;\n#", "namespace AttentionGen.Layers { # }", "namespace App.@event { # }", "partial class Outer { # }", "partial class Outer<T> { # }");

    /// <summary>User members, some named like what the generator writes; Dispose always, for the IDisposable shape.</summary>
    private static Gen<string> Members() => Gen.Select(
        Gen.OneOf("", "int CreateConfig;", "public float Forward;", "void Attend() { }", "static int CudaHeader;", "class AttentionGenMaskMod { }", "int HasScoreMod;", "public bool HasClosedFormPlan2 => true;"),
        Gen.OneOf("", "int Unrelated;"),
        (a, b) => $"{a} {b} public void Dispose() {{ }}");

    /// <summary>A mod method from a small grammar: modifiers, signature and body, each right or wrong.</summary>
    private static Gen<string> Mod(string name, bool mask)
    {
        Gen<string> attribute = Gen.OneOf(mask ? "[MaskMod]" : "[ScoreMod]", mask ? "[ScoreMod]" : "[MaskMod]", "", mask ? "[MaskMod, Obsolete(\"x\", true)]" : "[ScoreMod, Obsolete(\"x\")]");
        Gen<string> modifiers = Gen.Frequency((6, Gen.Const("static")), (1, Gen.Const("")), (1, Gen.Const("static extern")), (1, Gen.Const("public static partial")));
        Gen<string> signature = mask
            ? Gen.OneOf("bool|(int b, int h, int q, int kv)", "bool|(int b, int h, int q)", "bool|(int b, int h, int q, int kv, ReadOnlySpan<int> docs)", "bool|<T>(int b, int h, int q, int kv)", "bool|(int b, int h, int q, in int kv)", "int|(int b, int h, int q, int kv)")
            : Gen.OneOf("float|(float s, int b, int h, int q, int kv)", "float|(float s, int b, int h, int q, int kv, ReadOnlySpan<float> slopes)", "double|(float s, int b, int h, int q, int kv)", "float|(float s, int b, int h, int q, int kv, ReadOnlySpan<int> docs)");
        // Without a mod, a plain method of the name keeps nameof(M) / nameof(F) compiling.
        string plain = mask ? $"static bool {name}(int x) => x > 0;" : $"static float {name}(float x) => x;";
        return Gen.Frequency((1, Gen.Const(plain)), (6, Gen.Select(attribute, modifiers, signature, Expression(0), (a, m, s, e) =>
        {
            string[] parts = s.Split('|');
            string body = " => " + Body(parts[0], parts[1], e) + ";";
            string declaration = $"{m} {parts[0]} {name}{parts[1]}";
            return m switch
            {
                "static extern" => $"{a} {declaration};",
                "public static partial" => $"{a} {declaration}; {declaration}{body}",
                _ => $"{a} {declaration}{body}",
            };
        })));
    }

    /// <summary>A body of the declared return type over the declared parameters, so only the AG rules can object to it.</summary>
    private static string Body(string returnType, string parameters, string condition)
    {
        string captured = parameters.Contains("docs", StringComparison.Ordinal) ? " && docs[q] == docs[kv]" : parameters.Contains("slopes", StringComparison.Ordinal) ? " && slopes[h] > 0f" : string.Empty;
        string test = parameters.Contains("int kv", StringComparison.Ordinal) ? condition + captured : "q >= 0";
        return returnType switch
        {
            "bool" => test,
            "int" => $"({test}) ? 1 : 0",
            "double" => $"({test}) ? s : 0.0",
            _ => $"({test}) ? s : s * 0.5f",
        };
    }

    /// <summary>Boolean expressions over q and kv: comparisons, logic, calls the translator knows, and a few it does not.</summary>
    private static Gen<string> Expression(int depth)
    {
        Gen<string> leaf = Gen.OneOf("kv <= q", "q - kv < 8", "Math.Abs(q - kv) <= 4", "q % 3 == kv % 2", "kv >= 0", "true", "new object() != null", "q.ToString().Length > 0", "(b + h) % 2 == 0");
        return depth >= 2 ? leaf : Gen.Frequency(
            (3, leaf),
            (1, Gen.Select(Expression(depth + 1), Expression(depth + 1), Gen.OneOf("&&", "||"), (l, r, op) => $"({l} {op} {r})")),
            (1, Expression(depth + 1).Select(e => $"!({e})")));
    }

    private static Gen<string> Attribute(string name, params (string Name, Gen<string> Value)[] arguments)
    {
        Gen<string[]> chosen = Gen.Const(Array.Empty<string>());
        foreach ((string argument, Gen<string> value) in arguments)
        {
            chosen = chosen.SelectMany(list => Gen.Frequency((2, Gen.Const(string.Empty)), (1, value.Select(v => $"{argument} = {v}")))
                .Select(item => item.Length == 0 ? list : [.. list, item]));
        }

        return chosen.Select(list => list.Length == 0 ? name : $"{name}({string.Join(", ", list)})");
    }
}
