using System;
using AttentionGen.Inference;
using AttentionGen.Modules;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>
/// DecoderAttentionModule on a GPU (bf16 projections and attention, the q/k norm and RoPE kernel, the decode kernel)
/// against the same weights on the CPU in float32: Forward, and a prompt prefilled then decoded against a GPU cache.
/// </summary>
public class CudaDecoderAttentionTests
{
    private static readonly Device Gpu = Device.Cuda(0);

    public static TheoryData<string> Layers => new() { "llama3", "gemma" };

    [GpuTheory]
    [MemberData(nameof(Layers))]
    public void TheLayerOnTheGpuMatchesItselfOnTheCpu(string layer)
    {
        (Random random, string seed) = FreshRandom.For(layer);
        DecoderAttentionConfig config = Config(layer);
        int weights = random.Next();
        var onCpu = new DecoderAttentionModule(config, weights);
        var onGpu = new DecoderAttentionModule(config, weights).To(Gpu);
        Tensor hidden = Tensor.RandomNormal(random, DType.Float32, 2, 77, config.HiddenSize);

        double[] expected = Array.ConvertAll(onCpu.Forward(hidden, startPosition: 9000).ToFloatArray(), x => (double)x);
        Compare.Output(onGpu.Forward(hidden.To(Gpu), startPosition: 9000).ToFloatArray(), expected, 2e-2, $"{layer} forward ({seed})");

        using KvCache cpuCache = KvCache.Contiguous(2, config.NumKeyValueHeads, config.HeadDim, config.HeadDim, 80, DType.Float32);
        using KvCache gpuCache = KvCache.Contiguous(2, config.NumKeyValueHeads, config.HeadDim, config.HeadDim, 80, DType.BFloat16, Gpu);
        Tensor prompt = hidden.Narrow(1, 0, 70).Contiguous();
        Compare.Output(onGpu.Prefill(prompt.To(Gpu), gpuCache).ToFloatArray(), Array.ConvertAll(onCpu.Prefill(prompt, cpuCache).ToFloatArray(), x => (double)x), 3e-2, $"{layer} prefill ({seed})");
        for (int t = 70; t < 77; t++)
        {
            Tensor token = hidden.Narrow(1, t, 1).Contiguous();
            double[] step = Array.ConvertAll(onCpu.Decode(token, cpuCache).ToFloatArray(), x => (double)x);
            Compare.Output(onGpu.Decode(token.To(Gpu), gpuCache).ToFloatArray(), step, 3e-2, $"{layer} decode {t} ({seed})");
        }

        Assert.Equal("cache", Assert.Throws<ArgumentException>(() => onGpu.Decode(hidden.Narrow(1, 0, 1).Contiguous().To(Gpu), cpuCache)).ParamName);
    }

    // GQA 8/2 with llama3 RoPE scaling; or Gemma's q/k norm (weight offset 1), a sliding window and the logit soft-cap.
    private static DecoderAttentionConfig Config(string layer) => layer == "llama3"
        ? new DecoderAttentionConfig(256, 8, 2, headDim: 64, ropeTheta: 500000, ropeScaling: new Llama3RopeScaling(8, 1, 4, 8192))
        : new DecoderAttentionConfig(256, 4, 2, headDim: 64, qkNormEps: 1e-6f, qkNormWeightOffset: 1, slidingWindow: 32, attnLogitSoftcapping: 50);
}
