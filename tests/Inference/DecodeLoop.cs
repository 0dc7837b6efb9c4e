using AttentionGen.Cpu;
using AttentionGen.Inference;

namespace AttentionGen.Tests.Inference;

/// <summary>The CPU decode loop on any number of queries: what a prefill gave before the tiled path, to compare it against.</summary>
internal static class DecodeLoop
{
    /// <summary>O [B, Hq, T, Ev] and LSE [B, Hq, T] of <paramref name="q"/> (float32 or widened to it) against <paramref name="cache"/>, float32.</summary>
    public static AttentionOutput Prefill<TMask, TScore>(Tensor q, KvCache cache, TMask mask, TScore score, float? scale = null)
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        using Tensor queries = Tensor.FromArray(q.ToFloatArray(), q.Shape.ToArray());   // a float32 copy: the test's q stays whole
        Tensor output = Tensor.Zeros(DType.Float32, q.Size(0), q.Size(1), q.Size(2), cache.ValueDim);
        Tensor lse = Tensor.Zeros(DType.Float32, q.Size(0), q.Size(1), q.Size(2));
        DecodeCpu.Run(queries, cache, scale ?? 1f / System.MathF.Sqrt(cache.HeadDim), mask, score, output, lse);
        return new AttentionOutput(output, lse);
    }
}
