using System;
using System.Linq;
using AttentionGen.Variants;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>
/// [Local] against SPEC §4 read literally: a float64 definition written here apart from the shared reference (windows,
/// look-around, masks, rotate_half rotary with float32 angles), run on random configurations and fresh inputs, and
/// the quirks and refusals §4 pins, one by one.
/// </summary>
public class LocalSpecProbeTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(9)]
    [InlineData(10)]
    [InlineData(11)]
    [InlineData(12)]
    [InlineData(13)]
    [InlineData(14)]
    [InlineData(15)]
    public void RandomConfigurationsMatchTheSpec(int caseId)
    {
        (Random random, string seed) = FreshRandom.For("local spec probe", caseId);
        bool causal = random.Next(2) == 0;
        int lookBackward = random.Next(3);
        int lookForward = causal ? random.Next(2) - 1 : random.Next(4) - 1;
        int ws = random.Next(1, 6);
        int e = 2 * random.Next(1, 5);
        bool rotary = random.Next(2) == 0;
        bool xpos = rotary && random.Next(2) == 0;
        float xposBase = xpos && (ws == 1 || random.Next(2) == 0) ? (float)(random.NextDouble() * 4) + 1 : 0;
        bool autopad = random.Next(2) == 0;
        var config = new LocalConfig(
            ws, causal, lookBackward, lookForward, sharedQk: random.Next(3) == 0, dim: rotary ? e : 0, autopad: autopad,
            exactWindowsize: random.Next(2) == 0, scale: random.Next(2) == 0 ? 0 : (float)random.NextDouble(),
            useRotaryPosEmb: rotary, useXpos: xpos, xposScaleBase: xposBase);
        int? windowSize = xpos && !autopad && random.Next(2) == 0 ? ws + 1 : null;
        int callWs = windowSize ?? ws;
        int n = autopad ? random.Next(1, 5 * ws) : callWs * random.Next(1, 5);
        int[] lead = random.Next(2) == 0 ? [2] : [2, 3];
        int rows = lead.Aggregate(1, (a, b) => a * b);
        int ev = random.Next(1, 5);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, [.. lead, n, e]);
        Tensor k = config.SharedQk ? q : Tensor.RandomNormal(random, DType.Float32, [.. lead, n, e]);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, [.. lead, n, ev]);
        bool[]? keep = random.Next(2) == 0 ? Enumerable.Range(0, 2 * n).Select(_ => random.NextDouble() < 0.7).ToArray() : null;
        int span = config.SpanWindowsForTest() * callWs;
        int biasHeads = lead.Length == 2 ? 3 : 1;
        float[]? bias = random.Next(2) == 0 ? Enumerable.Range(0, biasHeads * callWs * span).Select(_ => (float)random.NextDouble()).ToArray() : null;

        Tensor result = LocalAttention.Forward(
            q, k, v, config, keep is null ? null : Tensor.FromArray(keep, 2, n), bias is null ? null : Tensor.FromArray(bias, biasHeads, callWs, span), windowSize);

        double[] expected = Definition(q.ToFloatArray(), k.ToFloatArray(), v.ToFloatArray(), rows, n, e, ev, config, keep, bias, biasHeads, windowSize);
        Assert.Equal([.. lead, n, ev], result.Shape.ToArray());
        Compare.Output(result.ToFloatArray(), expected, 3e-5, $"{config} n={n} ws={callWs} ({seed})");
    }

    [Theory]
    [InlineData(DType.Float32, 0)]
    [InlineData(DType.Float32, 1)]
    [InlineData(DType.Float32, 2)]
    [InlineData(DType.BFloat16, 3)]
    [InlineData(DType.Float16, 4)]
    public void WideWindowsAndHeadsMatchTheSpec(DType dtype, int caseId)
    {
        // Spans past the CPU kernel's largest key tile (256) and head dims its paired and vector paths take.
        (Random random, string seed) = FreshRandom.For("local wide probe", caseId);
        bool causal = random.Next(2) == 0;
        int ws = new[] { 64, 100, 130 }[random.Next(3)], e = new[] { 32, 64, 80 }[random.Next(3)];
        var config = new LocalConfig(
            ws, causal, lookBackward: random.Next(1, 3), sharedQk: random.Next(2) == 0, dim: e, autopad: true, exactWindowsize: random.Next(2) == 0,
            useXpos: random.Next(2) == 0);
        int n = random.Next(ws, 3 * ws), span = config.SpanWindowsForTest() * ws;
        Tensor q = Tensor.RandomNormal(random, dtype, 2, 2, n, e);
        Tensor k = config.SharedQk ? q : Tensor.RandomNormal(random, dtype, 2, 2, n, e);
        Tensor v = Tensor.RandomNormal(random, dtype, 2, 2, n, e);
        bool[] keep = Enumerable.Range(0, 2 * n).Select(_ => random.NextDouble() < 0.8).ToArray();
        float[] bias = Enumerable.Range(0, 2 * ws * span).Select(_ => (float)random.NextDouble()).ToArray();

        Tensor result = LocalAttention.Forward(q, k, v, config, Tensor.FromArray(keep, 2, n), Tensor.FromArray(bias, 2, ws, span));

        double[] expected = Definition(q.ToFloatArray(), k.ToFloatArray(), v.ToFloatArray(), 4, n, e, e, config, keep, bias, 2, null);
        Compare.Output(result.ToFloatArray(), expected, dtype == DType.Float32 ? 3e-5 : dtype == DType.Float16 ? 3e-3 : 2e-2, $"{config} n={n} ({seed})");
    }

    [Fact]
    public void AHeadDimOfZeroRunsWithAScaleOfOne()
    {
        // 1/sqrt(0) is no scale: as every other attention here (AttentionProblem.ResolveScale), E = 0 scales by 1 and
        // each query averages its allowed values. Before, the window path divided itself and blamed an unset "scale".
        (Random random, string seed) = FreshRandom.For("local zero head dim", 0);
        Tensor q = Tensor.Zeros(DType.Float32, 2, 8, 0);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 2, 8, 3);

        Tensor result = LocalAttention.Forward(q, q, v, new LocalConfig(4, causal: true));

        var scaledByOne = new LocalConfig(4, causal: true, scale: 1);
        Compare.Output(result.ToFloatArray(), Definition([], [], v.ToFloatArray(), 2, 8, 0, 3, scaledByOne, null, null, 1, null), 1e-6, seed);
    }

    [Fact]
    public void APerCallWindowThatMissesTheAutopaddedLengthIsNamed()
    {
        // N = 6 pads to 8 (the configured window 4); the override 3 does not divide it. Before, the message named q,
        // gave the padded 8 as its length and suggested Autopad, which is on.
        Tensor q = Tensor.Zeros(DType.Float32, 1, 6, 4);
        var config = new LocalConfig(4, autopad: true, dim: 4, useXpos: true);

        var e = Assert.Throws<ArgumentException>(() => LocalAttention.Forward(q, q, q, config, windowSize: 3));

        Assert.Equal("windowSize", e.ParamName);
        Assert.Contains("windowSize (3) must divide the sequence length N of q (6, autopadded to 8,", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("set Autopad", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void APerCallWindowThatMissesTheLengthIsNamed()
    {
        Tensor q = Tensor.Zeros(DType.Float32, 1, 8, 4);
        var e = Assert.Throws<ArgumentException>(() => LocalAttention.Forward(q, q, q, new LocalConfig(4, dim: 4, useXpos: true), windowSize: 3));

        Assert.Equal("windowSize", e.ParamName);
        Assert.Contains("windowSize (3) must divide the sequence length N of q (8)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SharedQkARowWhoseOnlyKeyIsItselfTakesItsOwnValue()
    {
        // Causal, LookBackward 0: token 0 of each window sees only itself; its score is -5e4, yet the only one.
        var config = new LocalConfig(3, causal: true, lookBackward: 0, sharedQk: true, useRotaryPosEmb: false);
        (Random random, _) = FreshRandom.For("shared self", 0);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 6, 4);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 1, 6, 2);

        Tensor result = LocalAttention.Forward(q, q, v, config);

        Assert.Equal(v[0, 0, 1], result[0, 0, 1], 6);
        Assert.Equal(v[0, 3, 0], result[0, 3, 0], 6);
    }

    [Fact]
    public void SharedQkWithANaNQueryWhoseOnlyKeyIsItselfTakesItsOwnValue()
    {
        // The reference's masked_fill replaces the self score, NaN or not: nothing NaN reaches that row's softmax.
        var config = new LocalConfig(2, causal: true, lookBackward: 0, sharedQk: true, useRotaryPosEmb: false);
        Tensor q = Tensor.FromArray([float.NaN, 1f, 2f, 3f, 4f, 5f, 6f, 7f], 1, 4, 2);
        Tensor v = Tensor.FromArray([1f, 2f, 3f, 4f, 5f, 6f, 7f, 8f], 1, 4, 2);

        Tensor result = LocalAttention.Forward(q, q, v, config);

        Assert.Equal(1f, result[0, 0, 0]);
        Assert.True(float.IsNaN(result[0, 1, 0]));   // token 1 sees token 0's NaN key
        Assert.False(float.IsNaN(result[0, 2, 0]));
    }

    [Fact]
    public void NaNsInMaskedSlotsDoNotReachTheRow()
    {
        // The reference fills masked scores (masked_fill), and its shared-qk self score, over whatever was there: a NaN key
        // or bias in a slot a query may not see, or on its own token under shared qk, leaves the row finite.
        var config = new LocalConfig(2, causal: true, sharedQk: true, useRotaryPosEmb: false);
        (Random random, _) = FreshRandom.For("local masked nan", 0);
        float[] qs = Tensor.RandomNormal(random, DType.Float32, 1, 6, 4).ToFloatArray();
        qs[5 * 4] = float.NaN;   // the last token: only itself sees it
        Tensor q = Tensor.FromArray(qs, 1, 6, 4);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 1, 6, 3);
        float[] bias = new float[2 * 4];
        bias[(0 * 4) + 3] = float.NaN;   // query 0 of a window, slot 3: a later token, causally masked
        bias[(1 * 4) + 3] = float.NaN;   // query 1, slot 3: its own token under shared qk

        float[] result = LocalAttention.Forward(q, q, v, config, attnBias: Tensor.FromArray(bias, 1, 2, 4)).ToFloatArray();

        Assert.All(result.Take(5 * 3), x => Assert.False(float.IsNaN(x)));
        Assert.True(float.IsNaN(result[5 * 3]));   // token 5's own query is NaN against tokens 2..4
    }

    [Fact]
    public void AFullyMaskedRowIsZero()
    {
        var config = new LocalConfig(2, lookBackward: 0, lookForward: 0, useRotaryPosEmb: false);
        (Random random, _) = FreshRandom.For("masked row", 0);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 2, 2, 4, 3);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 2, 2, 4, 3);
        Tensor mask = Tensor.FromArray([false, false, true, true, true, true, true, true], 2, 4);

        Tensor result = LocalAttention.Forward(q, q, v, config, mask);

        for (int h = 0; h < 2; h++)
        {
            Assert.All(Enumerable.Range(0, 6), i => Assert.Equal(0f, result[0, h, i / 3, i % 3]));
            Assert.NotEqual(0f, result[0, h, 2, 0]);
        }
    }

    [Theory]
    [InlineData(DType.BFloat16, 2e-2)]
    [InlineData(DType.Float16, 3e-3)]
    public void HalfPrecisionInputsMatchTheirFloatValues(DType dtype, double tolerance)
    {
        (Random random, string seed) = FreshRandom.For("local half", dtype);
        var config = new LocalConfig(4, lookBackward: 2, dim: 8, useXpos: true, autopad: true);
        Tensor q = Tensor.RandomNormal(random, dtype, 2, 2, 13, 8), k = Tensor.RandomNormal(random, dtype, 2, 2, 13, 8), v = Tensor.RandomNormal(random, dtype, 2, 2, 13, 8);

        Tensor result = LocalAttention.Forward(q, k, v, config);

        Assert.Equal(dtype, result.DType);
        Compare.Output(result.ToFloatArray(), Definition(q.ToFloatArray(), k.ToFloatArray(), v.ToFloatArray(), 4, 13, 8, 8, config, null, null, 1, null), tolerance, seed);
    }

    [Fact]
    public void TinyShapesWork()
    {
        var config = new LocalConfig(1, useRotaryPosEmb: false);
        Tensor q = Tensor.FromArray([0.5f], 1, 1, 1), v = Tensor.FromArray([3f], 1, 1, 1);
        Assert.Equal(3f, LocalAttention.Forward(q, q, v, config)[0, 0, 0]);
        var padded = new LocalConfig(4, autopad: true, dim: 2, causal: true);
        Tensor q2 = Tensor.FromArray([0.5f, 1f], 1, 1, 2);
        Assert.Equal(new[] { 1, 1, 2 }, LocalAttention.Forward(q2, q2, q2, padded).Shape.ToArray());
        Assert.Equal(1f, LocalAttention.Forward(q2, q2, q2, padded)[0, 0, 1], 6);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(5)]
    public void AnInputOfTheWrongRankNamesIt(int rank)
    {
        Tensor bad = Tensor.Zeros(DType.Float32, Enumerable.Repeat(2, rank).ToArray());
        Tensor q = Tensor.Zeros(DType.Float32, 2, 2, 2);
        var e = Assert.ThrowsAny<ArgumentException>(() => LocalAttention.Forward(q, bad, q, new LocalConfig(2, useRotaryPosEmb: false)));
        Assert.Equal("k", e.ParamName);
    }

    [Fact]
    public void ABiasOfTheWrongShapeNamesIt()
    {
        Tensor q = Tensor.Zeros(DType.Float32, 2, 8, 4);
        var config = new LocalConfig(4, useRotaryPosEmb: false);
        var e = Assert.ThrowsAny<ArgumentException>(() => LocalAttention.Forward(q, q, q, config, attnBias: Tensor.Zeros(DType.Float32, 1, 4, 8)));
        Assert.Equal("attnBias", e.ParamName);
        Assert.Contains("12", e.Message, StringComparison.Ordinal);
        e = Assert.ThrowsAny<ArgumentException>(() => LocalAttention.Forward(q, q, q, config, attnBias: Tensor.Zeros(DType.Float32, 3, 4, 12)));
        Assert.Equal("attnBias", e.ParamName);
        e = Assert.ThrowsAny<ArgumentException>(() => LocalAttention.Forward(q, q, q, config, attnBias: Tensor.Zeros(DType.Float32, 4, 12)));
        Assert.Equal("attnBias", e.ParamName);
    }

    [Fact]
    public void ARotaryDimOtherThanTheHeadDimIsRefusedByName()
    {
        Tensor q = Tensor.Zeros(DType.Float32, 1, 8, 16);
        var e = Assert.ThrowsAny<ArgumentException>(() => LocalAttention.Forward(q, q, q, new LocalConfig(4, dim: 8)));
        Assert.Equal("q", e.ParamName);
        Assert.Contains("8", e.Message, StringComparison.Ordinal);
        Assert.Contains("16", e.Message, StringComparison.Ordinal);
    }

    // SPEC §4, token by token in float64. Packed rows p of [rows, n, e]; windows of the call's size over n padded to the
    // configured window when autopad; query t = w·ws + i sees slot j = token (w − lb)·ws + j.
    internal static double[] Definition(float[] q, float[] k, float[] v, int rows, int n, int e, int ev, LocalConfig c, bool[]? keep, float[]? bias, int biasHeads, int? windowSize)
    {
        int ws = windowSize ?? c.WindowSize, lb = c.LookBackward, lf = c.LookForward, span = (lb + 1 + lf) * ws;
        double scale = c.Scale != 0 ? c.Scale : 1 / Math.Sqrt(e);
        int maskRows = keep is null ? 1 : keep.Length / n;
        var output = new double[rows * n * ev];
        for (int p = 0; p < rows; p++)
        {
            for (int t = 0; t < n; t++)
            {
                int w = t / ws, i = t % ws;
                double[] qr = Rotate(q.AsSpan((p * n + t) * e, e).ToArray().Select(x => (double)x).ToArray(), span - ws + i, span, c, key: false);
                var scores = new double[span];
                for (int j = 0; j < span; j++)
                {
                    int u = ((w - lb) * ws) + j;
                    bool allowed = u >= 0 && u < n
                        && !(c.Causal && u > t)
                        && !(c.ExactWindowsize && t - u > c.WindowSize * lb)
                        && !(c.ExactWindowsize && !c.Causal && u - t > c.WindowSize * lf)
                        && (keep is null || keep[(p / (rows / maskRows) * n) + u]);
                    if (!allowed)
                    {
                        scores[j] = double.NegativeInfinity;
                        continue;
                    }

                    double[] kr = k.AsSpan((p * n + u) * e, e).ToArray().Select(x => (double)x).ToArray();
                    if (c.SharedQk)
                    {
                        double norm = Math.Max(Math.Sqrt(kr.Sum(x => x * x)), 1e-12);
                        kr = kr.Select(x => x / norm).ToArray();
                    }

                    kr = Rotate(kr, j, span, c, key: true);
                    double s = scale * qr.Zip(kr, (a, b) => a * b).Sum();
                    if (bias is not null)
                    {
                        s += bias[((((p % biasHeads) * ws) + i) * span) + j];
                    }

                    scores[j] = c.SharedQk && u == t ? -5e4 : s;
                }

                double max = scores.Max();
                if (double.IsNegativeInfinity(max))
                {
                    continue;
                }

                double[] weights = scores.Select(s => Math.Exp(s - max)).ToArray();
                double sum = weights.Sum();
                for (int j = 0; j < span; j++)
                {
                    int u = ((w - lb) * ws) + j;
                    for (int d = 0; d < ev && weights[j] > 0; d++)
                    {
                        output[((p * n + t) * ev) + d] += weights[j] / sum * v[((p * n + u) * ev) + d];
                    }
                }
            }
        }

        return output;
    }

    // rotate_half over the first Dim values: value d pairs with d + Dim/2; angle = (float)pos · inv_freq in float32 as
    // the reference; xpos multiplies queries by base^((pos − span//2)/scaleBase) and divides keys by it.
    private static double[] Rotate(double[] x, int pos, int span, LocalConfig c, bool key)
    {
        if (!c.UseRotaryPosEmb || c.Dim == 0)
        {
            return x;
        }

        int dim = c.Dim, half = dim / 2;
        double[] r = (double[])x.Clone();
        for (int d = 0; d < dim; d++)
        {
            int i = d % half;
            float invFreq = 1f / MathF.Pow(10000f, (2f * i) / dim);
            float angle = pos * invFreq;
            double scale = 1;
            if (c.UseXpos)
            {
                double b = ((2.0 * i) + (0.4 * dim)) / (1.4 * dim);
                scale = Math.Pow(b, (pos - (span / 2)) / (double)c.XposScaleBase);
                scale = key ? 1 / scale : scale;
            }

            double rotated = d < half ? -x[d + half] : x[d - half];
            r[d] = ((x[d] * Math.Cos(angle)) + (rotated * Math.Sin(angle))) * scale;
        }

        return r;
    }
}

internal static class LocalConfigProbeExtensions
{
    public static int SpanWindowsForTest(this LocalConfig c) => c.LookBackward + 1 + c.LookForward;
}
