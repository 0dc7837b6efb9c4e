using System.Collections.Generic;
using AttentionGen.Modules;

namespace AttentionGen.Tests.KernelBuilder;

// Layers of each kind whose GPU kernels carry the layer's constants, declared as an app does, for the kernel step's scan.

/// <summary>Plain windows of whole tiles: read in place, or gathered when a call passes a mask or bias.</summary>
[Local(WindowSize = 128, LookBackward = 1, LookForward = 1, UseRotaryPosEmb = false)]
public partial class PlainWindowLayer
{
}

/// <summary>The Sparse Transformer's causal band of 32 keys: a closed-form plan.</summary>
[Sparse(Heads = 4, Mode = SparseMode.Local, LocalAttnCtx = 32)]
public partial class BandSparseLayer
{
}

/// <summary>Dilated attention of head dim 64 with torchscale's relative-position bias.</summary>
[Dilated(DModel = 256, NumHeads = 4, SegmentSize = 64, DilationRate = 2, UseRelPosBias = true)]
public partial class BiasedDilatedLayer
{
}

/// <summary>Run-time decoder configs named to the build, by a property and by a method.</summary>
public static class DeclaredDecoderConfigs
{
    /// <summary>Gemma-style: a window and a soft-cap, head dim 64.</summary>
    public static readonly DecoderAttentionConfig Windowed =
        new(hiddenSize: 256, numAttentionHeads: 4, numKeyValueHeads: 2, slidingWindow: 256, attnLogitSoftcapping: 50);

    /// <summary>Plain causal, head dim 128: every kernel it loads is in the package store.</summary>
    public static readonly DecoderAttentionConfig Causal = new(hiddenSize: 512, numAttentionHeads: 4, numKeyValueHeads: 4);

    /// <summary>Named by a property.</summary>
    [AppKernelConfigs]
    public static IEnumerable<DecoderAttentionConfig> Configs => [Windowed];

    /// <summary>Named by a method.</summary>
    [AppKernelConfigs]
    public static IReadOnlyList<DecoderAttentionConfig> MoreConfigs() => [Causal];
}
