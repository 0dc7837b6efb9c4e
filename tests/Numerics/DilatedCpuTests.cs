using System;
using AttentionGen.Reference;
using AttentionGen.Variants;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>Dilated attention (SPEC §2) on the CPU against the float64 definition.</summary>
public class DilatedCpuTests
{
    public static TheoryData<int, int, int[], int[], bool> Cases => new()
    {
        // heads, N, w[], r[], causal: tails shorter than a segment, w > N, H not a multiple of r, r > H.
        { 4, 203, [64], [2], false },
        { 4, 203, [64], [2], true },
        { 5, 150, [32, 64, 128], [1, 2, 4], false },
        { 5, 150, [32, 64, 128], [1, 2, 4], true },
        { 3, 77, [256], [4], false },
        { 2, 90, [16], [4], false },
        { 8, 131, [24, 48], [3, 6], true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesDefinition(int heads, int n, int[] segments, int[] rates, bool causal)
    {
        (Random random, string seed) = FreshRandom.For(heads, n, segments.Length, causal);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 2, heads, n, 24);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 2, heads, n, 24);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 2, heads, n, 20);

        AttentionOutput result = DilatedAttention.Forward(q, k, v, segments, rates, causal);

        ReferenceResult expected = ReferenceVariants.Dilated(q, k, v, segments, rates, causal);
        Compare.Output(result.Output.ToFloatArray(), expected.Output, 2e-5, $"H={heads} N={n} ({seed})");
        Compare.Lse(result.Lse.ToFloatArray(), expected.Lse, 1e-5, $"H={heads} N={n}");
    }

    [Fact]
    public void RelativePositionBiasFollowsTheOriginalPositions()
    {
        (Random random, string seed) = FreshRandom.For(11);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 4, 300, 16);
        var bias = RelativePositionBias.Random(random.Next(), heads: 4, bidirectional: true);

        AttentionOutput result = DilatedAttention.Forward(q, q, q, [64, 256], [2, 4], relPosBias: bias);

        ReferenceResult expected = ReferenceVariants.Dilated(q, q, q, [64, 256], [2, 4], causal: false, (h, rel) => bias.Bias(h, rel));
        Compare.Output(result.Output.ToFloatArray(), expected.Output, 2e-5, seed);
    }

    [Fact]
    public void T5BucketsMatchTheReferenceFormula()
    {
        var bidirectional = RelativePositionBias.Random(1, heads: 1, bidirectional: true);
        var causal = RelativePositionBias.Random(1, heads: 1, bidirectional: false);

        // Values of torchscale's _relative_position_bucket (32 buckets, max distance 128).
        Assert.Equal(0, bidirectional.Bucket(0));
        Assert.Equal(3, bidirectional.Bucket(-3));
        Assert.Equal(19, bidirectional.Bucket(3));
        Assert.Equal(8, bidirectional.Bucket(-8));
        Assert.Equal(10, bidirectional.Bucket(-16));
        Assert.Equal(15, bidirectional.Bucket(-1000));
        Assert.Equal(31, bidirectional.Bucket(1000));
        Assert.Equal(0, causal.Bucket(5));
        Assert.Equal(15, causal.Bucket(-15));
        Assert.Equal(16, causal.Bucket(-16));
        Assert.Equal(31, causal.Bucket(-5000));
    }

    [Fact]
    public void PaddedTailKeysAreMasked()
    {
        // SPEC §2 quirk: torchscale pads the tail segment with zero keys that take part with score 0. We mask them:
        // the last row of a 2-row tail attends to exactly two keys.
        Tensor q = Tensor.RandomNormal(new Random(3), DType.Float32, 1, 1, 10, 8);
        Tensor v = Tensor.RandomNormal(new Random(4), DType.Float32, 1, 1, 10, 8);

        AttentionOutput result = DilatedAttention.Forward(q, q, v, segmentSize: 8, dilationRate: 1);

        double s88 = Dot(q, 8, 8), s89 = Dot(q, 8, 9);
        double p8 = 1 / (1 + Math.Exp(s89 - s88));
        double expected = (p8 * v[0, 0, 8, 0]) + ((1 - p8) * v[0, 0, 9, 0]);
        Assert.Equal(expected, result.Output[0, 0, 8, 0], 5);
    }

    [Fact]
    public void RejectsASegmentItsRateDoesNotDivide()
    {
        Tensor q = Tensor.Zeros(DType.Float32, 1, 2, 16, 8);
        var e = Assert.Throws<ArgumentException>(() => DilatedAttention.Forward(q, q, q, [12, 16], [5, 4]));
        Assert.Equal("segmentSizes", e.ParamName);
        Assert.Contains("12", e.Message, StringComparison.Ordinal);
        Assert.Contains("5", e.Message, StringComparison.Ordinal);
    }

    private static double Dot(Tensor q, int i, int j)
    {
        double sum = 0;
        for (int d = 0; d < 8; d++)
        {
            sum += (double)q[0, 0, i, d] * q[0, 0, j, d];
        }

        return sum / Math.Sqrt(8);
    }
}

/// <summary>The branch geometry the CPU gathers by is the layout the GPU gather kernel receives.</summary>
public class GatherLayoutTests
{
    [Theory]
    [InlineData(16384, 16, 2048, 4)]
    [InlineData(150, 5, 64, 2)]
    [InlineData(77, 3, 256, 4)]
    public void DilatedLayoutIsTheBranchGeometry(int n, int heads, int w, int r)
    {
        var branch = AttentionGen.Execution.SegmentBranch.Dilated(1, heads, n, w, r);
        int segment = Math.Min(w, n);

        Assert.Equal(new AttentionGen.Cuda.SegmentLayout((n + segment - 1) / segment, (segment + r - 1) / r, segment, segment, r, (heads + r - 1) / r), branch.Layout);
    }

    [Theory]
    [InlineData(777, 13)]
    [InlineData(40, 64)]
    public void StridedLayoutIsOneClassPerSegment(int n, int stride)
    {
        var branch = AttentionGen.Execution.SegmentBranch.Strided(2, 3, n, stride);

        Assert.Equal(new AttentionGen.Cuda.SegmentLayout(Math.Min(stride, n), (n + stride - 1) / stride, 1, n, stride, int.MaxValue), branch.Layout);
        for (int c = 0; c < Math.Min(stride, n); c++)
        {
            Assert.Equal((n - c + stride - 1) / stride, branch.KeptRows(c, 2));
            Assert.Equal(c + stride, branch.Position(c, 2, 1));
        }
    }

    // A mixture on the GPU lets a branch that keeps every row write the whole result, and starts the others' rows at
    // O = 0 under LSE -inf: CoversEveryRow must never claim a row the layout skips.
    [Fact]
    public void CoversEveryRowMatchesTheKeptTokens()
    {
        int covering = 0;
        foreach (int n in new[] { 1, 77, 150, 256, 300 })
        {
            foreach (int heads in new[] { 1, 3, 4 })
            {
                foreach ((int w, int r) in new[] { (64, 1), (64, 2), (256, 1), (512, 1), (96, 3), (32, 4) })
                {
                    AttentionGen.Cuda.SegmentLayout dilated = AttentionGen.Execution.SegmentBranch.Dilated(1, heads, n, w, r).Layout;
                    Assert.Equal(KeepsEveryToken(dilated, n, heads), dilated.CoversEveryRow(n, heads));
                    covering += dilated.CoversEveryRow(n, heads) ? 1 : 0;
                }

                foreach (int stride in new[] { 1, 13, 64, 400 })
                {
                    AttentionGen.Cuda.SegmentLayout strided = AttentionGen.Execution.SegmentBranch.Strided(1, heads, n, stride).Layout;
                    Assert.Equal(KeepsEveryToken(strided, n, heads), strided.CoversEveryRow(n, heads));
                    covering += strided.CoversEveryRow(n, heads) ? 1 : 0;
                }
            }
        }

        Assert.True(covering > 0);
    }

    private static bool KeepsEveryToken(AttentionGen.Cuda.SegmentLayout layout, int n, int heads)
    {
        for (int h = 0; h < heads; h++)
        {
            var kept = new bool[n];
            int offset = h / layout.Group;
            for (int s = 0; s < layout.Segments; s++)
            {
                for (int place = offset; place < layout.SegmentCap; place += layout.Rate)
                {
                    long token = ((long)s * layout.SegmentStride) + place;
                    if (token < n)
                    {
                        kept[token] = true;
                    }
                }
            }

            if (Array.IndexOf(kept, false) >= 0)
            {
                return false;
            }
        }

        return true;
    }
}
