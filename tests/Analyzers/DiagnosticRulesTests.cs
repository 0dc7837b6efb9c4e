using System.Linq;
using System.Threading.Tasks;
using AttentionGen.Tests.Verifiers;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Testing;
using Xunit;

namespace AttentionGen.Tests.Analyzers;

/// <summary>
/// Every diagnostic: a source that triggers it and a near miss that does not, on Roslyn's analyzer test framework.
/// The markup <c>{|AG0008:...|}</c> is the exact span; a source gets exactly the diagnostics marked in it.
/// </summary>
public class DiagnosticRulesTests
{
    public static TheoryData<string, string, string> Cases => new()
    {
        // Class shape.
        { "AG0001", "[FlashAttention(Dim = 64)] class {|AG0001:C|} { }", "[FlashAttention(Dim = 64)] partial class C { }" },
        { "AG0002", "class O { [FlashAttention(Dim = 64)] partial class {|AG0002:C|} { } }", "partial class O { } [FlashAttention(Dim = 64)] partial class C { }" },
        { "AG0002", "[FlashAttention(Dim = 64)] partial class {|AG0002:C|}<T> { }", "[FlashAttention(Dim = 64)] partial class C { }" },
        { "AG0003", "[FlashAttention(Dim = 64), Sparse(Heads = 2)] partial class {|AG0003:C|} { }", "[Sparse(Heads = 2)] partial class C { }" },

        // FlashAttention.
        { "AG0004", "[FlashAttention(Dim = 64, {|AG0004:Heads = 0|})] partial class C { }", "[FlashAttention(Dim = 64, Heads = 1)] partial class C { }" },
        { "AG0004", "[FlashAttention(Dim = 64, {|AG0004:DimHead = -64|})] partial class C { }", "[FlashAttention(Dim = 64, DimHead = 64)] partial class C { }" },
        { "AG0004", "[FlashAttention(Dim = 64, {|AG0004:KBucket = 0|})] partial class C { }", "[FlashAttention(Dim = 64, KBucket = 16)] partial class C { }" },
        { "AG0005", "[FlashAttention({|AG0005:Dim = -8|})] partial class C { }", "[FlashAttention(Dim = 0)] partial class C { }" },
        { "AG0006", "[FlashAttention(Dim = 64, {|AG0006:QBucket = 100|})] partial class C { }", "[FlashAttention(Dim = 64, QBucket = 112)] partial class C { }" },
        { "AG0007", "[FlashAttention(Dim = 64, {|AG0007:DimHead = 512|})] partial class C { }", "[FlashAttention(Dim = 64, DimHead = 256)] partial class C { }" },
        { "AG0034", "[FlashAttention(Dim = 8, {|AG0034:Heads = 16777216|})] partial class C { }", "[FlashAttention(Dim = 8, Heads = 16777215)] partial class C { }" },

        // Dilated.
        { "AG0008", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 3, {|AG0008:SegmentSize = 2048|})] partial class C { }", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 3, SegmentSize = 2046)] partial class C { }" },
        { "AG0008", "[Dilated(DModel = 64, NumHeads = 4, {|AG0008:SegmentSizes = new[] { 2048, 4096 }|}, DilationRates = new[] { 1, 3 })] partial class C { }", "[Dilated(DModel = 64, NumHeads = 4, SegmentSizes = new[] { 2048, 4095 }, DilationRates = new[] { 1, 3 })] partial class C { }" },
        { "AG0009", "[Dilated({|AG0009:DModel = 66|}, NumHeads = 4, DilationRate = 2, SegmentSize = 16)] partial class C { }", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16)] partial class C { }" },
        { "AG0031", "[Dilated(DModel = 36, NumHeads = 4, {|AG0031:UseXpos = true|}, DilationRate = 2, SegmentSize = 16)] partial class C { }", "[Dilated(DModel = 32, NumHeads = 4, UseXpos = true, DilationRate = 2, SegmentSize = 16)] partial class C { }" },
        { "AG0010", "[Dilated(DModel = 64, NumHeads = 4, {|AG0010:SegmentSizes = new[] { 16, 32 }|}, DilationRates = new[] { 1 })] partial class C { }", "[Dilated(DModel = 64, NumHeads = 4, SegmentSizes = new[] { 16, 32 }, DilationRates = new[] { 1, 2 })] partial class C { }" },
        { "AG0010", "[Dilated(DModel = 64, NumHeads = 4, {|AG0010:SegmentSizes = new int[0]|}, DilationRates = new int[0])] partial class C { }", "[Dilated(DModel = 64, NumHeads = 4, SegmentSizes = new[] { 8 }, DilationRates = new[] { 2 })] partial class C { }" },
        { "AG0004", "[Dilated(DModel = 64, NumHeads = 4, SegmentSizes = new[] { 16 }, {|AG0004:DilationRates = new[] { 0 }|})] partial class C { }", "[Dilated(DModel = 64, NumHeads = 4, SegmentSizes = new[] { 16 }, DilationRates = new[] { 4 })] partial class C { }" },
        { "AG0011", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16, {|AG0011:Dropout = 1f|})] partial class C { }", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16, Dropout = 0.99f)] partial class C { }" },
        { "AG0011", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16, {|AG0011:Dropout = float.NaN|})] partial class C { }", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16, Dropout = 0.5f)] partial class C { }" },
        { "AG0004", "[Dilated(DModel = 64, NumHeads = 4, SegmentSizes = new[] { 16, 32 }, {|AG0004:DilationRates = new[] { 2, -4 }|})] partial class C { }", "[Dilated(DModel = 64, NumHeads = 4, SegmentSizes = new[] { 16, 32 }, DilationRates = new[] { 2, 4 })] partial class C { }" },
        { "AG0004", "[{|AG0004:Dilated(DModel = 64, NumHeads = 4, SegmentSize = 16)|}] partial class C { }", "[Dilated(DModel = 64, NumHeads = 4, SegmentSize = 16, DilationRate = 2)] partial class C { }" },

        // Sparse.
        { "AG0012", "[Sparse(Heads = 2, Mode = SparseMode.Strided, {|AG0012:LocalAttnCtx = 0|})] partial class C { }", "[Sparse(Heads = 2, Mode = SparseMode.Strided, LocalAttnCtx = 128)] partial class C { }" },
        { "AG0012", "[Sparse(Heads = 2, Mode = SparseMode.Local, {|AG0012:LocalAttnCtx = -3|})] partial class C { }", "[Sparse(Heads = 2, Mode = SparseMode.All, LocalAttnCtx = -3)] partial class C { }" },
        { "AG0039", "[Sparse(Heads = 2, Mode = SparseMode.Strided, LocalAttnCtx = 4, {|AG0039:Causal = false|})] partial class C { }", "[Sparse(Heads = 2, Mode = SparseMode.All, Causal = false)] partial class C { }" },
        { "AG0004", "[Sparse({|AG0004:Heads = 0|})] partial class C { }", "[Sparse(Heads = 8)] partial class C { }" },

        // Local.
        { "AG0013", "[Local(WindowSize = 8, Causal = true, {|AG0013:LookForward = 1|})] partial class C { }", "[Local(WindowSize = 8, Causal = true, LookForward = 0)] partial class C { }" },
        { "AG0014", "[Local(WindowSize = 8, Dim = 32, UseRotaryPosEmb = false, {|AG0014:UseXpos = true|})] partial class C { }", "[Local(WindowSize = 8, Dim = 32, UseXpos = true)] partial class C { }" },
        { "AG0015", "[Local(WindowSize = 8, {|AG0015:UseRotaryPosEmb = true|})] partial class C { }", "[Local(WindowSize = 8, Dim = 32, UseRotaryPosEmb = true)] partial class C { }" },
        { "AG0031", "[Local(WindowSize = 8, {|AG0031:Dim = 31|})] partial class C { }", "[Local(WindowSize = 8, Dim = 31, UseRotaryPosEmb = false)] partial class C { }" },
        { "AG0004", "[Local({|AG0004:WindowSize = 0|})] partial class C { }", "[Local(WindowSize = 1)] partial class C { }" },
        { "AG0005", "[Local(WindowSize = 8, {|AG0005:LookBackward = -1|})] partial class C { }", "[Local(WindowSize = 8, LookBackward = 0)] partial class C { }" },
        { "AG0034", "[Local(WindowSize = 65536, {|AG0034:LookBackward = 65536|})] partial class C { }", "[Local(WindowSize = 65536, LookBackward = 32765)] partial class C { }" },
        { "AG0034", "[Local({|AG0034:WindowSize = 1073741824|})] partial class C { }", "[Local(WindowSize = 715827882)] partial class C { }" },
        { "AG0034", "[Local(WindowSize = 2, LookBackward = 0, {|AG0034:LookForward = int.MaxValue|})] partial class C { }", "[Local(WindowSize = 2, LookBackward = 0, LookForward = 1073741822)] partial class C { }" },
        { "AG0035", "[Local(WindowSize = 1, Dim = 64, {|AG0035:UseXpos = true|})] partial class C { }", "[Local(WindowSize = 1, Dim = 64, UseXpos = true, XposScaleBase = 512f)] partial class C { }" },

        // Flex and its mods.
        { "AG0016", "[Flex({|AG0016:MaskMod = \"Missing\"|})] partial class C { }", "[Flex(MaskMod = nameof(M))] partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) => kv <= q; }" },
        { "AG0016", "[Flex({|AG0016:ScoreMod = nameof(F)|})] partial class C { static float F(float s, int b, int h, int q, int kv) => s; }", "[Flex(ScoreMod = nameof(F))] partial class C { [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s; }" },
        { "AG0004", "[Flex({|AG0004:BlockSize = 0|})] partial class C { }", "[Flex(BlockSize = 64)] partial class C { }" },
        { "AG0017", "partial class C { [MaskMod] static bool {|AG0017:M|}(int b, int h, int q) => true; }", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) => true; }" },
        { "AG0017", "partial class C { [ScoreMod] static double {|AG0017:F|}(float s, int b, int h, int q, int kv) => s; }", "partial class C { [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s; }" },
        { "AG0018", "partial class C { [MaskMod] bool {|AG0018:M|}(int b, int h, int q, int kv) => true; }", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) => true; }" },
        { "AG0019", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) { {|AG0019:for (int i = 0; i < q; i++) { }|} return true; } }", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) { if (q < kv) { return false; } return true; } }" },
        { "AG0019", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) { var o = {|AG0019:new object()|}; return true; } }", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) { var d = q - kv; return d >= 0; } }" },
        { "AG0019", "partial class C { [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s + (float){|AG0019:Math.Log(q + 1, 2)|}; }", "partial class C { [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s + (float)Math.Log2(q + 1); }" },
        { "AG0019", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) => {|AG0019:Math.BigMul(q, kv)|} > 0; }", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) => Math.Abs(q - kv) < 4; }" },
        { "AG0017", "partial class C { [MaskMod] static bool {|AG0017:M|}(int b, int h, int q, int kv, ReadOnlySpan<int> a, ReadOnlySpan<int> c) => a[q] == c[kv]; }", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv, ReadOnlySpan<int> docs) => docs[q] == docs[kv]; }" },
        { "AG0019", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv, ReadOnlySpan<int> docs) => q < {|AG0019:docs.Length|}; }", "partial class C { [ScoreMod] static float F(float s, int b, int h, int q, int kv, ReadOnlySpan<float> slopes) => s - slopes[h] * Math.Abs(q - kv); }" },
        { "AG0019", "partial class C { static int s_window = 4; [MaskMod] static bool M(int b, int h, int q, int kv) => q - kv < {|AG0019:s_window|}; }", "partial class C { static readonly int s_window = 4; [MaskMod] static bool M(int b, int h, int q, int kv) => q - kv < s_window; }" },
        { "AG0019", "partial class C { [System.Runtime.InteropServices.UnmanagedCallersOnly][MaskMod] static bool {|AG0019:M|}(int b, int h, int q, int kv) => true; }", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) => true; }" },
        // The module binds a mod to a delegate (a [Conditional] method cannot be one) and mutes the diagnostic ids of the
        // mods it calls (an id that is not an identifier no #pragma can name).
        { "AG0019", "partial class C { [System.Diagnostics.Conditional(\"X\")][MaskMod] static void {|AG0017:{|AG0019:M|}|}(int b, int h, int q, int kv) { } }", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) => true; }" },
        { "AG0019", "partial class C { [System.Obsolete(\"old\", DiagnosticId = \"not an id\")][MaskMod] static bool {|AG0019:M|}(int b, int h, int q, int kv) => true; }", "partial class C { [System.Obsolete(\"old\", DiagnosticId = \"APP001\")][System.Diagnostics.CodeAnalysis.Experimental(\"APP002\")][MaskMod] static bool M(int b, int h, int q, int kv) => true; }" },
        { "AG0019", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) => {|AG0019:q / 0|} > 1; }", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) => q / 2 > 1; }" },
        { "AG0019", "partial class C { const int Z = 0; [MaskMod] static bool M(int b, int h, int q, int kv) => {|AG0019:q % Z|} == kv; }", "partial class C { [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s / 0f; }" },
        // An explicit checked context throws on overflow on the CPU; the GPU wraps. Where nothing in it can overflow (float
        // arithmetic), or an unchecked context inside it holds the arithmetic, it changes nothing and is not reported.
        { "AG0019", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) => {|AG0019:checked|}(q * kv) > 0; }", "partial class C { [ScoreMod] static float F(float s, int b, int h, int q, int kv) => checked(s * 2f) + unchecked(q * kv); }" },
        { "AG0019", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) { {|AG0019:checked|} { int d = q - kv; return d > 0; } } }", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) => checked(unchecked(q + kv) > 0); }" },
        { "AG0019", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) { int d = 0; {|AG0019:d = q - kv|}; return d > 0; } }", "partial class C { const int W = 8; [MaskMod] static bool M(int b, int h, int q, int kv) { int d = q - kv; return d > 0 && d < W; } }" },
        { "AG0019", "partial class C { [ScoreMod] static float F(float s, int b, int h, int q, int kv) => {|AG0019:Bias(q)|} == {|AG0019:null|} ? s : 0f; static string Bias(int q) => \"\"; }", "partial class C { static readonly float[] Slopes = { 0.5f, 0.25f }; [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s * Slopes[h % 2] + MathF.Tanh(s / 30f) + Bias(q, kv); static float Bias(int q, int kv) => q >= kv ? 1f : 0f; }" },
        // A static readonly field or array the GPU copies from its initializer must keep that value: no static constructor or method may change it.
        { "AG0019", "partial class C { static readonly float Scale = 1f; static C() { Scale = 2f; } [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s * {|AG0019:Scale|}; }", "partial class C { static readonly float Scale = 1f; static float Read() => Scale; [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s * Scale; }" },
        { "AG0019", "partial class C { static readonly float[] Table = { 1f, 2f }; static C() { Table[0] = 5f; } [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s + {|AG0019:Table|}[0]; }", "partial class C { static readonly float[] Table = { 1f, 2f }; static float Read() => Table[0]; [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s + Table[0]; }" },
        { "AG0019", "partial class C { static readonly int[] Table = { 1, 2 }; static void Bump() { Table[1]++; } [MaskMod] static bool M(int b, int h, int q, int kv) => q - kv < {|AG0019:Table|}[1]; }", "partial class C { static readonly int[] Table = { 1, 2 }; static int Read() => Table[1]; [MaskMod] static bool M(int b, int h, int q, int kv) => q - kv < Table[1]; }" },
        { "AG0019", "partial class C { static readonly int[] Table = { 1, 2 }; static void Set(ref int x) { } static void Bump() { Set(ref Table[0]); } [MaskMod] static bool M(int b, int h, int q, int kv) => q - kv < {|AG0019:Table|}[0]; }", "partial class C { static readonly int[] Table = { 1, 2 }; static void Get(in int x) { } static void Read() { Get(in Table[0]); } [MaskMod] static bool M(int b, int h, int q, int kv) => q - kv < Table[0]; }" },
        // An array handed to code that may change its elements counts as written (Array.Reverse in the static constructor
        // left the CPU reading { 4, 3, 2, 1 } and the GPU { 1, 2, 3, 4 }); indexing it, its length and a foreach do not.
        { "AG0019", "partial class C { static readonly int[] T = { 1, 2, 3, 4 }; static C() { System.Array.Reverse(T); } [MaskMod] static bool M(int b, int h, int q, int kv) => {|AG0019:T|}[q & 3] >= kv; }", "partial class C { static readonly int[] T = { 1, 2, 3, 4 }; static int Count() => T.Length; static int Sum() { int s = 0; foreach (int x in T) { s += x; } return s; } [MaskMod] static bool M(int b, int h, int q, int kv) => T[q & 3] >= kv; }" },
        { "AG0019", "partial class C { static readonly int[] T = { 1, 2 }; static void Clear() { T.AsSpan().Fill(0); } [MaskMod] static bool M(int b, int h, int q, int kv) => {|AG0019:T|}[q & 1] >= kv; }", "partial class C { static readonly int[] T = { 1, 2 }; static int First() { int[] t = { 5 }; return t[0] + T[0]; } [MaskMod] static bool M(int b, int h, int q, int kv) => T[q & 1] >= kv; }" },
        { "AG0019", "partial class C { static readonly int[] T = { 1, 2 }; static int[] Alias() => T; [MaskMod] static bool M(int b, int h, int q, int kv) => {|AG0019:T|}[q & 1] >= kv; }", "partial class C { static readonly int[] T = { 1, 2 }; static int Alias() => T[1]; [MaskMod] static bool M(int b, int h, int q, int kv) => T[q & 1] >= kv; }" },
        // A helper's body is checked where it is: a partial helper's in its implementation part; an extern one has none.
        { "AG0019", "partial class C { private static partial int P(int x); private static partial int P(int x) { {|AG0019:for (int i = 0; i < x; i++) { }|} return x; } [MaskMod] static bool M(int b, int h, int q, int kv) => P(q) >= kv; }", "partial class C { private static partial int P(int x); private static partial int P(int x) => x + 1; [MaskMod] static bool M(int b, int h, int q, int kv) => P(q) >= kv; }" },
        { "AG0019", "partial class C { [System.Runtime.InteropServices.DllImport(\"native\")] static extern int H(int x); [MaskMod] static bool M(int b, int h, int q, int kv) => {|AG0019:H(q)|} >= kv; }", "partial class C { static int H(int x) => x; [MaskMod] static bool M(int b, int h, int q, int kv) => H(q) >= kv; }" },
        { "AG0019", "partial class C { [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s + Helper(q); static float Helper(int q) { {|AG0019:while (q > 0) { }|} return 0f; } }", "partial class C { [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s + Helper(q); static float Helper(int q) => q * 0.5f; }" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task TriggersAtTheOffendingSyntax(string id, string triggering, string nearMiss)
    {
        _ = nearMiss;
        Assert.Contains("{|" + id + ":", triggering);

        await AttentionAnalyzerTest.VerifyAsync(triggering);

        DiagnosticDescriptor descriptor = TestProject.Analyzers.SelectMany(a => a.SupportedDiagnostics).First(d => d.Id == id);
        Assert.EndsWith($"/blob/main/docs/diagnostics/{id}.md", descriptor.HelpLinkUri);
    }

    /// <summary>No diagnostic at all, and no compiler error.</summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public async Task NearMissIsClean(string id, string triggering, string nearMiss)
    {
        _ = (id, triggering);

        await AttentionAnalyzerTest.VerifyAsync(nearMiss);
    }

    [Fact]
    public async Task MessagesNameTheArgumentAndTheValues()
    {
        await AttentionAnalyzerTest.VerifyAsync(
            "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 3, {|#0:SegmentSize = 2048|})] partial class C { }",
            new DiagnosticResult("AG0008", DiagnosticSeverity.Error).WithLocation(0).WithMessage("SegmentSize = 2048 is not divisible by its dilation rate 3; try 2049"));
    }

    // The reference runs UseXpos without rotary (it then only allows a per-call windowSize): a warning, not an error,
    // so the layer still builds.
    [Fact]
    public async Task XposWithoutRotaryIsAWarning()
    {
        await AttentionAnalyzerTest.VerifyAsync(
            "[Local(WindowSize = 8, Dim = 32, UseRotaryPosEmb = false, {|#0:UseXpos = true|})] partial class C { }",
            new DiagnosticResult("AG0014", DiagnosticSeverity.Warning).WithLocation(0)
                .WithMessage("UseXpos scales the rotary embedding, but UseRotaryPosEmb is false: it only allows a per-call windowSize (as in the reference)"));
    }

    // Without Dim the same layer got AG0015 too, on the same token, saying to set Dim: rotary is off, so Dim would not help.
    [Fact]
    public async Task XposWithRotaryOffAndNoDimIsOnlyTheXposWarning()
    {
        await AttentionAnalyzerTest.VerifyAsync(
            "[Local(WindowSize = 8, UseRotaryPosEmb = false, {|#0:UseXpos = true|})] partial class C { }",
            new DiagnosticResult("AG0014", DiagnosticSeverity.Warning).WithLocation(0));
    }

    // The argument is written nameof(M), not "M": the message names the method, not a string the code never wrote.
    [Fact]
    public async Task AnAmbiguousModNameSaysHowManyMarkedMethodsShareIt()
    {
        await AttentionAnalyzerTest.VerifyAsync(
            "[Flex({|#0:MaskMod = nameof(M)|})] partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) => kv <= q; " +
            "[MaskMod] static bool M(int b, int h, int q, int kv, ReadOnlySpan<int> d) => d[q] == d[kv]; }",
            new DiagnosticResult("AG0032", DiagnosticSeverity.Error).WithLocation(0)
                .WithMessage("MaskMod names 'M', and 'C' has 2 methods of that name marked [MaskMod]; a mod is named by its name alone, so keep one [MaskMod] method of that name"));
    }

    // LookForward's -1 means unset, so "must not be negative" alone would contradict the default.
    [Fact]
    public async Task ANegativeLookForwardNamesTheUnsetValue()
    {
        await AttentionAnalyzerTest.VerifyAsync(
            "[Local(WindowSize = 8, {|#0:LookForward = -2|})] partial class C { }",
            new DiagnosticResult("AG0005", DiagnosticSeverity.Error).WithLocation(0).WithMessage("LookForward (other than -1, unset) must not be negative, but is -2"));
    }

    [Fact]
    public async Task AnInnerWidthThatWrapsInAnIntIsAnErrorBesideTheHeadDimWarning()
    {
        // 65536 · 65536 wrapped to 0: only AG0007 was reported and the module's Forward returned zeros.
        await AttentionAnalyzerTest.VerifyAsync(
            "[FlashAttention(Dim = 8, Heads = 65536, {|#0:DimHead = 65536|})] partial class C { }",
            new DiagnosticResult("AG0007", DiagnosticSeverity.Warning).WithLocation(0),
            new DiagnosticResult("AG0034", DiagnosticSeverity.Error).WithLocation(0)
                .WithMessage("2 · Heads · DimHead (to_kv's width) = 8589934592 exceeds int.MaxValue, the largest size the module can index; make DimHead smaller"));
    }

    [Fact]
    public async Task BucketRoundingAtIntMaxValueDoesNotOverflowInTheMessage()
    {
        await AttentionAnalyzerTest.VerifyAsync(
            "[FlashAttention(Dim = 64, {|#0:QBucket = int.MaxValue|})] partial class C { }",
            new DiagnosticResult("AG0006", DiagnosticSeverity.Warning).WithLocation(0)
                .WithMessage("QBucket = 2147483647 is not a multiple of 16, the row tile of the GPU kernel; the GPU kernel rounds it up to 2147483648"));
    }

    [Theory]
    [InlineData("static class Sizes { public const int Rate = 3; } [Dilated(DModel = 64, NumHeads = 4, DilationRate = Sizes.Rate, {|AG0008:SegmentSize = Sizes.Rate * 100 + 1|})] partial class C { }")]
    [InlineData("[Flex({|AG0016:MaskMod = nameof(Other)|})] partial class C { static bool Other(int b, int h, int q, int kv) => true; }")]
    public async Task ConstantsAndNameofAreReadAtCompileTime(string markup)
    {
        await AttentionAnalyzerTest.VerifyAsync(markup);
    }

    [Theory]
    [InlineData("[FlashAttention({|AG0005:@Dim = -1|})] partial class C { }")]
    [InlineData("[Flex({|AG0023:@BlockSize = 100|})] partial class C { }")]
    [InlineData("[Local(WindowSize = 8, Causal = true, {|AG0013:@LookForward = 1|})] partial class C { }")]
    [InlineData("[Flex({|AG0016:@MaskMod = nameof(Masks.M)|})] partial class C { } static class Masks { internal static bool M(int b, int h, int q, int kv) => true; }")]
    public async Task AnEscapedArgumentNameIsTheArgument(string markup)
    {
        // @Dim is Dim: matched by its Text ("@Dim"), the diagnostic fell back to the whole attribute.
        await AttentionAnalyzerTest.VerifyAsync(markup);
    }

    [Fact]
    public async Task InfoAndWarningsDoNotBlockTheBuild()
    {
        await AttentionAnalyzerTest.VerifyAsync(
            "[Local(WindowSize = 8, {|#0:UseRotaryPosEmb = true|})] partial class C { } [FlashAttention(Dim = 64, {|#1:QBucket = 100|})] partial class D { }",
            new DiagnosticResult("AG0015", DiagnosticSeverity.Info).WithLocation(0),
            new DiagnosticResult("AG0006", DiagnosticSeverity.Warning).WithLocation(1));
    }
}
