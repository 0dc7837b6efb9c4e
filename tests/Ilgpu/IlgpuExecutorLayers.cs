using System.Runtime.CompilerServices;

// ILGPU's CPU accelerator launches kernels from its own dynamic assembly: the generated [Flex] mod structs below
// (internal) must be visible to it.
[assembly: InternalsVisibleTo("ILGPURuntime")]

namespace AttentionGen.Tests.Ilgpu;

/// <summary>A mask the generator cannot put in closed form (every tile evaluated per pair), with a score mod; row 4 sees no key.</summary>
[Flex(MaskMod = nameof(Mask), ScoreMod = nameof(Score), BlockSize = 16)]
public partial class IlgpuStripedLayer
{
    [MaskMod]
    internal static bool Mask(int b, int h, int q, int kv) => kv <= q && (q + kv) % 3 != 1 && q != 4;

    [ScoreMod]
    internal static float Score(float score, int b, int h, int q, int kv) => score - (0.125f * (q - kv)) + h;
}

/// <summary>A sliding window the generator puts in closed form (a <see cref="Cpu.ClosedFormPlan"/> is the mask).</summary>
[Flex(MaskMod = nameof(Window), BlockSize = 16)]
public partial class IlgpuWindowLayer
{
    [MaskMod]
    internal static bool Window(int b, int h, int q, int kv) => kv <= q && q - kv < 5;
}

/// <summary>A causal [FlashAttention] layer: its heads are a strided view of [B, N, H·E] and it asks for no LSE.</summary>
[FlashAttention(Dim = 32, Heads = 2, DimHead = 16, Causal = true, QBucket = 16, KBucket = 16)]
public partial class IlgpuCausalLayer
{
}

/// <summary>A [FlashAttention] cross-attention, reading a key-padding mask.</summary>
[FlashAttention(Dim = 24, Heads = 3, DimHead = 8)]
public partial class IlgpuCrossLayer
{
}
