using System;
using System.Linq;
using System.Threading.Tasks;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>
/// The span overloads of Attention.ScaledDotProduct: the tensor overload's bits on the same values, whatever the layout
/// the strides describe (head-major, token-major, a fused qkv buffer), for float32 and bf16, GQA, E ≠ Ev, causal, a key mask.
/// </summary>
public class SpanAttentionTests
{
    public static TheoryData<int, int, int, int, int, int, int, bool, bool, bool> Cases() => new()
    {
        // caseId, B, Hq, Hkv, N, M, E (Ev = E or E + 8), causal, key mask, token-major
        { 0, 1, 1, 1, 1, 1, 16, false, false, false },
        { 1, 2, 4, 2, 97, 131, 40, true, false, false },
        { 2, 2, 6, 3, 173, 259, 72, false, true, true },
        { 3, 1, 8, 1, 300, 77, 64, true, true, true },
        { 4, 3, 2, 2, 5, 400, 24, false, true, false },
        { 5, 1, 4, 4, 211, 211, 33, true, false, true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Float32EqualsTheTensorOverloadBitForBit(int caseId, int b, int hq, int hkv, int n, int m, int e, bool causal, bool masked, bool tokenMajor)
    {
        (Random random, string seed) = FreshRandom.For(9100 + caseId);
        int ev = caseId % 2 == 0 ? e : e + 8;
        float[] q = Normal(random, b * hq * n * e), k = Normal(random, b * hkv * m * e), v = Normal(random, b * hkv * m * ev);
        bool[]? keep = masked ? Keep(random, b * m) : null;
        AttentionShape shape = Shape(b, hq, hkv, n, m, e, ev, tokenMajor);

        using AttentionOutput expected = Attention.ScaledDotProduct(
            View(Tensor.FromArray(q, Dims(b, hq, n, e, tokenMajor)), hq, tokenMajor),
            View(Tensor.FromArray(k, Dims(b, hkv, m, e, tokenMajor)), hkv, tokenMajor),
            View(Tensor.FromArray(v, Dims(b, hkv, m, ev, tokenMajor)), hkv, tokenMajor),
            causal,
            keep is null ? null : Tensor.FromArray(keep, b, m));
        float[] output = new float[b * hq * n * ev], lse = new float[b * hq * n];
        Attention.ScaledDotProduct(q, k, v, output, shape, causal, keep, lse);

        Assert.True(Bits(expected.Output.ToFloatArray()).SequenceEqual(Bits(HeadMajor(output, b, hq, n, ev, tokenMajor))), seed);
        Assert.True(Bits(expected.Lse.ToFloatArray()).SequenceEqual(Bits(lse)), seed);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void BFloat16EqualsTheTensorOverloadBitForBit(int caseId, int b, int hq, int hkv, int n, int m, int e, bool causal, bool masked, bool tokenMajor)
    {
        (Random random, string seed) = FreshRandom.For(9200 + caseId);
        BFloat16[] q = ToBf16(Normal(random, b * hq * n * e)), k = ToBf16(Normal(random, b * hkv * m * e)), v = ToBf16(Normal(random, b * hkv * m * e));
        bool[]? keep = masked ? Keep(random, b * m) : null;

        using AttentionOutput expected = Attention.ScaledDotProduct(
            View(Tensor.FromArray(q, Dims(b, hq, n, e, tokenMajor)), hq, tokenMajor),
            View(Tensor.FromArray(k, Dims(b, hkv, m, e, tokenMajor)), hkv, tokenMajor),
            View(Tensor.FromArray(v, Dims(b, hkv, m, e, tokenMajor)), hkv, tokenMajor),
            causal,
            keep is null ? null : Tensor.FromArray(keep, b, m));
        var output = new BFloat16[b * hq * n * e];
        float[] lse = new float[b * hq * n];
        Attention.ScaledDotProduct(q, k, v, output, Shape(b, hq, hkv, n, m, e, e, tokenMajor), causal, keep, lse);

        float[] actual = HeadMajor(output.Select(x => (float)x).ToArray(), b, hq, n, e, tokenMajor);
        Assert.True(Bits(expected.Output.ToFloatArray()).SequenceEqual(Bits(actual)), seed);
        Assert.True(Bits(expected.Lse.ToFloatArray()).SequenceEqual(Bits(lse)), seed);
    }

    [Fact]
    public void AFusedQkvBufferIsReadInPlace()
    {
        // One [B, N, 3·H·E] projection output: q, k and v are token-major views H·E apart, read without a copy.
        const int b = 2, h = 3, n = 50, e = 32, width = 3 * h * e;
        var random = new Random(31);
        float[] qkv = Normal(random, b * n * width);
        Tensor fused = Tensor.FromArray(qkv, b, n, width);
        using AttentionOutput expected = Attention.ScaledDotProduct(
            fused.Narrow(2, 0, h * e).SplitHeads(h), fused.Narrow(2, h * e, h * e).SplitHeads(h), fused.Narrow(2, 2 * h * e, h * e).SplitHeads(h), causal: true);

        RowStrides tokens = RowStrides.TokenMajor(n, e, width);
        var shape = new AttentionShape(b, h, n, n, e) { QueryStrides = tokens, KeyStrides = tokens, ValueStrides = tokens };
        float[] output = new float[b * h * n * e];
        Attention.ScaledDotProduct(qkv, qkv.AsSpan(h * e), qkv.AsSpan(2 * h * e), output, shape, causal: true);

        Assert.True(Bits(expected.Output.ToFloatArray()).SequenceEqual(Bits(output)));
    }

    [Fact]
    public void CallsFromSeveralThreadsAtOnceGiveEachTheirOwnResult()
    {
        // One call holds the worker team; the others run beside it (on the thread pool) and must not mix their operands.
        const int b = 1, h = 4, n = 120, e = 32, calls = 6;
        var random = new Random(37);
        float[][] inputs = Enumerable.Range(0, calls).Select(_ => Normal(random, b * h * n * e)).ToArray();
        var shape = new AttentionShape(b, h, n, n, e);
        float[][] alone = inputs.Select(x => Run(x, shape)).ToArray();

        float[][] together = new float[calls][];
        Parallel.For(0, calls, new ParallelOptions { MaxDegreeOfParallelism = calls }, i => together[i] = Run(inputs[i], shape));

        for (int i = 0; i < calls; i++)
        {
            Assert.True(Bits(alone[i]).SequenceEqual(Bits(together[i])), $"call {i}");
        }

        static float[] Run(float[] x, AttentionShape shape)
        {
            float[] output = new float[x.Length];
            Attention.ScaledDotProduct(x, x, x, output, shape, causal: true);
            return output;
        }
    }

    internal static AttentionShape Shape(int b, int hq, int hkv, int n, int m, int e, int ev, bool tokenMajor) =>
        tokenMajor
            ? new AttentionShape(b, hq, hkv, n, m, e, ev)
            {
                QueryStrides = RowStrides.TokenMajor(n, e, (long)hq * e),
                KeyStrides = RowStrides.TokenMajor(m, e, (long)hkv * e),
                ValueStrides = RowStrides.TokenMajor(m, ev, (long)hkv * ev),
                OutputStrides = RowStrides.TokenMajor(n, ev, (long)hq * ev),
            }
            : new AttentionShape(b, hq, hkv, n, m, e, ev);

    internal static float[] Normal(Random random, int count) => Enumerable.Range(0, count).Select(_ => (float)random.NextGaussian()).ToArray();

    private static bool[] Keep(Random random, int count) => Enumerable.Range(0, count).Select(_ => random.NextDouble() < 0.7).ToArray();

    private static BFloat16[] ToBf16(float[] values) => values.Select(x => (BFloat16)x).ToArray();

    private static int[] Dims(int b, int h, int rows, int width, bool tokenMajor) => tokenMajor ? [b, rows, h * width] : [b, h, rows, width];

    private static Tensor View(Tensor t, int heads, bool tokenMajor) => tokenMajor ? t.SplitHeads(heads) : t;

    private static int[] Bits(float[] values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();

    // A token-major [B, N, H·Ev] output laid out as [B, H, N, Ev], as the tensor overload returns it.
    private static float[] HeadMajor(float[] output, int b, int h, int n, int ev, bool tokenMajor) =>
        tokenMajor ? Tensor.FromArray(output, b, n, h * ev).SplitHeads(h).Contiguous().ToFloatArray() : output;
}
