using System;
using System.Linq;
using AttentionGen.Masks;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>
/// FlexAttention.Run against a dense float64 flex_attention written out here (SPEC §5), on fresh random shapes: lengths
/// not multiples of the blocks, L ≠ S, Ev ≠ E, query and key blocks of different sizes, GQA, empty rows, NaN and extreme scores.
/// </summary>
public class FlexDenseReferenceTests
{
    // Dense float64 flex_attention: scores scaled, then score_mod, then the mask, softmax; a row with no key is 0, LSE -inf.
    private static (double[] Out, double[] Lse) Dense(Tensor q, Tensor k, Tensor v, MaskFunction? mask, ScoreFunction? score, double? scale)
    {
        int b = q.Size(0), hq = q.Size(1), l = q.Size(2), e = q.Size(3), hkv = k.Size(1), s = k.Size(2), ev = v.Size(3);
        double sc = scale ?? 1 / Math.Sqrt(e);
        float[] qs = q.ToFloatArray(), ks = k.ToFloatArray(), vs = v.ToFloatArray();
        var o = new double[b * hq * l * ev];
        var lse = new double[b * hq * l];
        var x = new double[s];
        for (int bi = 0; bi < b; bi++)
        for (int h = 0; h < hq; h++)
        for (int i = 0; i < l; i++)
        {
            int hk = h / (hq / hkv), row = ((bi * hq) + h) * l + i;
            double max = double.NegativeInfinity;
            for (int j = 0; j < s; j++)
            {
                double dot = 0;
                for (int d = 0; d < e; d++)
                {
                    dot += (double)qs[row * e + d] * ks[(((bi * hkv) + hk) * s + j) * e + d];
                }

                double sv = dot * sc;
                if (score is not null)
                {
                    sv = score((float)sv, bi, h, i, j);
                }

                x[j] = mask is null || mask(bi, h, i, j) ? sv : double.NegativeInfinity;
                max = Math.Max(max, x[j]);
            }

            if (double.IsNegativeInfinity(max))
            {
                lse[row] = double.NegativeInfinity;
                continue;
            }

            double sum = 0;
            for (int j = 0; j < s; j++)
            {
                x[j] = Math.Exp(x[j] - max);
                sum += x[j];
            }

            lse[row] = max + Math.Log(sum);
            for (int j = 0; j < s; j++)
            for (int d = 0; d < ev; d++)
            {
                o[row * ev + d] += x[j] / sum * vs[(((bi * hkv) + hk) * s + j) * ev + d];
            }
        }

        return (o, lse);
    }

    private static void Close(float[] actual, double[] expected, double tol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < actual.Length; i++)
        {
            if (double.IsNegativeInfinity(expected[i]) || double.IsNaN(expected[i]))
            {
                Assert.True(expected[i].Equals((double)actual[i]), $"{what}[{i}]: expected {expected[i]}, got {actual[i]}");
                continue;
            }

            Assert.True(Math.Abs(actual[i] - expected[i]) <= tol * (1 + Math.Abs(expected[i])), $"{what}[{i}]: expected {expected[i]}, got {actual[i]}");
        }
    }

    [Theory]
    [InlineData("neither")]
    [InlineData("score")]
    [InlineData("mask")]
    [InlineData("both")]
    [InlineData("scale")]
    [InlineData("gqa")]
    [InlineData("score -inf rows")]
    [InlineData("extreme")]
    [InlineData("nan")]
    [InlineData("broadcast")]
    public void MatchesTheDenseDefinition(string name)
    {
        (Random random, string seed) = FreshRandom.For("dense flex", name);
        int l = random.Next(1, 200), s = random.Next(1, 200), e = 1 + random.Next(40), ev = 1 + random.Next(40);
        int hkv = 2, hq = name == "gqa" ? 6 : 2;
        MaskFunction? mask = name switch
        {
            "mask" or "both" or "gqa" => (b, h, i, j) => (i * 7 + j * 3 + h + b) % 5 != 0 && i >= 3,   // rows 0-2 have no key
            "broadcast" => (b, h, i, j) => j <= i + 5 && i % 3 != 1,
            _ => null,
        };
        ScoreFunction? score = name switch
        {
            "score" or "both" or "gqa" => (x, b, h, i, j) => x + (0.1f * h) - (0.01f * (i - j)),
            "score -inf rows" => (x, b, h, i, j) => i % 4 == 0 ? float.NegativeInfinity : x,   // no key left: 0 and LSE -inf
            _ => null,
        };
        float? scale = name is "scale" or "extreme" ? (name == "scale" ? -0.7f : 40f) : null;
        int qBlock = random.Next(1, 70), kBlock = random.Next(1, 70);
        bool broadcast = name == "broadcast";   // B = None, H = None: one mask for every batch entry and head
        BlockMask? bm = mask is null ? null : FlexAttention.CreateBlockMask(mask, broadcast ? null : 2, broadcast ? null : hq, l, s, blockSize: qBlock, keyBlockSize: kBlock);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 2, hq, l, e);
        if (name == "nan")
        {
            // NaN in one query row makes that row NaN (output and LSE) and leaves the others alone, as in PyTorch.
            float[] values = q.ToFloatArray();
            values[random.Next(values.Length)] = float.NaN;
            q = Tensor.FromArray(values, 2, hq, l, e);
        }

        Tensor k = Tensor.RandomNormal(random, DType.Float32, 2, hkv, s, e);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 2, hkv, s, ev);

        FlexOutput r = FlexAttention.Run(q, k, v, score, bm, scale, enableGqa: hq != hkv, returnLse: true);

        (double[] o, double[] lse) = Dense(q, k, v, mask, score, scale);
        // Scale 40 makes logits of a few hundred, whose float32 rounding (~1e-4 absolute) reaches the softmax.
        double tolerance = name == "extreme" ? 5e-3 : 1e-4;
        Close(r.Output.ToFloatArray(), o, tolerance, $"{name} out L={l} S={s} {seed}");
        Close(r.Lse!.ToFloatArray(), lse, tolerance, $"{name} lse {seed}");
    }
}
