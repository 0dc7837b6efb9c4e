using AttentionGen.Cpu;

namespace AttentionGen.Variants;

/// <summary>
/// The CPU kernel of a decoder layer, specialized to its mask and score: causal, or the causal band of a sliding
/// window as a closed-form plan (key tiles wholly outside the band are skipped), with or without the logit soft-cap.
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
}
