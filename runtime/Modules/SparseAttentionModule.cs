using System;
using System.Collections.Generic;
using System.Linq;
using AttentionGen.Variants;

namespace AttentionGen.Modules;

/// <summary>
/// The module behind <c>[Sparse]</c> (SPEC §3): the Sparse Transformer's attention over q, k, v [B, T, Embd]
/// with the pattern the attribute declared. No projections, as the reference's <c>SparseAttention</c>.
/// </summary>
/// <remarks>The module holds no tensors; after Dispose, <see cref="Forward"/> throws <see cref="ObjectDisposedException"/>, as every module does.</remarks>
public partial class SparseAttentionModule : DisposableModule
{
    /// <summary>Checks the constants; a failure names the argument and the value.</summary>
    public SparseAttentionModule(int heads, SparseMode mode, int localAttnCtx = 0, int blockSize = 32, bool causal = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(heads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockSize);
        SparseAttention.CheckMode(mode, localAttnCtx);

        Heads = heads;
        Mode = mode;
        LocalAttnCtx = localAttnCtx;
        BlockSize = blockSize;
        Causal = causal;
    }

    /// <summary>Heads split from the last dimension.</summary>
    public int Heads { get; }

    /// <summary>The pattern.</summary>
    public SparseMode Mode { get; }

    /// <summary>Band width (Local) or stride (Strided).</summary>
    public int LocalAttnCtx { get; }

    /// <summary>The block-sparse tile; only speed depends on it.</summary>
    public int BlockSize { get; }

    /// <summary>Mode All is causal unless false.</summary>
    public bool Causal { get; }

    /// <summary>q, k, v [B, T, Embd] → [B, T, Embd].</summary>
    public Tensor Forward(Tensor q, Tensor k, Tensor v)
    {
        using Call call = BeginCall();
        return SparseAttention.Forward(q, k, v, Heads, Mode, LocalAttnCtx, BlockSize, Causal);
    }

    /// <summary>
    /// The modules this layer's GPU launches load at head dims <paramref name="headDims"/> (Embd / Heads is the input's):
    /// Local's band as a closed-form plan; All's plain (causal) forward; Strided's causal segmented forward and the LSE
    /// fill; the float32 conversion. Only the band carries a constant of the layer; the others are in the package store. The app's build
    /// compiles what is not (docs/prebuilt-kernels.md).
    /// </summary>
    internal IEnumerable<Cuda.KernelRequest> GpuKernels(IEnumerable<int> headDims)
    {
        ArgumentNullException.ThrowIfNull(headDims);
        var requests = new List<Cuda.KernelRequest> { new(Cuda.CudaConvert.Template, string.Empty) };
        foreach (int e in headDims.Distinct())
        {
            string header = Mode switch
            {
                SparseMode.Local => Cuda.CudaSpecialization.Band(e, LocalAttnCtx),
                SparseMode.All => Cuda.CudaSpecialization.FlashAttention(e, Causal),
                _ => Cuda.CudaSpecialization.FlashAttention(e, causal: true),
            };
            requests.AddRange(Cuda.FlashAttentionCuda.ForwardKernels(e, header));
        }

        if (Mode == SparseMode.Strided)
        {
            requests.Add(new Cuda.KernelRequest(Execution.CudaExecutor.SegmentsTemplate, string.Empty));
        }

        return requests;
    }
}
