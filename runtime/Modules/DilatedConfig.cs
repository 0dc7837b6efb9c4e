using System;
using AttentionGen.Variants;

namespace AttentionGen.Modules;

/// <summary>The constants of a <c>[Dilated]</c> module (SPEC §2), checked on construction.</summary>
public sealed record DilatedConfig
{
    /// <summary>Checks every value; a failure names the argument, the allowed range and the value.</summary>
    public DilatedConfig(int dModel, int numHeads, int[] segmentSizes, int[] dilationRates, float dropout, bool causal, bool useXpos, bool useRelPosBias, bool distributed)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dModel);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(numHeads);
        ArgumentNullException.ThrowIfNull(segmentSizes);
        ArgumentNullException.ThrowIfNull(dilationRates);
        if (dModel % numHeads != 0)
        {
            throw new ArgumentException($"dModel ({dModel}) must be a multiple of numHeads ({numHeads}).", nameof(dModel));
        }

        // XPOS rotates pairs (2i, 2i + 1) of a head; torchscale fails on an odd head dim (its scales cover ceil(E / 2) pairs).
        if (useXpos && dModel / numHeads % 2 != 0)
        {
            throw new ArgumentException($"useXpos needs an even head dim dModel / numHeads; got {dModel} / {numHeads} = {dModel / numHeads}.", nameof(useXpos));
        }

        // Written as "not inside" so that NaN, which fails every comparison, is refused too (as analyzer AG0011 does).
        if (!(dropout >= 0f && dropout < 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(dropout), dropout, "dropout must be in [0, 1).");
        }

        DilatedAttention.CheckRates(segmentSizes, dilationRates);
        if (distributed && useRelPosBias)
        {
            throw new ArgumentException("A distributed layer takes no relative-position bias yet (useRelPosBias true with distributed true; analyzer AG0024).", nameof(useRelPosBias));
        }

        DModel = dModel;
        NumHeads = numHeads;
        SegmentSizes = (int[])segmentSizes.Clone();
        DilationRates = (int[])dilationRates.Clone();
        Dropout = dropout;
        Causal = causal;
        UseXpos = useXpos;
        UseRelPosBias = useRelPosBias;
        Distributed = distributed;
    }

    /// <summary>Model width.</summary>
    public int DModel { get; }

    /// <summary>Heads.</summary>
    public int NumHeads { get; }

    /// <summary>Width of one head.</summary>
    public int HeadDim => DModel / NumHeads;

    /// <summary>w of each branch.</summary>
    public int[] SegmentSizes { get; }

    /// <summary>r of each branch.</summary>
    public int[] DilationRates { get; }

    /// <summary>Attention dropout in training; inference (all this library runs) ignores it.</summary>
    public float Dropout { get; }

    /// <summary>Causal inside each segment, in original order.</summary>
    public bool Causal { get; }

    /// <summary>XPOS on q and k over the original positions.</summary>
    public bool UseXpos { get; }

    /// <summary>A learned T5 bucketed bias by the original tokens' relative position.</summary>
    public bool UseRelPosBias { get; }

    /// <summary>Sequence-parallel over GPUs; one device computes the same result.</summary>
    public bool Distributed { get; }
}
