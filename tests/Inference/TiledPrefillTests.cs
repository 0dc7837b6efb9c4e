using System;
using AttentionGen.Cpu;
using AttentionGen.Inference;
using AttentionGen.Reference;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Inference;

/// <summary>
/// A prefill block longer than <see cref="DecodeAttention.MaxQueries"/> under the library's own masks runs through the
/// tiled kernel over the gathered cache: it gives the float64 reference's rows and the decode loop's, paged or contiguous,
/// with sequences shorter than the block (rows before a sequence's first token see nothing) and empty ones.
/// </summary>
public class TiledPrefillTests
{
    [Theory]
    [InlineData(DType.Float32, true, 0)]
    [InlineData(DType.Float32, false, 5)]
    [InlineData(DType.BFloat16, true, 16)]
    [InlineData(DType.Float16, true, 3)]
    public void LongPrefillGivesTheReferenceAndTheDecodeLoopsRows(DType dtype, bool causal, int pageSize)
    {
        (Random random, string seed) = FreshRandom.For(nameof(LongPrefillGivesTheReferenceAndTheDecodeLoopsRows), dtype, causal, pageSize);
        var scenario = DecodeScenario.WithLengths(random, [0, 17, 40, 93, 150], kvHeads: 2, group: 3, headDim: 24, queries: 40, dtype);
        using KvPagePool? pool = pageSize == 0 ? null : scenario.Pool(pageSize);
        using KvCache cache = pool is null ? scenario.ContiguousCache() : KvCache.Paged(pool, scenario.Batch, scenario.MaxLength);
        scenario.Fill(cache);

        using AttentionOutput tiled = DecodeAttention.Prefill(scenario.Q, cache, causal: causal);
        using AttentionOutput loop = causal
            ? DecodeLoop.Prefill(scenario.Q, cache, default(CausalMask), default(IdentityScore))
            : DecodeLoop.Prefill(scenario.Q, cache, default(NoMask), default(IdentityScore));

        string context = $"{seed} {dtype} causal {causal} page {pageSize}";
        double tolerance = dtype == DType.Float32 ? 1e-5 : dtype == DType.BFloat16 ? 1e-2 : 2e-3;
        ReferenceResult expected = scenario.Reference(causal);
        Compare.Output(tiled.Output.ToFloatArray(), expected.Output, tolerance, context);
        Compare.Lse(tiled.Lse.ToFloatArray(), expected.Lse, 1e-5, context);
        Compare.Output(tiled.Output.ToFloatArray(), Array.ConvertAll(loop.Output.ToFloatArray(), x => (double)x), tolerance, context + " against the decode loop");
        Assert.Contains(expected.Lse, double.IsNegativeInfinity);
    }
}
