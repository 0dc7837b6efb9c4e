using System;
using System.Linq;
using AttentionGen.Modules;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Modules;

/// <summary>Forward and Linear.Apply over caller memory: the tensor overloads' bits, and bad arguments named before anything is written.</summary>
public class SpanForwardTests
{
    private const float Untouched = 4321f;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ModuleForwardEqualsTheTensorOverloadBitForBit(bool withContextAndMask)
    {
        (Random random, string seed) = FreshRandom.For(withContextAndMask ? 9301 : 9302);
        FlashAttentionModule module = withContextAndMask ? new WidthFromConstructorAttention(40, seed: 5) : new TinyCausalAttention(seed: 6);
        int dim = module.Config.Dim;
        const int b = 2, n = 37, m = 53;
        float[] x = SpanAttentionTests.Normal(random, b * n * dim), context = SpanAttentionTests.Normal(random, b * m * dim);
        bool[] keep = Enumerable.Range(0, b * m).Select(_ => random.NextDouble() < 0.7).ToArray();

        Tensor expected = withContextAndMask
            ? module.Forward(Tensor.FromArray(x, b, n, dim), Tensor.FromArray(context, b, m, dim), Tensor.FromArray(keep, b, m))
            : module.Forward(Tensor.FromArray(x, b, n, dim));
        float[] output = new float[b * n * dim];
        if (withContextAndMask)
        {
            module.Forward(x, b, output, context, keep);
        }
        else
        {
            module.Forward(x, b, output);
        }

        Assert.True(Bits(expected.ToFloatArray()).SequenceEqual(Bits(output)), seed);
    }

    [Theory]
    [InlineData("x", 1, "x must hold [B, tokens, Dim] with B = 2 and Dim = 24: a multiple of 48 elements; got 95")]
    [InlineData("output", 2, "output must hold [B, N, Dim] = [2, 2, 24] = 96 elements; got 95")]
    [InlineData("mask", 3, "mask must be empty (none) or hold [B, M] = [2, 3] = 6 elements; got 5")]
    [InlineData("output", 4, "output overlaps x")]
    [InlineData("context", 5, "context must hold [B, tokens, Dim]")]
    [InlineData("batch", 6, "batch must be positive for an x of 96 elements")]
    public void ModuleForwardNamesABadArgumentAndWritesNothing(string argument, int damage, string message)
    {
        var module = new TinyCausalAttention(seed: 7);
        float[] buffer = new float[96 + 96];
        Array.Fill(buffer, Untouched);
        Memory<float> x = SpanAttentionTests.Normal(new Random(3), damage == 1 ? 95 : 96);
        float[] context = new float[damage == 5 ? 70 : 144];
        Memory<float> output = buffer.AsMemory(96, damage == 2 ? 95 : 96);
        bool[] keep = new bool[damage == 3 ? 5 : 6];
        if (damage == 4)
        {
            x = buffer.AsMemory(0, 96);   // the output's own memory: the projections would overwrite x as they read it
            output = buffer.AsMemory(0, 96);
        }

        var e = Assert.ThrowsAny<ArgumentException>(() => module.Forward(x.Span, damage == 6 ? 0 : 2, output.Span, context, keep));

        Assert.Equal(argument, e.ParamName);
        Assert.Contains(message, e.Message);
        Assert.All(buffer, v => Assert.Equal(Untouched, v));
    }

    [Theory]
    [InlineData(0, 5)]
    [InlineData(2, 0)]
    public void AnEmptyBatchOrSequenceWritesNothingAndThrowsNothing(int batch, int tokens)
    {
        var module = new TinyCausalAttention(seed: 9);
        float[] x = new float[batch * tokens * 24], output = new float[batch * tokens * 24];

        module.Forward(x, batch, output);

        Assert.Empty(output);
    }

    [Fact]
    public void LinearApplyEqualsTheTensorOverloadAndNamesBadLengths()
    {
        var random = new Random(11);
        var linear = new Linear(Tensor.RandomNormal(random, DType.Float32, 30, 20), 20, 30, "w", Tensor.RandomNormal(random, DType.Float32, 30));
        float[] x = SpanAttentionTests.Normal(random, 101 * 20), y = new float[101 * 30];

        linear.Apply(x, y);

        Assert.True(Bits(linear.Apply(Tensor.FromArray(x, 101, 20)).ToFloatArray()).SequenceEqual(Bits(y)));
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => linear.Apply(x.AsSpan(1), y)).ParamName);
        var e = Assert.Throws<ArgumentException>(() => linear.Apply(x, y.AsSpan(1)));
        Assert.Equal("y", e.ParamName);
        Assert.Contains("y must hold 101 rows of 30 out features = 3030 elements (x has 101 rows); got 3029", e.Message);
    }

    private static int[] Bits(float[] values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();
}
