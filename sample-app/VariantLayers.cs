namespace AttentionGen.SampleApp;

/// <summary>flex_attention's sliding window with a soft cap, both compiled in; the window becomes a closed-form plan.</summary>
[Flex(MaskMod = nameof(Window), ScoreMod = nameof(Softcap), BlockSize = 64)]
public partial class SlidingWindowLayer
{
    [MaskMod]
    internal static bool Window(int b, int h, int q, int kv) => kv <= q && q - kv < 128;

    [ScoreMod]
    internal static float Softcap(float score, int b, int h, int q, int kv) => 20f * System.MathF.Tanh(score / 20f);
}

/// <summary>The Sparse Transformer's strided pattern: every 16th earlier token.</summary>
[Sparse(Heads = 4, Mode = SparseMode.Strided, LocalAttnCtx = 16)]
public partial class StridedLayer
{
}

/// <summary>lucidrains' causal local attention with rotary and xpos, windows of 64 looking two back.</summary>
[Local(WindowSize = 64, Causal = true, LookBackward = 2, Dim = 64, UseXpos = true, Autopad = true)]
public partial class WindowedLayer
{
}
