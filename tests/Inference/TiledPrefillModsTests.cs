using System;
using System.Collections.Generic;
using System.Linq;
using AttentionGen.Cpu;
using AttentionGen.Inference;
using AttentionGen.Reference;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Inference;

/// <summary>
/// A prefill block longer than <see cref="DecodeAttention.MaxQueries"/> under any mask and score mod runs the tiled kernel
/// over the gathered cache (<see cref="TiledPrefill"/>): it gives the decode loop's rows and LSEs to float32 rounding and
/// the float64 reference's, for windows, unions of boxes, per-key masks, scattered intervals with empty rows, score mods,
/// GQA, sequences of different lengths (some shorter than the block, one empty), paged and contiguous caches of every
/// storage dtype, with T and the lengths not multiples of any tile.
/// </summary>
public class TiledPrefillModsTests
{
    // 101 queries: two query tiles of 96, not a multiple of the GEMM's 6 rows; the longest sequence spans three 256-key tiles.
    private const int Queries = 101;
    private static readonly int[] Lengths = [0, 17, 100, 333, 700];

    public static IEnumerable<object[]> Cases() =>
        from mods in new[] { "window+softcap", "causal+alibi", "prefix-lm", "per-key", "scattered+alibi", "nan-outside-band" }
        from dtype in new[] { DType.Float32, DType.BFloat16, DType.Float8E4M3 }
        from pageSize in new[] { 0, 7 }
        select new object[] { mods, dtype, pageSize };

    [Theory]
    [MemberData(nameof(Cases))]
    public void TheTiledPathGivesTheDecodeLoopsRowsAndTheReferences(string mods, DType dtype, int pageSize)
    {
        (Random random, string seed) = FreshRandom.For(nameof(TheTiledPathGivesTheDecodeLoopsRowsAndTheReferences), mods, dtype, pageSize);
        var scenario = DecodeScenario.WithLengths(random, Lengths, kvHeads: 2, group: 3, headDim: 24, Queries, dtype == DType.Float8E4M3 ? DType.Float32 : dtype);
        using KvCache cache = NewCache(scenario, dtype, pageSize, out KvPagePool? pool);
        using (pool)
        {
            scenario.Fill(cache);   // ragged appends with NaN padding past each sequence, which must never be read
            using Tensor q = scenario.Q.To(DType.Float32);
            string context = $"{seed} {mods} {dtype} page {pageSize}";
            Check(mods, scenario, cache, q, dtype == DType.Float32, context);
        }
    }

    [Fact]
    public void PrefillTakesTheTiledPathForAnyMods()
    {
        (Random random, string seed) = FreshRandom.For(nameof(PrefillTakesTheTiledPathForAnyMods));
        var scenario = DecodeScenario.WithLengths(random, Lengths, kvHeads: 2, group: 2, headDim: 16, Queries);
        using KvCache cache = scenario.ContiguousCache();
        scenario.Fill(cache);
        var window = new ClosedFormPlan([DiagonalBox.Band(40)]);

        using AttentionOutput prefill = DecodeAttention.Prefill(scenario.Q, cache, window, new SoftcapScore(1.5f));
        using AttentionOutput tiled = TiledPrefill.Run(scenario.Q, cache, 0.25f, window, new SoftcapScore(1.5f))!;

        // The same kernel calls: the same bits.
        Assert.True(tiled.Output.ToFloatArray().SequenceEqual(prefill.Output.ToFloatArray()), seed);
        Assert.True(tiled.Lse.ToFloatArray().SequenceEqual(prefill.Lse.ToFloatArray()), seed);
    }

    [Fact]
    public void RowsBeforeTheFirstTokenSeeNoKeyWhereAUnionsPlanCallsTheirTileFull()
    {
        // 5 tokens, 20 queries: rows 0..14 sit before the first token. The prefix box holds every pair of the one tile, so
        // the union's plan calls it full, yet the decode loop gives a per-key mask's rows at no position nothing.
        (Random random, string seed) = FreshRandom.For(nameof(RowsBeforeTheFirstTokenSeeNoKeyWhereAUnionsPlanCallsTheirTileFull));
        var scenario = DecodeScenario.WithLengths(random, [5], kvHeads: 1, group: 2, headDim: 8, queries: 20);
        using KvCache cache = scenario.ContiguousCache();
        scenario.Fill(cache);
        var prefix = new DiagonalBox(long.MinValue, long.MaxValue, long.MinValue, 9, long.MinValue, long.MaxValue);
        var late = new DiagonalBox(long.MinValue, long.MaxValue, long.MinValue, long.MaxValue, 1000, long.MaxValue);
        Check(scenario, cache, scenario.Q, new ClosedFormPlan([prefix, late]), default(IdentityScore), reference: true, seed);
    }

    // The named mods through the tiled path, against the decode loop and (float32 caches) the float64 reference.
    private static void Check(string mods, DecodeScenario scenario, KvCache cache, Tensor q, bool reference, string context)
    {
        switch (mods)
        {
            case "window+softcap":
                Check(scenario, cache, q, new ClosedFormPlan([DiagonalBox.Band(257)]), new SoftcapScore(1.5f), reference, context);
                break;
            case "causal+alibi":
                Check(scenario, cache, q, default(CausalMask), default(AlibiScore), reference, context);
                break;
            case "prefix-lm":
                // A union of two boxes gives no interval per row: its own plan classifies the tiles, the mask is asked per key.
                var causal = new DiagonalBox(long.MinValue, 0, long.MinValue, long.MaxValue, long.MinValue, long.MaxValue);
                var prefix = new DiagonalBox(long.MinValue, long.MaxValue, long.MinValue, 9, long.MinValue, long.MaxValue);
                Check(scenario, cache, q, new ClosedFormPlan([causal, prefix]), default(IdentityScore), reference, context);
                break;
            case "per-key":
                Check(scenario, cache, q, default(GappyMask), default(PositionCheckedScore), reference, context);
                break;
            case "scattered+alibi":
                Check(scenario, cache, q, default(ScatteredMask), default(AlibiScore), reference, context);
                break;
            case "nan-outside-band":
                Check(scenario, cache, q, new ClosedFormPlan([DiagonalBox.Band(7)]), default(NaNOutsideBand), reference, context);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(mods), mods, "no such case");
        }
    }

    private static void Check<TMask, TScore>(DecodeScenario scenario, KvCache cache, Tensor q, TMask mask, TScore score, bool reference, string context)
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        const float Scale = 0.3f;
        using AttentionOutput tiled = TiledPrefill.Run(q, cache, Scale, mask, score)!;
        using AttentionOutput loop = DecodeLoop.Prefill(q, cache, mask, score, Scale);
        float[] lse = tiled.Lse.ToFloatArray();
        double[] loopLse = Array.ConvertAll(loop.Lse.ToFloatArray(), x => (double)x);
        Compare.Output(tiled.Output.ToFloatArray(), Array.ConvertAll(loop.Output.ToFloatArray(), x => (double)x), 1e-5, context + " against the decode loop");
        Compare.Lse(lse, loopLse, 1e-5, context + " against the decode loop");
        Assert.Contains(loopLse, double.IsNegativeInfinity);   // rows with no key: the empty sequence or rows before the first token
        Assert.Contains(loopLse, double.IsFinite);

        if (reference)
        {
            // The decode loop's rule: a row's window, the mask asked per key only where it gives no interval.
            int[] lengths = scenario.Lengths;
            int queries = scenario.Queries;
            bool Allowed(int b, int h, int i, int j)
            {
                RowWindow window = RowWindow.Of(mask, b, h, lengths[b] - queries + i, lengths[b]);
                return j >= window.Start && j < window.End && (!window.PerKey || mask.IsAllowed(b, h, lengths[b] - queries + i, j));
            }

            // The score mod only where the decode loop calls it: the reference scores every pair, kept or not.
            ReferenceResult expected = ReferenceAttention.Compute(
                scenario.Q,
                scenario.Keys,
                scenario.Values,
                Allowed,
                Scale,
                (s, b, h, i, j) => Allowed(b, h, i, j) ? score.Apply((float)s, b, h, lengths[b] - queries + i, j) : s);
            Compare.Output(tiled.Output.ToFloatArray(), expected.Output, 1e-5, context + " against the reference");
            Compare.Lse(lse, expected.Lse, 1e-5, context + " against the reference");
        }
    }

    private static KvCache NewCache(DecodeScenario scenario, DType dtype, int pageSize, out KvPagePool? pool)
    {
        // Scales that keep normal(0, 1) rows well inside e4m3's ±448.
        KvQuantization? scales = dtype == DType.Float8E4M3 ? new KvQuantization([1 / 64f, 1 / 32f], [1 / 16f, 1 / 64f]) : null;
        pool = pageSize == 0 ? null : new KvPagePool(scenario.PagesNeeded(pageSize) + 3, pageSize, scenario.KvHeads, scenario.HeadDim, scenario.ValueDim, dtype, Device.Cpu, scales);
        return pool is null
            ? KvCache.Contiguous(scenario.Batch, scenario.KvHeads, scenario.HeadDim, scenario.ValueDim, scenario.MaxLength, dtype, Device.Cpu, scales)
            : KvCache.Paged(pool, scenario.Batch, scenario.MaxLength);
    }

    // A linear bias by distance, steeper for later heads.
    private readonly struct AlibiScore : IScoreMod
    {
        public static bool IsIdentity => false;

        public float Apply(float score, int batch, int head, int q, int kv) => score - (0.05f * (head + 1) * (q - kv));
    }

    // Causal, with every fifth row masked whole and keys dropped per head: no interval. The decode loop never asks it
    // (nor its score mod) about a position before a sequence's first token, so neither may the tiled path.
    private readonly struct GappyMask : IMaskMod
    {
        public bool IsAllowed(int batch, int head, int q, int kv) =>
            q >= 0 ? q % 5 != 0 && kv <= q && (kv + head) % 3 != 0 : throw new InvalidOperationException($"mask asked about position {q}");

        public bool TryGetKeyRange(int batch, int head, int q, out int start, out int end)
        {
            (start, end) = (0, 0);
            return false;
        }
    }

    private readonly struct PositionCheckedScore : IScoreMod
    {
        public static bool IsIdentity => false;

        public float Apply(float score, int batch, int head, int q, int kv) =>
            q >= 0 && kv >= 0 ? (0.9f * score) + (0.01f * ((q - kv) % 7)) : throw new InvalidOperationException($"score mod called at ({q}, {kv})");
    }

    // An interval per row that moves back and forth with the row and the head, empty for every fourth (row + head).
    private readonly struct ScatteredMask : IMaskMod
    {
        public bool IsAllowed(int batch, int head, int q, int kv)
        {
            TryGetKeyRange(batch, head, q, out int start, out int end);
            return kv >= start && kv < end;
        }

        public bool TryGetKeyRange(int batch, int head, int q, out int start, out int end)
        {
            start = ((((q * 37) + (head * 101)) % 301) + 301) % 301;
            end = ((q + head) % 4 + 4) % 4 == 0 ? start : start + 150;
            return true;
        }
    }

    // NaN for every pair outside the 7-key causal band: the band's mask drops them, so no NaN may reach a row.
    private readonly struct NaNOutsideBand : IScoreMod
    {
        public static bool IsIdentity => false;

        public float Apply(float score, int batch, int head, int q, int kv) => kv <= q && kv > q - 7 ? score : float.NaN;
    }
}
