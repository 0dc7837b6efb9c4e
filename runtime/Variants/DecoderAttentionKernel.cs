using AttentionGen.Cpu;
using AttentionGen.Inference;

namespace AttentionGen.Variants;

/// <summary>
/// The CPU kernel of a decoder layer, specialized to its mask and score: causal, or the causal band of a sliding
/// window as a closed-form plan (key tiles wholly outside the band are skipped), with or without the logit soft-cap.
/// <see cref="Prefill"/> is the same mask and score against a KV cache, at the cache's positions.
/// </summary>
internal static class DecoderAttentionKernel
{
    public static void Run(AttentionProblem problem, int? slidingWindow, float? softcap)
    {
        if (slidingWindow is int window)
        {
            var band = new ClosedFormPlan([DiagonalBox.Band(window)]);
            WithScore(problem, band, band, softcap);
        }
        else
        {
            WithScore(problem, default(CausalMask), default(CausalMask), softcap);
        }
    }

    private static void WithScore<TPlan, TMask>(AttentionProblem problem, TPlan plan, TMask mask, float? softcap)
        where TPlan : struct, ITilePlan
        where TMask : struct, IMaskMod
    {
        if (softcap is float cap)
        {
            FlashAttentionCpu.Forward(problem, plan, mask, new SoftcapScore(cap));
        }
        else
        {
            FlashAttentionCpu.Forward(problem, plan, mask, default(IdentityScore));
        }
    }

    /// <summary>
    /// q [B, Hq, T, E] (the new tokens, their keys and values appended already) against <paramref name="cache"/>: the
    /// causal mask, or the window's band, over cache positions, and the soft-cap, as <see cref="Run"/> applies them to a
    /// whole sequence.
    /// </summary>
    public static AttentionOutput Prefill(Tensor q, KvCache cache, float scale, int? slidingWindow, float? softcap) =>
        slidingWindow is int window
            ? PrefillWithScore(q, cache, scale, new ClosedFormPlan([DiagonalBox.Band(window)]), softcap)
            : PrefillWithScore(q, cache, scale, default(CausalMask), softcap);

    private static AttentionOutput PrefillWithScore<TMask>(Tensor q, KvCache cache, float scale, TMask mask, float? softcap)
        where TMask : struct, IMaskMod =>
        softcap is float cap
            ? DecodeAttention.Prefill(q, cache, mask, new SoftcapScore(cap), scale)
            : DecodeAttention.Prefill(q, cache, mask, default(IdentityScore), scale);
}
