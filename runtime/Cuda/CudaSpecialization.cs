using System.Linq;
using AttentionGen.CompileTime.Kernels;

namespace AttentionGen.Cuda;

/// <summary>
/// The specialization header prepended to a kernel template. The generator writes the same text for each
/// attributed class (a test holds the two to each other); the functional API builds it here.
/// </summary>
public static class CudaSpecialization
{
    /// <summary>The header of the FlashAttention kernel for head dimension <paramref name="headDim"/>.</summary>
    public static string FlashAttention(int headDim, bool causal) =>
        (uint)headDim <= 256 ? Headers[(headDim * 2) + (causal ? 1 : 0)] : Header(headDim, causal);

    // Built once per head dim: the launch path asks for it on every call.
    private static readonly string[] Headers = Enumerable.Range(0, 514).Select(i => Header(i / 2, i % 2 == 1)).ToArray();

    private static string Header(int headDim, bool causal) => KernelDefines.HeadDim(headDim) + KernelDefines.Causal(causal);

    /// <summary>
    /// The header for a launch whose batches (or problems), heads, rows and keys number at most <paramref name="largestCount"/>.
    /// Translated mods convert provably small ints to float on the FP32 pipe (ag_i2f), which is exact while every index is
    /// below 2^21 (<see cref="CompileTime.Translate.GpuIndices.Limit"/>, shared with the translator); a larger launch gets exact
    /// conversions instead, in a module of its own.
    /// </summary>
    public static string ForIndices(string header, long largestCount) =>
        largestCount <= CompileTime.Translate.GpuIndices.Limit || !header.Contains("ag_i2f", System.StringComparison.Ordinal) ? header : KernelDefines.ExactIntToFloat + header;

    /// <summary>A causal band of <paramref name="width"/> keys (i − width &lt; j ≤ i) as a closed-form plan: one diagonal box.</summary>
    public static string Band(int headDim, int width) =>
        BandHeaders.GetOrAdd((headDim, width), static key => KernelDefines.HeadDim(key.HeadDim) + Boxes(Cpu.DiagonalBox.Band(key.Width)));

    // Built once per (head dim, width): sparse local attention asks for its header on every call.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(int HeadDim, int Width), string> BandHeaders = new();

    /// <summary>
    /// LocalAttention's windows of <paramref name="size"/> tokens (a multiple of 128), query window w reading key windows
    /// w − <paramref name="back"/> .. w + <paramref name="forward"/>: the kernels' BlockInfo narrows each query block's
    /// key tiles to that range.
    /// </summary>
    public static string Windows(int headDim, int size, int back, int forward) =>
        WindowHeaders.GetOrAdd((headDim, size, back, forward), static key =>
            FlashAttention(key.HeadDim, causal: false) + KernelDefines.Windows(key.Size, key.Back, key.Forward));

    // Built once per configuration, as the band's: a local attention layer asks on every call.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(int HeadDim, int Size, int Back, int Forward), string> WindowHeaders = new();

    /// <summary>A closed-form plan for the kernel: the boxes as <c>AG_BOXES</c> (the generator writes the same for [Flex] classes).</summary>
    public static string Boxes(params Cpu.DiagonalBox[] boxes) =>
        KernelDefines.Boxes(boxes.Select(b => (b.DiagonalLow, b.DiagonalHigh, b.KeyLow, b.KeyHigh, b.QueryLow, b.QueryHigh)));
}
