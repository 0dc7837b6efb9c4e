using System;
using System.Globalization;
using System.Linq;
using System.Text;
using AttentionGen.CompileTime.Rules;
using AttentionGen.Variants;

namespace AttentionGen.Modules;

/// <summary>
/// The constants of a <c>[Dilated]</c> module (SPEC §2), checked on construction. The branch arrays are held by value:
/// the getters hand out copies (so a checked config cannot be edited past its checks) and equality compares their items.
/// </summary>
public sealed record DilatedConfig
{
    private readonly int[] _segmentSizes;
    private readonly int[] _dilationRates;

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

        if (!ConfigLimits.DropoutInRange(dropout))
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
        _segmentSizes = (int[])segmentSizes.Clone();
        _dilationRates = (int[])dilationRates.Clone();
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

    /// <summary>w of each branch (a copy).</summary>
    public int[] SegmentSizes => (int[])_segmentSizes.Clone();

    /// <summary>r of each branch (a copy).</summary>
    public int[] DilationRates => (int[])_dilationRates.Clone();

    // The held arrays, for the module's forward (which only reads them): no copy per call.
    internal int[] HeldSegmentSizes => _segmentSizes;

    internal int[] HeldDilationRates => _dilationRates;

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

    /// <summary>Equal when every constant is, the branches item by item (a record compares arrays by reference).</summary>
    public bool Equals(DilatedConfig? other) =>
        other is not null
        && (DModel, NumHeads, Dropout, Causal, UseXpos, UseRelPosBias, Distributed) == (other.DModel, other.NumHeads, other.Dropout, other.Causal, other.UseXpos, other.UseRelPosBias, other.Distributed)
        && _segmentSizes.AsSpan().SequenceEqual(other._segmentSizes)
        && _dilationRates.AsSpan().SequenceEqual(other._dilationRates);

    // The record's ToString would print the branch arrays as System.Int32[]: their items instead.
    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append(CultureInfo.InvariantCulture, $"DModel = {DModel}, NumHeads = {NumHeads}, HeadDim = {HeadDim}, ")
            .Append(CultureInfo.InvariantCulture, $"SegmentSizes = [{string.Join(", ", _segmentSizes)}], DilationRates = [{string.Join(", ", _dilationRates)}], ")
            .Append(CultureInfo.InvariantCulture, $"Dropout = {Dropout}, Causal = {Causal}, UseXpos = {UseXpos}, UseRelPosBias = {UseRelPosBias}, Distributed = {Distributed}");
        return true;
    }

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var hash = default(HashCode);
        hash.Add((DModel, NumHeads, Dropout, Causal, UseXpos, UseRelPosBias, Distributed));
        foreach ((int w, int r) in _segmentSizes.Zip(_dilationRates))
        {
            hash.Add((w, r));
        }

        return hash.ToHashCode();
    }
}
