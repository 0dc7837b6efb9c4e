using System;

namespace AttentionGen.Variants;

/// <summary>
/// A learned per-head bias indexed by T5 buckets of the relative position (key − query) of two tokens, as
/// torchscale's <c>RelativePositionBias</c>: half the buckets per direction when bidirectional, exact buckets
/// for short distances and logarithmic ones up to <see cref="MaxDistance"/>.
/// </summary>
public sealed class RelativePositionBias
{
    private readonly float[] _weights;

    /// <summary>Wraps <paramref name="weights"/> [NumBuckets, Heads] (the embedding table, as PyTorch stores it).</summary>
    public RelativePositionBias(Tensor weights, bool bidirectional, int maxDistance = 128)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ShapeCheck.Rank(weights, 2, "[numBuckets, heads]", nameof(weights));
        ShapeCheck.FloatingPoint(weights, nameof(weights));
        ArgumentOutOfRangeException.ThrowIfLessThan(weights.Size(0), bidirectional ? 4 : 2, nameof(weights));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(maxDistance, weights.Size(0) / (bidirectional ? 4 : 2), nameof(maxDistance));
        NumBuckets = weights.Size(0);
        Heads = weights.Size(1);
        Bidirectional = bidirectional;
        MaxDistance = maxDistance;
        _weights = weights.ToFloatArray();
    }

    /// <summary>Rows of the table (32 in torchscale).</summary>
    public int NumBuckets { get; }

    /// <summary>Columns of the table.</summary>
    public int Heads { get; }

    /// <summary>False for causal attention: keys ahead of the query share one bucket.</summary>
    public bool Bidirectional { get; }

    /// <summary>Distances from here on share the last bucket.</summary>
    public int MaxDistance { get; }

    /// <summary>A copy of the table [NumBuckets, Heads] in float32, as <c>relative_attention_bias.weight</c> holds it.</summary>
    public Tensor Weights => Tensor.FromArray((float[])_weights.Clone(), NumBuckets, Heads);

    /// <summary>Random weights N(0, 1) as <c>nn.Embedding</c> draws them, reproducible from <paramref name="seed"/>.</summary>
    public static RelativePositionBias Random(int seed, int heads, bool bidirectional, int numBuckets = 32, int maxDistance = 128)
    {
        // Named here: the table's shape would otherwise be refused as the inner tensor's "shape".
        ArgumentOutOfRangeException.ThrowIfNegative(heads);
        ArgumentOutOfRangeException.ThrowIfLessThan(numBuckets, bidirectional ? 4 : 2);   // the constructor's bound, under this name
        return new(Tensor.RandomNormal(new Random(seed), DType.Float32, numBuckets, heads), bidirectional, maxDistance);
    }

    /// <summary>
    /// [H, 2·rows − 1]: the bias of head h between kept rows d = j − i apart whose tokens are <paramref name="stride"/> · d
    /// apart (a <see cref="Execution.DistanceBias"/> table: the CPU and GPU kernels read it).
    /// </summary>
    internal float[] DistanceTable(int stride, int rows)
    {
        int span = (2 * rows) - 1;
        var table = new float[Heads * span];
        for (int h = 0; h < Heads; h++)
        {
            for (int d = -(rows - 1); d < rows; d++)
            {
                table[(h * span) + d + rows - 1] = Bias(h, stride * d);
            }
        }

        return table;
    }

    /// <summary>The bias of <paramref name="head"/> for a key <paramref name="relative"/> positions after the query.</summary>
    public float Bias(int head, int relative)
    {
        if ((uint)head >= (uint)Heads)
        {
            throw new ArgumentOutOfRangeException(nameof(head), head, $"head must be in [0, {Heads}) (the table's columns); got {head}.");
        }

        return _weights[(Bucket(relative) * Heads) + head];
    }

    /// <summary>
    /// T5's bucket of a relative position. The logarithmic part is computed in float32 and truncated, as PyTorch
    /// does, so boundary distances land in the same bucket as the reference's.
    /// </summary>
    public int Bucket(int relative)
    {
        // In long: -int.MinValue does not fit an int (it wrapped to itself, a key 2³¹ before the query read as after it).
        int buckets = NumBuckets, bucket = 0;
        long n = -(long)relative;
        if (Bidirectional)
        {
            buckets /= 2;
            bucket += n < 0 ? buckets : 0;
            n = Math.Abs(n);
        }
        else
        {
            n = Math.Max(n, 0);
        }

        int maxExact = buckets / 2;
        if (n < maxExact)
        {
            return bucket + (int)n;
        }

        float logRatio = MathF.Log((float)n / maxExact) / (float)Math.Log((double)MaxDistance / maxExact);
        int large = maxExact + (int)(logRatio * (buckets - maxExact));
        return bucket + Math.Min(large, buckets - 1);
    }
}
