using System.Collections.Generic;
using AttentionGen.Modules;

namespace AttentionGen.SampleApp;

/// <summary>The sample's run-time decoder configs, named to the build so it compiles their GPU kernels ahead.</summary>
public static class DecoderConfigs
{
    /// <summary>A Llama-style layer with Gemma's sliding window and soft-cap (the decode loop's last check).</summary>
    public static readonly DecoderAttentionConfig SlidingSoftcap =
        new(hiddenSize: 256, numAttentionHeads: 4, numKeyValueHeads: 2, ropeTheta: 500000, slidingWindow: 256, attnLogitSoftcapping: 50);

    /// <summary>Every config the sample runs, for the app's kernel step (docs/prebuilt-kernels.md).</summary>
    [AppKernelConfigs]
    public static IEnumerable<DecoderAttentionConfig> All => [SlidingSoftcap];
}
