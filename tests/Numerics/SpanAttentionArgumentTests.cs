using System;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>A bad argument to the span overloads is named, with what was expected and what came, and nothing is written.</summary>
public class SpanAttentionArgumentTests
{
    private const int B = 2, H = 4, N = 10, M = 12, E = 16;
    private const float Untouched = 12345f;

    public enum Damage
    {
        ShortQ,
        ShortK,
        ShortV,
        ShortOutput,
        WrongLse,
        WrongMask,
        NegativeLength,
        KvHeadsNotDividing,
        NegativeStride,
        StridesPastTheSpan,
        OutputOverQ,
        LseOverOutput,
        NaNScale,
        OutputRowsShared,
    }

    [Theory]
    [InlineData(Damage.ShortQ, "q", "needs at least 1280 elements; got 1279")]
    [InlineData(Damage.ShortK, "k", "needs at least 1536 elements; got 1535")]
    [InlineData(Damage.ShortV, "v", "needs at least 1536 elements; got 100")]
    [InlineData(Damage.ShortOutput, "output", "output [B, Hq, N, Ev] = [2, 4, 10, 16]")]
    [InlineData(Damage.WrongLse, "lse", "hold [B, Hq, N] = 80 elements; got 79")]
    [InlineData(Damage.WrongMask, "keyPaddingMask", "hold [B, M] = 24 elements; got 25")]
    [InlineData(Damage.NegativeLength, "shape", "shape.QueryLength must be >= 0; got -1")]
    [InlineData(Damage.KvHeadsNotDividing, "shape", "shape.KeyHeads (3) must divide shape.QueryHeads (4)")]
    [InlineData(Damage.NegativeStride, "shape", "shape.KeyStrides.Head must be >= 0; got -16")]
    [InlineData(Damage.StridesPastTheSpan, "q", "with strides (batch 800, head 160, row 16, 1) needs at least 1440 elements; got 1280")]
    [InlineData(Damage.OutputOverQ, "output", "output overlaps q")]
    [InlineData(Damage.LseOverOutput, "lse", "lse overlaps output")]
    [InlineData(Damage.NaNScale, "scale", "scale must be a finite number")]
    [InlineData(Damage.OutputRowsShared, "shape", "make output rows [B, Hq, N, Ev] = [2, 4, 10, 16] share elements: a stride of 8 steps over a span of 16")]
    public void IsNamedAndLeavesTheOutputAsItWas(Damage damage, string argument, string message)
    {
        var random = new Random(41);
        float[] q = SpanAttentionTests.Normal(random, B * H * N * E), k = SpanAttentionTests.Normal(random, B * H * M * E), v = SpanAttentionTests.Normal(random, B * H * M * E);
        float[] buffer = new float[(B * H * N * E) + (B * H * N)];
        Array.Fill(buffer, Untouched);
        var shape = new AttentionShape(B, H, N, M, E);
        Memory<float> output = buffer.AsMemory(0, B * H * N * E), lse = buffer.AsMemory(B * H * N * E);
        bool[] keep = new bool[B * M];
        float? scale = null;
        switch (damage)
        {
            case Damage.ShortQ: q = q[..^1]; break;
            case Damage.ShortK: k = k[..^1]; break;
            case Damage.ShortV: v = v[..100]; break;
            case Damage.ShortOutput: output = output[..^1]; break;
            case Damage.WrongLse: lse = lse[..^1]; break;
            case Damage.WrongMask: keep = new bool[(B * M) + 1]; break;
            case Damage.NegativeLength: shape = shape with { QueryLength = -1 }; break;
            case Damage.KvHeadsNotDividing: shape = shape with { KeyHeads = 3 }; break;
            case Damage.NegativeStride: shape = shape with { KeyStrides = new RowStrides(M * E * H, -E, E) }; break;
            case Damage.StridesPastTheSpan: shape = shape with { QueryStrides = new RowStrides(800, 160, E) }; break;
            case Damage.OutputOverQ: q = buffer; break;
            case Damage.LseOverOutput: lse = buffer.AsMemory(B * H * N * (E - 1), B * H * N); break;
            case Damage.NaNScale: scale = float.NaN; break;
            case Damage.OutputRowsShared: shape = shape with { OutputStrides = new RowStrides(H * N * E, N * E, E / 2) }; break;
        }

        var e = Assert.ThrowsAny<ArgumentException>(() => Attention.ScaledDotProduct(q, k, v, output.Span, shape, causal: true, keep, lse.Span, scale));

        Assert.Equal(argument, e.ParamName);
        Assert.Contains(message, e.Message);
        Assert.All(buffer, x => Assert.Equal(Untouched, x));
    }

    [Fact]
    public void EmptyOptionalSpansMeanNotWantedAndAnEmptyProblemWritesNothing()
    {
        float[] output = [Untouched];
        Attention.ScaledDotProduct(ReadOnlySpan<float>.Empty, ReadOnlySpan<float>.Empty, ReadOnlySpan<float>.Empty, output, new AttentionShape(0, 2, 5, 5, 8));

        Assert.Equal(Untouched, output[0]);
    }
}
