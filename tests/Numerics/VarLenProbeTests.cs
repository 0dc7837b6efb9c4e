using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using AttentionGen.Reference;
using Xunit;
using Xunit.Abstractions;

namespace AttentionGen.Tests.Numerics;

/// <summary>
/// Hostile inputs for <see cref="Attention.ScaledDotProductVarLen"/>: every bad argument is refused by name with the
/// expected and the actual value before anything runs; edge shapes (empty sequences, one token, more queries than keys
/// under causal, Ev ≠ E, GQA, a scale of 0 or below) match the float64 reference per sequence; a NaN or infinity stays in
/// its own sequence's rows.
/// </summary>
[Collection(Bf16KernelPath.Name)]
public class VarLenProbeTests(ITestOutputHelper log)
{
    private const int E = 24, Ev = 16;

    public static TheoryData<int[], int[], string, string> BadOffsets => new()
    {
        // queryOffsets, keyOffsets, the argument named, a fragment of the message
        { [1, 4, 10], [0, 5, 12], "queryOffsets", "got 3 entries from 1 to 10" },
        { [0, 4, 9], [0, 5, 12], "queryOffsets", "ending at q's packed rows (10)" },
        { [0, 4, 11], [0, 5, 12], "queryOffsets", "to 11" },
        { [0, 7, 3, 10], [0, 5, 6, 12], "queryOffsets", "entry 2 is 3, after 7" },
        { [0, -1, 10], [0, 5, 12], "queryOffsets", "entry 1 is -1, after 0" },
        { [0, int.MaxValue, 10], [0, 5, 12], "queryOffsets", "entry 2 is 10, after 2147483647" },
        { [0, int.MinValue, 10], [0, 5, 12], "queryOffsets", "entry 1 is -2147483648" },
        { [], [0, 12], "queryOffsets", "got 0 entries" },
        { [10], [12], "queryOffsets", "got 1 entries" },
        { [0, 10], [], "keyOffsets", "got 0 entries" },
        { [0, 4, 10], [0, 12], "keyOffsets", "as many entries as queryOffsets (3" },
        { [0, 10], [0, 5, 12], "keyOffsets", "got 3" },
        { [0, 4, 10], [0, 13, 12], "keyOffsets", "entry 2 is 12, after 13" },
        { [0, 4, 10], [0, 5, int.MaxValue], "keyOffsets", "to 2147483647" },
        { [0, 4, 10], [int.MinValue, 5, 12], "keyOffsets", "from -2147483648" },
    };

    [Theory]
    [MemberData(nameof(BadOffsets))]
    public void BadOffsetsAreNamedWithTheExpectedAndTheActualValue(int[] queryOffsets, int[] keyOffsets, string param, string fragment)
    {
        (Tensor q, Tensor k, Tensor v) = Operands(new Random(1), 10, 12, 4, 2, E, Ev);
        int[] qBefore = (int[])queryOffsets.Clone(), kBefore = (int[])keyOffsets.Clone();

        ArgumentException error = Assert.ThrowsAny<ArgumentException>(() => Attention.ScaledDotProductVarLen(q, k, v, queryOffsets, keyOffsets, causal: true));

        Assert.Equal(param, error.ParamName);
        Assert.Contains(fragment, error.Message, StringComparison.Ordinal);
        Assert.Equal(qBefore, queryOffsets);
        Assert.Equal(kBefore, keyOffsets);
    }

    [Fact]
    public void NullArgumentsAreNamed()
    {
        (Tensor q, Tensor k, Tensor v) = Operands(new Random(1), 10, 12, 4, 2, E, Ev);
        int[] qo = [0, 10], ko = [0, 12];

        Assert.Equal("q", Assert.Throws<ArgumentNullException>(() => Attention.ScaledDotProductVarLen(null!, k, v, qo, ko)).ParamName);
        Assert.Equal("k", Assert.Throws<ArgumentNullException>(() => Attention.ScaledDotProductVarLen(q, null!, v, qo, ko)).ParamName);
        Assert.Equal("v", Assert.Throws<ArgumentNullException>(() => Attention.ScaledDotProductVarLen(q, k, null!, qo, ko)).ParamName);
        Assert.Equal("queryOffsets", Assert.Throws<ArgumentNullException>(() => Attention.ScaledDotProductVarLen(q, k, v, null!, ko)).ParamName);
        Assert.Equal("keyOffsets", Assert.Throws<ArgumentNullException>(() => Attention.ScaledDotProductVarLen(q, k, v, qo, null!)).ParamName);
    }

    [Fact]
    public void BadShapesAndDTypesAreNamed()
    {
        var random = new Random(1);
        (Tensor q, Tensor k, Tensor v) = Operands(random, 10, 12, 4, 2, E, Ev);
        int[] qo = [0, 3, 10], ko = [0, 5, 12];

        void Refused(string param, string fragment, Tensor q2, Tensor k2, Tensor v2)
        {
            ArgumentException error = Assert.ThrowsAny<ArgumentException>(() => Attention.ScaledDotProductVarLen(q2, k2, v2, qo, ko));
            Assert.Equal(param, error.ParamName);
            Assert.Contains(fragment, error.Message, StringComparison.Ordinal);
        }

        Refused("q", "got shape [1, 10, 4, 24]", q.Reshape(1, 10, 4, E), k, v);
        Refused("q", "got shape [10, 96]", q.Reshape(10, 4 * E), k, v);
        Refused("k", "got shape [12, 48]", q, k.Reshape(12, 2 * E), v);
        Refused("v", "got shape [1, 12, 2, 16]", q, k, v.Reshape(1, 12, 2, Ev));
        Refused("k", "must be 24; got 32", q, Tensor.Zeros(DType.Float32, 12, 2, 32), v);
        Refused("k", "q's (4); got 3", q, Tensor.Zeros(DType.Float32, 12, 3, E), Tensor.Zeros(DType.Float32, 12, 3, Ev));
        Refused("k", "got 0", q, Tensor.Zeros(DType.Float32, 12, 0, E), Tensor.Zeros(DType.Float32, 12, 0, Ev));
        Refused("v", "must be 12; got 11", q, k, Tensor.Zeros(DType.Float32, 11, 2, Ev));
        Refused("v", "must be 2; got 1", q, k, Tensor.Zeros(DType.Float32, 12, 1, Ev));
        Refused("k", "must be float32, float16 or bfloat16; got int32", q, Tensor.FromArray(new int[12 * 2 * E], 12, 2, E), v);
    }

    [Fact]
    public void DisposedOperandsAreNamed()
    {
        (Tensor q, Tensor k, Tensor v) = Operands(new Random(1), 10, 12, 4, 2, E, Ev);
        v.Dispose();
        Assert.Contains("v", Assert.ThrowsAny<ObjectDisposedException>(() => Attention.ScaledDotProductVarLen(q, k, v, [0, 10], [0, 12])).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void ANonFiniteScaleIsNamed(float scale)
    {
        (Tensor q, Tensor k, Tensor v) = Operands(new Random(1), 10, 12, 4, 2, E, Ev);
        Assert.Equal("scale", Assert.ThrowsAny<ArgumentException>(() => Attention.ScaledDotProductVarLen(q, k, v, [0, 3, 10], [0, 5, 12], scale: scale)).ParamName);
    }

    [Theory]
    [InlineData(false, 0f)]
    [InlineData(true, 0f)]
    [InlineData(true, -0.7f)]
    [InlineData(false, 3f)]
    [InlineData(true, null)]
    public void EdgeLengthsMatchTheReferencePerSequence(bool causal, float? scale)
    {
        (Random random, string seed) = FreshRandom.For(nameof(EdgeLengthsMatchTheReferencePerSequence), causal, scale ?? -99f);

        // Empty queries, empty keys, both empty, one token, more queries than keys, more keys than queries, long ones.
        int[] queries = [0, 5, 0, 1, 1, 9, 70, 3, 1, 130, 0];
        int[] keys = [4, 0, 0, 1, 6, 2, 70, 40, 0, 97, 0];
        Check(random, seed, queries, keys, queryHeads: 6, keyHeads: 2, e: 40, ev: 8, causal, scale);
        Check(random, seed, queries, keys, queryHeads: 3, keyHeads: 3, e: 8, ev: 40, causal, scale);
        Check(random, seed, queries, keys, queryHeads: 4, keyHeads: 1, e: 1, ev: 1, causal, scale);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RandomRaggedBatchesMatchTheReferencePerSequence(bool causal)
    {
        (Random random, string seed) = FreshRandom.For(nameof(RandomRaggedBatchesMatchTheReferencePerSequence), causal);
        for (int round = 0; round < 4; round++)
        {
            int count = random.Next(1, 9);
            int[] queries = Enumerable.Range(0, count).Select(_ => random.Next(3) == 0 ? random.Next(0, 3) : random.Next(1, 200)).ToArray();
            int[] keys = Enumerable.Range(0, count).Select(_ => random.Next(3) == 0 ? random.Next(0, 3) : random.Next(1, 200)).ToArray();
            int keyHeads = random.Next(1, 4);
            Check(random, $"{seed} round {round}", queries, keys, keyHeads * random.Next(1, 4), keyHeads, random.Next(1, 70), random.Next(1, 70), causal, scale: null);
        }
    }

    [Fact]
    public void AllSequencesEmptyGivesAnEmptyResult()
    {
        (Tensor q, Tensor k, Tensor v) = Operands(new Random(1), 0, 0, 4, 2, E, Ev);
        using AttentionOutput o = Attention.ScaledDotProductVarLen(q, k, v, [0, 0, 0], [0, 0, 0], causal: true);
        Assert.Equal([0, 4, Ev], o.Output.Shape.ToArray());
        Assert.Equal([4, 0], o.Lse.Shape.ToArray());
    }

    [Fact]
    public void QueriesWithoutKeysGiveZeroAndMinusInfinity()
    {
        (Tensor q, Tensor k, Tensor v) = Operands(new Random(1), 7, 0, 4, 2, E, Ev);
        using AttentionOutput o = Attention.ScaledDotProductVarLen(q, k, v, [0, 3, 7], [0, 0, 0]);
        Assert.All(o.Output.ToFloatArray(), x => Assert.Equal(0f, x));
        Assert.All(o.Lse.ToFloatArray(), x => Assert.Equal(float.NegativeInfinity, x));
    }

    [Theory]
    [InlineData(false, "q")]
    [InlineData(true, "q")]
    [InlineData(false, "k")]
    [InlineData(true, "k")]
    [InlineData(false, "v")]
    [InlineData(true, "v")]
    [InlineData(false, "kinf")]
    [InlineData(true, "vinf")]
    [InlineData(false, "vbf16")]
    [InlineData(true, "vbf16")]
    public void ANonFiniteInputReachesOnlyItsOwnSequence(bool causal, string where)
    {
        (Random random, string seed) = FreshRandom.For(nameof(ANonFiniteInputReachesOnlyItsOwnSequence), causal, where);

        // Lengths off the tile sizes, so tiles straddle the sequences' boundaries; an empty sequence and one with more
        // queries than keys (rows with no key under causal) among them.
        int[] queries = [37, 1, 50, 0, 23, 64, 9, 130, 12], keys = [37, 1, 50, 0, 23, 64, 9, 130, 4];
        int[] qo = Offsets(queries), ko = Offsets(keys);
        (Tensor q, Tensor k, Tensor v) = Operands(random, qo[^1], ko[^1], 4, 2, E, Ev);
        if (where.EndsWith("bf16", StringComparison.Ordinal))
        {
            (q, k, v) = (q.To(DType.BFloat16), k.To(DType.BFloat16), v.To(DType.BFloat16));
        }

        int[] candidates = Enumerable.Range(0, queries.Length).Where(x => queries[x] > 0 && keys[x] >= queries[x]).ToArray();   // every row sees a key
        int poisoned = candidates[random.Next(candidates.Length)];
        bool query = where[0] == 'q';
        Tensor target = where[0] switch { 'q' => q, 'k' => k, _ => v };
        float[] values = target.ToFloatArray();
        int width = target.Size(1) * target.Size(2);
        int row = (query ? qo : ko)[poisoned] + random.Next((query ? queries : keys)[poisoned]), column = random.Next(width);
        float poison = where.EndsWith("inf", StringComparison.Ordinal) ? float.PositiveInfinity : float.NaN;
        if (where == "kinf")
        {
            // An infinite key element scores q_d · inf: -inf drops the key, which then changes nothing. The sequence's
            // first key (every row sees it, causal or not) gets the sign of its first row's q_d in the first query head
            // of its kv head, so that row scores +inf (or NaN for q_d = 0) and must come out non-finite.
            row = ko[poisoned];
            int queryHead = column / E * (q.Size(1) / k.Size(1));
            poison = float.CopySign(float.PositiveInfinity, q.ToFloatArray()[(((qo[poisoned] * q.Size(1)) + queryHead) * E) + (column % E)]);
        }

        values[(row * width) + column] = poison;
        Tensor bad = Tensor.FromArray(values, target.Size(0), target.Size(1), target.Size(2)).To(target.DType);
        (Tensor qd, Tensor kd, Tensor vd) = (where[0] == 'q' ? bad : q, where[0] == 'k' ? bad : k, where[0] == 'v' ? bad : v);
        using AttentionOutput clean = Attention.ScaledDotProductVarLen(q, k, v, qo, ko, causal);
        using AttentionOutput dirty = Attention.ScaledDotProductVarLen(qd, kd, vd, qo, ko, causal);

        // Every other sequence keeps its rows, within float rounding (a call with a non-finite value may run each
        // sequence alone, whose tiles fall at other columns).
        float[] output = dirty.Output.ToFloatArray(), lse = dirty.Lse.ToFloatArray(), expected = clean.Output.ToFloatArray(), expectedLse = clean.Lse.ToFloatArray();
        float tolerance = where.EndsWith("bf16", StringComparison.Ordinal) ? 8e-3f : 2e-6f;
        int heads = q.Size(1), total = qo[^1];
        for (int s = 0; s < queries.Length; s++)
        {
            for (int r = qo[s]; r < qo[s + 1] && s != poisoned; r++)
            {
                for (int h = 0; h < heads; h++)
                {
                    float la = lse[(h * total) + r], lb = expectedLse[(h * total) + r];
                    Assert.True(la.Equals(lb) || Math.Abs(la - lb) <= 2e-6f * Math.Max(1f, Math.Abs(lb)), $"{seed}: LSE of sequence {s} (row {r}, head {h}) changed by sequence {poisoned}'s {where}: {la} vs {lb}");
                    for (int d = 0; d < Ev; d++)
                    {
                        float a = output[(((r * heads) + h) * Ev) + d], b = expected[(((r * heads) + h) * Ev) + d];
                        Assert.True(Math.Abs(a - b) <= tolerance * Math.Max(1f, Math.Abs(b)), $"{seed}: sequence {s} (row {r}, head {h}, column {d}) changed by sequence {poisoned}'s {where}: {a} vs {b}");
                    }
                }
            }
        }

        Assert.Contains(output.Skip(qo[poisoned] * heads * Ev).Take(queries[poisoned] * heads * Ev), x => !float.IsFinite(x));
    }

    [Fact]
    public void ANonFiniteValueFarIntoALargeVReachesOnlyItsOwnSequence()
    {
        // v of over a million elements is searched in chunks on several threads: the NaN sits in the last chunk.
        (Random random, string seed) = FreshRandom.For(nameof(ANonFiniteValueFarIntoALargeVReachesOnlyItsOwnSequence));
        int[] offsets = [0, 3001, 6000];
        (Tensor q, Tensor k, Tensor v) = Operands(random, 6000, 6000, 2, 2, 16, 128);
        float[] values = v.ToFloatArray();
        values[(5990 * 2 * 128) + random.Next(2 * 128)] = float.NaN;
        Tensor bad = Tensor.FromArray(values, 6000, 2, 128);

        using AttentionOutput clean = Attention.ScaledDotProductVarLen(q, k, v, offsets, offsets);
        using AttentionOutput dirty = Attention.ScaledDotProductVarLen(q, k, bad, offsets, offsets);

        float[] expected = clean.Output.Narrow(0, 0, 3001).Contiguous().ToFloatArray(), actual = dirty.Output.Narrow(0, 0, 3001).Contiguous().ToFloatArray();
        Assert.DoesNotContain(actual, float.IsNaN);
        Assert.True(ReferenceAttention.RelativeError(actual, Array.ConvertAll(expected, x => (double)x)) <= 2e-6, seed);
        Assert.Contains(dirty.Output.Narrow(0, 3001, 2999).Contiguous().ToFloatArray(), float.IsNaN);
    }

    [Fact]
    public void MixedDTypesAreRefusedNamingTheOperand()
    {
        // As flash_attn_varlen_func and this library's ScaledDotProduct: one dtype for q, k and v, checked before anything runs.
        (Random random, _) = FreshRandom.For(nameof(MixedDTypesAreRefusedNamingTheOperand));
        int[] qo = Offsets([5, 33, 1]), ko = Offsets([9, 33, 0]);
        (Tensor q, Tensor k, Tensor v) = Operands(random, qo[^1], ko[^1], 4, 2, E, Ev);

        var ek = Assert.Throws<ArgumentException>(() => Attention.ScaledDotProductVarLen(q, k.To(DType.BFloat16), v, qo, ko));
        Assert.Equal("k", ek.ParamName);
        Assert.Contains("bfloat16", ek.Message, StringComparison.Ordinal);
        Assert.Contains("float32", ek.Message, StringComparison.Ordinal);
        var ev = Assert.Throws<ArgumentException>(() => Attention.ScaledDotProductVarLen(q.To(DType.Float16), k.To(DType.Float16), v, qo, ko));
        Assert.Equal("v", ev.ParamName);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void StridedOperandsGiveWhatContiguousOnesGive(bool causal)
    {
        (Random random, string seed) = FreshRandom.For(nameof(StridedOperandsGiveWhatContiguousOnesGive), causal);
        int[] offsets = Offsets([7, 40, 2]);
        // [H, T, E] transposed to [T, H, E]: strided, as a caller's head-major buffer would be.
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 4, offsets[^1], E).Transpose(0, 1);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 2, offsets[^1], E).Transpose(0, 1);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 2, offsets[^1], Ev).Transpose(0, 1);

        using AttentionOutput strided = Attention.ScaledDotProductVarLen(q, k, v, offsets, offsets, causal);
        using AttentionOutput packed = Attention.ScaledDotProductVarLen(q.Contiguous(), k.Contiguous(), v.Contiguous(), offsets, offsets, causal);

        Assert.True(packed.Output.ToFloatArray().SequenceEqual(strided.Output.ToFloatArray()), seed);
    }

    /// <summary>
    /// Each sequence against a call of <see cref="Attention.ScaledDotProduct"/> on it alone: equal within float rounding, not
    /// bitwise (the packed call's key tiles and vector-aligned key blocks fall at other columns of a sequence, so the online
    /// softmax sums in another order).
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void EachSequenceEqualsACallOnItAloneWithinRounding(bool causal)
    {
        (Random random, string seed) = FreshRandom.For(nameof(EachSequenceEqualsACallOnItAloneWithinRounding), causal);
        int[] lengths = Enumerable.Range(0, 9).Select(_ => random.Next(4) == 0 ? random.Next(0, 3) : random.Next(1, 300)).ToArray();
        int[] offsets = Offsets(lengths);
        foreach (DType dtype in new[] { DType.Float32, DType.BFloat16, DType.Float16 })
        {
            (Tensor q, Tensor k, Tensor v) = Operands(random, offsets[^1], offsets[^1], 6, 3, 64, 64);
            (q, k, v) = (q.To(dtype), k.To(dtype), v.To(dtype));
            using AttentionOutput packed = Attention.ScaledDotProductVarLen(q, k, v, offsets, offsets, causal);
            float[] output = packed.Output.ToFloatArray(), lse = packed.Lse.ToFloatArray();
            float worst = 0, worstLse = 0;
            for (int s = 0; s < lengths.Length; s++)
            {
                if (lengths[s] == 0)
                {
                    log.WriteLine($"{dtype}: largest difference {worst:E2} (relative), LSE {worstLse:E2}");
                    continue;
                }

                using AttentionOutput alone = Attention.ScaledDotProduct(HeadsFirst(q, offsets[s], lengths[s]), HeadsFirst(k, offsets[s], lengths[s]), HeadsFirst(v, offsets[s], lengths[s]), causal);
                float[] expected = alone.Output.ToFloatArray(), expectedLse = alone.Lse.ToFloatArray();
                for (int h = 0; h < 6; h++)
                {
                    for (int i = 0; i < lengths[s]; i++)
                    {
                        int row = offsets[s] + i;
                        float la = lse[(h * offsets[^1]) + row], lb = expectedLse[(h * lengths[s]) + i];
                        Assert.True(Math.Abs(la - lb) <= 2e-6f * Math.Max(1f, Math.Abs(lb)), $"{seed} {dtype}: sequence {s}, head {h}, row {i}: LSE {la} vs {lb}");
                        worstLse = Math.Max(worstLse, Math.Abs(la - lb));
                        for (int d = 0; d < 64; d++)
                        {
                            float a = output[(((row * 6) + h) * 64) + d], b = expected[(((h * lengths[s]) + i) * 64) + d];
                            // float32 sums in another order; bf16 and fp16 outputs are those sums rounded once more (an ulp apart at most).
                            float tolerance = dtype == DType.Float32 ? 2e-6f : dtype == DType.BFloat16 ? 8e-3f : 1e-3f;
                            Assert.True(Math.Abs(a - b) <= tolerance * Math.Max(1f, Math.Abs(b)), $"{seed} {dtype}: sequence {s}, head {h}, row {i}, column {d}: {a} vs {b}");
                            worst = Math.Max(worst, Math.Abs(a - b) / Math.Max(1f, Math.Abs(b)));
                        }
                    }
                }
            }
        }
    }

    [Fact]
    public void NoHeadsAtAllIsAnEmptyCallAsElsewhere()
    {
        Tensor q = Tensor.Zeros(DType.Float32, 10, 0, E), k = Tensor.Zeros(DType.Float32, 12, 0, E), v = Tensor.Zeros(DType.Float32, 12, 0, Ev);
        using AttentionOutput o = Attention.ScaledDotProductVarLen(q, k, v, [0, 3, 10], [0, 5, 12], causal: true);
        Assert.Equal([10, 0, Ev], o.Output.Shape.ToArray());
        Assert.Equal([0, 10], o.Lse.Shape.ToArray());
        Assert.Equal("k", Assert.ThrowsAny<ArgumentException>(() => Attention.ScaledDotProductVarLen(Tensor.Zeros(DType.Float32, 10, 2, E), k, v, [0, 10], [0, 12])).ParamName);
    }

    [Fact]
    public void OneHugeSequenceSuitsTheVarLenLaunch()
    {
        // The block count of a sequence near int.MaxValue rows must not wrap: a single sequence fills its grid.
        Assert.True(global::AttentionGen.Cuda.FlashAttentionCuda.TakesVarLen([0, int.MaxValue]));
        Assert.True(global::AttentionGen.Cuda.FlashAttentionCuda.TakesVarLen([0, int.MaxValue - 100, int.MaxValue]));
        Assert.False(global::AttentionGen.Cuda.FlashAttentionCuda.TakesVarLen([0, 1 << 20, (1 << 20) + 1, (1 << 20) + 2, (1 << 20) + 3, (1 << 20) + 4]));
    }

    [Fact]
    public async Task OffsetsChangedByAnotherThreadDuringTheCallAreNeverUsedUnchecked()
    {
        (Tensor q, Tensor k, Tensor v) = Operands(new Random(1), 10, 12, 2, 1, 8, 8);
        int[] qo = [0, 3, 10], ko = [0, 5, 12];
        using AttentionOutput valid = Attention.ScaledDotProductVarLen(q, k, v, qo, [0, 5, 12]);
        float[] expected = valid.Output.ToFloatArray();
        using var stop = new CancellationTokenSource();
        Task flipper = Task.Run(() =>
        {
            // Between the valid value and one past the packed rows, as fast as the thread can.
            for (int i = 0; !stop.IsCancellationRequested; i++)
            {
                Volatile.Write(ref ko[1], (i & 1) == 0 ? 5 : 40);
            }
        });

        int wrong = 0, calls = 0;
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(3);
            for (; calls < 50000 && DateTime.UtcNow < deadline; calls++)
            {
                try
                {
                    // A call that passes its checks runs the offsets it checked: [0, 5, 12].
                    using AttentionOutput o = Attention.ScaledDotProductVarLen(q, k, v, qo, ko);
                    wrong += o.Output.ToFloatArray().SequenceEqual(expected) ? 0 : 1;
                }
                catch (ArgumentException e) when (e.ParamName == "keyOffsets")
                {
                    // Refused by name: fine.
                }
            }
        }
        finally
        {
            stop.Cancel();
            await flipper;
        }

        Assert.True(wrong == 0, $"{wrong} of {calls} calls ran offsets other than the ones they checked");
    }

    private static void Check(Random random, string seed, int[] queries, int[] keys, int queryHeads, int keyHeads, int e, int ev, bool causal, float? scale)
    {
        int[] qo = Offsets(queries), ko = Offsets(keys);
        (Tensor q, Tensor k, Tensor v) = Operands(random, qo[^1], ko[^1], queryHeads, keyHeads, e, ev);

        using AttentionOutput packed = Attention.ScaledDotProductVarLen(q, k, v, qo, ko, causal, scale);
        Assert.Equal([qo[^1], queryHeads, ev], packed.Output.Shape.ToArray());
        Assert.Equal([queryHeads, qo[^1]], packed.Lse.Shape.ToArray());

        float[] output = packed.Output.ToFloatArray(), lse = packed.Lse.ToFloatArray();
        using Tensor magnitudes = Tensor.FromArray(v.ToFloatArray().Select(Math.Abs).ToArray(), v.Shape.ToArray());
        string context = $"{seed} ({queryHeads}/{keyHeads} heads, E {e}, Ev {ev}, causal {causal}, scale {scale})";
        for (int s = 0; s < queries.Length; s++)
        {
            if (queries[s] == 0)
            {
                continue;
            }

            int n = queries[s], m = keys[s], shift = m - n;
            ReferenceResult expected = ReferenceAttention.Compute(
                HeadsFirst(q, qo[s], n), HeadsFirst(k, ko[s], m), HeadsFirst(v, ko[s], m), (b, h, i, j) => !causal || j <= i + shift, scale);
            var actual = new float[queryHeads * n * ev];
            var actualLse = new float[queryHeads * n];
            for (int h = 0; h < queryHeads; h++)
            {
                for (int i = 0; i < n; i++)
                {
                    actualLse[(h * n) + i] = lse[(h * qo[^1]) + qo[s] + i];
                    Array.Copy(output, (((qo[s] + i) * queryHeads) + h) * ev, actual, ((h * n) + i) * ev, ev);
                }
            }

            for (int i = 0; i < actual.Length; i++)
            {
                // A row with no key: exactly 0 (the reference gives 0 too, so the relative error alone would not see -0 or NaN).
                if (double.IsNegativeInfinity(expected.Lse[i / ev]))
                {
                    Assert.True(actual[i].Equals(0f), $"{context}: sequence {s} ({n} queries, {m} keys): element {i} of a row with no key is {actual[i]}");
                }
            }

            // Each output is a weighted sum of value rows, whose float32 rounding scales with the same sum of |v|: the
            // result's own norm can be far smaller (scale 0 and one value dim average values of either sign), so the error's
            // norm is taken relative to that sum's (never less than the result's).
            ReferenceResult magnitude = ReferenceAttention.Compute(
                HeadsFirst(q, qo[s], n), HeadsFirst(k, ko[s], m), HeadsFirst(magnitudes, ko[s], m), (b, h, i, j) => !causal || j <= i + shift, scale);
            Assert.DoesNotContain(actual, float.IsNaN);
            double error = 0, norm = 0;
            for (int i = 0; i < actual.Length; i++)
            {
                error += (actual[i] - expected.Output[i]) * (actual[i] - expected.Output[i]);
                norm += magnitude.Output[i] * magnitude.Output[i];
            }

            Assert.True(error <= 4e-10 * norm, $"{context}: sequence {s} ({n} queries, {m} keys): relative error {Math.Sqrt(error / norm):E3} > 2.0E-005 of the sum of |p v|");
            Compare.Lse(actualLse, expected.Lse, 2e-5, $"{context}: sequence {s} ({n} queries, {m} keys)");
        }
    }

    private static int[] Offsets(int[] lengths)
    {
        var offsets = new int[lengths.Length + 1];
        for (int s = 0; s < lengths.Length; s++)
        {
            offsets[s + 1] = offsets[s] + lengths[s];
        }

        return offsets;
    }

    private static (Tensor Q, Tensor K, Tensor V) Operands(Random random, int queries, int keys, int queryHeads, int keyHeads, int e, int ev) =>
        (Tensor.RandomNormal(random, DType.Float32, queries, queryHeads, e),
         Tensor.RandomNormal(random, DType.Float32, keys, keyHeads, e),
         Tensor.RandomNormal(random, DType.Float32, keys, keyHeads, ev));

    // Rows [start, start + length) of a packed [T, H, D] tensor as [1, H, length, D].
    private static Tensor HeadsFirst(Tensor packed, int start, int length) =>
        packed.Narrow(0, start, length).Reshape(1, length, packed.Size(1), packed.Size(2)).Transpose(1, 2);
}
