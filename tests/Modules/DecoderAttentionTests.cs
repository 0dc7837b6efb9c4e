using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using AttentionGen.IO;
using AttentionGen.Modules;
using AttentionGen.Reference;
using AttentionGen.Tests.IO;
using AttentionGen.Tests.Numerics;
using AttentionGen.Variants;
using Xunit;

namespace AttentionGen.Tests.Modules;

/// <summary>
/// The Llama-style decoder attention layer against the float64 reference written from transformers' formulas, for
/// small GQA configurations of each family; its llama3 frequencies against hand-computed values; its weights under
/// Hugging Face's names.
/// </summary>
public class DecoderAttentionTests
{
    private const int Batch = 2, Length = 37;

    public static TheoryData<string> Families => new(Configs.Keys);

    // Small stand-ins for the real layers: 8 query heads over 2 kv heads of 16 (Llama 3's 32/8 grouping at a quarter).
    private static readonly Dictionary<string, DecoderAttentionConfig> Configs = new()
    {
        ["llama2: default RoPE, head_dim from hidden"] = new(128, 8, 2),
        ["llama3.1: llama3 scaling"] = new(64, 8, 2, headDim: 16, ropeTheta: 500000, ropeScaling: new Llama3RopeScaling(8, 1, 4, 16)),
        ["linear scaling"] = new(64, 8, 2, headDim: 16, ropeScaling: new LinearRopeScaling(4)),
        ["qwen2: biases"] = new(64, 8, 2, headDim: 16, attentionBias: true, ropeTheta: 1e6),
        ["qwen3: q/k norm"] = new(64, 8, 2, headDim: 16, ropeTheta: 1e6, qkNormEps: 1e-6f),
        ["mistral: sliding window"] = new(64, 8, 2, headDim: 16, slidingWindow: 5),
        ["gemma2: soft-cap, window, pre-attn scalar"] = new(64, 8, 4, headDim: 16, slidingWindow: 9, attnLogitSoftcapping: 0.5f, queryPreAttnScalar: 24),
        ["gemma2 global layer: soft-cap alone"] = new(64, 8, 4, headDim: 16, attnLogitSoftcapping: 0.5f, queryPreAttnScalar: 24),
        ["gemma3 global layer: q/k norm with 1 + w"] = new(64, 8, 1, headDim: 16, qkNormEps: 1e-6f, qkNormWeightOffset: 1, ropeTheta: 1e6),
        ["gemma3: q/k norm with 1 + w, window"] = new(64, 8, 1, headDim: 16, qkNormEps: 1e-6f, qkNormWeightOffset: 1, slidingWindow: 12, ropeTheta: 1e6),
    };

    [Theory]
    [MemberData(nameof(Families))]
    public void MatchesTheFloat64Reference(string family)
    {
        DecoderAttentionConfig config = Configs[family];
        (Random random, string seed) = FreshRandom.For(4100 + Array.IndexOf(Configs.Keys.ToArray(), family));
        using var module = new DecoderAttentionModule(config, random.Next());
        Tensor hidden = Tensor.RandomNormal(random, DType.Float32, Batch, Length, config.HiddenSize);

        Tensor output = module.Forward(hidden, startPosition: 300);

        int[] positions = Enumerable.Range(0, Batch).SelectMany(_ => Enumerable.Range(300, Length)).ToArray();
        double[] expected = ReferenceDecoderAttention.Compute(config, WeightsOf(module), hidden.ToFloatArray(), Batch, Length, positions);
        Compare.Output(output.ToFloatArray(), expected, 1e-4, $"{family}, {seed}");
        Assert.Equal(new[] { Batch, Length, config.HiddenSize }, output.Shape.ToArray());
    }

    [Fact]
    public void PositionIdsPerRowAndKeyPaddingMatchTheReference()
    {
        var config = new DecoderAttentionConfig(64, 8, 2, headDim: 16, ropeTheta: 500000, ropeScaling: new Llama3RopeScaling(8, 1, 4, 16), slidingWindow: 7, qkNormEps: 1e-5f);
        (Random random, string seed) = FreshRandom.For(4200);
        using var module = new DecoderAttentionModule(config, random.Next());
        Tensor hidden = Tensor.RandomNormal(random, DType.Float32, Batch, Length, config.HiddenSize);

        // Row 1 is left-padded by 4 tokens: its positions start at 0 on the first real token, as a tokenizer's batch.
        int[] positions = new int[Batch * Length];
        bool[] keep = new bool[Batch * Length];
        for (int t = 0; t < Length; t++)
        {
            (positions[t], keep[t]) = (t + 11, true);
            (positions[Length + t], keep[Length + t]) = (Math.Max(0, t - 4), t >= 4);
        }

        Tensor output = module.Forward(hidden, Tensor.FromArray(positions, Batch, Length), Tensor.FromArray(keep, Batch, Length));

        double[] expected = ReferenceDecoderAttention.Compute(config, WeightsOf(module), hidden.ToFloatArray(), Batch, Length, positions, keep);
        Compare.Output(output.ToFloatArray(), expected, 1e-4, seed);
        Assert.All(output.ToFloatArray()[(Length * 64)..((Length + 4) * 64)], value => Assert.Equal(0f, value));
    }

    [Fact]
    public void Llama3InverseFrequenciesMatchHandComputedValues()
    {
        // f_i = θ^(−2i/D), λ_i = 2π / f_i; with original context L, low l, high h and factor s:
        // λ < L/h keeps f; λ > L/l gives f/s; between, with b = (L/λ − l)/(h − l), (1 − b)·f/s + b·f.
        // θ = 500000, D = 16, L = 64, l = 1, h = 4, s = 8 puts pair 0 (λ ≈ 6.28) below L/h = 16, pair 1 (λ ≈ 32.4)
        // between, and pairs 2..7 (λ ≥ 167) above L/l = 64.
        var scaling = new Llama3RopeScaling(8, 1, 4, 64);
        var expected = new double[8];
        for (int i = 0; i < 8; i++)
        {
            double f = Math.Pow(500000, -2.0 * i / 16), wavelength = 2 * Math.PI / f;
            double blend = ((64 / wavelength) - 1) / (4 - 1);
            expected[i] = wavelength < 16 ? f : wavelength > 64 ? f / 8 : ((1 - blend) * f / 8) + (blend * f);
        }

        float[] actual = Rope.InverseFrequencies(16, 500000, scaling);

        // The same numbers worked by hand: f₁ = 500000^(−1/8) = 0.193923, b = (64/32.4005 − 1)/3 = 0.325264.
        Assert.Equal(1.0, expected[0]);
        Assert.Equal(0.0794030, expected[1], 6);
        Assert.Equal(0.0376060 / 8, expected[2], 6);
        for (int i = 0; i < 8; i++)
        {
            Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-6 * expected[i], $"pair {i}: {actual[i]} vs {expected[i]}");
        }

        var config = new DecoderAttentionConfig(128, 8, 2, headDim: 16, ropeTheta: 500000, ropeScaling: scaling);
        Assert.Equal(expected, ReferenceDecoderAttention.InverseFrequencies(config), (a, b) => Math.Abs(a - b) <= 1e-12 * b);
    }

    [Fact]
    public void SaveWritesHuggingFaceNamesAndLoadReproducesTheLayer()
    {
        var config = new DecoderAttentionConfig(64, 8, 2, headDim: 16, attentionBias: true, qkNormEps: 1e-6f);
        using var saved = new DecoderAttentionModule(config, seed: 1);
        using var stream = new MemoryStream();
        saved.Save(stream, "model.layers.0.self_attn.");

        stream.Position = 0;
        using (SafetensorsFile file = SafetensorsFile.Open(stream))
        {
            string[] names = file.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal).ToArray();
            string[] expected = ["k_norm.weight", "k_proj.bias", "k_proj.weight", "o_proj.bias", "o_proj.weight", "q_norm.weight", "q_proj.bias", "q_proj.weight", "v_proj.bias", "v_proj.weight"];
            Assert.Equal(expected.Select(n => "model.layers.0.self_attn." + n), names);
            Assert.Equal(new long[] { 32, 64 }, file.GetInfo("model.layers.0.self_attn.k_proj.weight").Shape.ToArray());
            Assert.Equal(new long[] { 16 }, file.GetInfo("model.layers.0.self_attn.q_norm.weight").Shape.ToArray());
        }

        using var loaded = new DecoderAttentionModule(config, seed: 2);
        stream.Position = 0;
        loaded.Load(stream, "model.layers.0.self_attn.");

        Tensor hidden = Tensor.RandomNormal(new Random(3), DType.Float32, 1, 9, 64);
        Assert.Equal(saved.Forward(hidden).ToFloatArray(), loaded.Forward(hidden).ToFloatArray());
    }

    [Fact]
    public void AFileWithoutTheNormWeightsIsRefusedWhole()
    {
        var config = new DecoderAttentionConfig(64, 8, 2, headDim: 16, qkNormEps: 1e-6f);
        using var module = new DecoderAttentionModule(config, seed: 5);
        Tensor hidden = Tensor.RandomNormal(new Random(6), DType.Float32, 1, 5, 64);
        float[] before = module.Forward(hidden).ToFloatArray();
        using var withoutNorms = new DecoderAttentionModule(new DecoderAttentionConfig(64, 8, 2, headDim: 16), seed: 7);
        using var file = new TempFile();
        withoutNorms.Save(file.Path);

        var error = Assert.Throws<StateDictMismatchException>(() => module.Load(file.Path));

        Assert.Contains("q_norm.weight", error.Message, StringComparison.Ordinal);
        Assert.Contains("k_norm.weight", error.Message, StringComparison.Ordinal);
        Assert.Equal(before, module.Forward(hidden).ToFloatArray());
    }

    [Theory]
    [InlineData(8, 3, null, "numKeyValueHeads")]
    [InlineData(8, 2, 15, "headDim")]
    [InlineData(0, 1, null, "numAttentionHeads")]
    public void ConfigRejectsLayersThatCannotExist(int heads, int kvHeads, int? headDim, string paramName)
    {
        var error = Assert.ThrowsAny<ArgumentException>(() => new DecoderAttentionConfig(64, heads, kvHeads, headDim));

        Assert.Equal(paramName, error.ParamName);
    }

    // Accepted before: heads · headDim wrapped to 0 (Forward then failed in RoPE without a name), θ = 1e-300 rounded to 0
    // in float32 (every output NaN), and a scalar of 1e-300 gave an infinite scale (refused at Forward as "scale").
    [Fact]
    public void ConfigRejectsSizesAndConstantsThatOverflowFloatOrInt()
    {
        Assert.Equal("headDim", Assert.Throws<ArgumentOutOfRangeException>(() => new DecoderAttentionConfig(64, 4096, 4096, headDim: 1 << 20)).ParamName);
        Assert.Equal("headDim", Assert.Throws<ArgumentOutOfRangeException>(() => new DecoderAttentionConfig(64, 65536, 1, headDim: 65536)).ParamName);
        Assert.Equal("ropeTheta", Assert.Throws<ArgumentOutOfRangeException>(() => new DecoderAttentionConfig(64, 4, 2, ropeTheta: 1e-300)).ParamName);
        Assert.Equal("queryPreAttnScalar", Assert.Throws<ArgumentOutOfRangeException>(() => new DecoderAttentionConfig(64, 4, 2, queryPreAttnScalar: 1e-300)).ParamName);
        Assert.Equal(8 * 1024, new DecoderAttentionConfig(64, 8, 2, headDim: 1024, ropeTheta: 0.5, queryPreAttnScalar: 1e-30).QueryWidth);
    }

    [Fact]
    public void BadCallsThrowNamedErrors()
    {
        var module = new DecoderAttentionModule(new DecoderAttentionConfig(64, 8, 2, headDim: 16), seed: 9);
        Tensor hidden = Tensor.RandomNormal(new Random(10), DType.Float32, 2, 5, 64);

        Assert.Equal("hidden", Assert.ThrowsAny<ArgumentException>(() => module.Forward(Tensor.Zeros(DType.Float32, 2, 5, 63))).ParamName);
        Assert.Equal("positionIds", Assert.ThrowsAny<ArgumentException>(() => module.Forward(hidden, Tensor.FromArray(new int[4], 1, 4))).ParamName);
        Assert.Equal("startPosition", Assert.ThrowsAny<ArgumentException>(() => module.Forward(hidden, startPosition: -1)).ParamName);
        module.Dispose();
        Assert.Throws<ObjectDisposedException>(() => module.Forward(hidden));
        Assert.Throws<ObjectDisposedException>(() => module.QProj);
    }

    [AttentionGen.Tests.Cuda.NoGpuFact]
    public void WithoutAGpuMovingToCudaSaysWhyAndTheLayerStaysOnTheCpu()
    {
        var module = new DecoderAttentionModule(new DecoderAttentionConfig(64, 8, 2, headDim: 16), seed: 11);
        Tensor hidden = Tensor.RandomNormal(new Random(12), DType.Float32, 1, 3, 64);

        Assert.Throws<AttentionGen.Cuda.CudaUnavailableException>(() => module.To(Device.Cuda()));

        Assert.Equal(Device.Cpu, module.Device);
        Assert.Equal(new[] { 1, 3, 64 }, module.Forward(hidden).Shape.ToArray());
    }

    private static Dictionary<string, float[]> WeightsOf(DecoderAttentionModule module) =>
        module.StateDict().ToDictionary(entry => entry.Key, entry => entry.Value.ToFloatArray());
}
