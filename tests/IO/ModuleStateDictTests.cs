using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using AttentionGen.IO;
using AttentionGen.Modules;
using AttentionGen.Reference;
using AttentionGen.Tests.Modules;
using AttentionGen.Tests.Numerics;
using AttentionGen.Variants;
using Xunit;

namespace AttentionGen.Tests.IO;

/// <summary>
/// State dicts written here under the reference implementations' exact names and shapes (zeta's FlashAttentionTwo,
/// torchscale's DilatedAttention) load into generated modules, which then compute the float64 reference with those
/// weights; Save then Load reproduces a module bit for bit; a file that does not fit is refused whole.
/// </summary>
public class ModuleStateDictTests
{
    private static readonly Dictionary<string, string> PyTorch = new() { ["format"] = "pt" };

    [Fact]
    public void ZetaStateDictUnderAPrefixLoadsAndMatchesTheFloat64Reference()
    {
        (Random random, string seed) = FreshRandom.For(801);
        Tensor wq = Linear.RandomWeight(random, 24, 24), wkv = Linear.RandomWeight(random, 24, 48), wo = Linear.RandomWeight(random, 24, 24);
        using var file = new TempFile();
        Safetensors.Save(file.Path, new Dictionary<string, Tensor>
        {
            ["layers.0.attn.to_q.weight"] = wq,
            ["layers.0.attn.to_kv.weight"] = wkv,
            ["layers.0.attn.to_out.weight"] = wo,
            ["layers.0.norm.weight"] = Tensor.Zeros(DType.Float32, 24),        // outside the prefix: not unexpected
            ["layers.1.attn.to_q.weight"] = Tensor.Zeros(DType.Float32, 7, 3),
        }, PyTorch);
        var module = new TinyCausalAttention(seed: random.Next());

        module.Load(file.Path, "layers.0.attn.");

        Assert.Equal(wq.ToFloatArray(), module.ToQ.Weight.ToFloatArray());
        Tensor x = Tensor.RandomNormal(random, DType.Float32, 2, 19, 24);
        double[] expected = ReferenceModules.FlashAttention(new TinyCausalAttention(wq, wkv, wo), x);
        Compare.Output(module.Forward(x).ToFloatArray(), expected, 1e-5, seed);
    }

    [Fact]
    public void Bfloat16WeightsConvertIntoAFloat32Module()
    {
        (Random random, string seed) = FreshRandom.For(802);
        Tensor wq = Linear.RandomWeight(random, 24, 24).To(DType.BFloat16), wkv = Linear.RandomWeight(random, 24, 48).To(DType.BFloat16), wo = Linear.RandomWeight(random, 24, 24).To(DType.BFloat16);
        using var stream = new MemoryStream();
        Safetensors.Save(stream, new Dictionary<string, Tensor> { ["to_q.weight"] = wq, ["to_kv.weight"] = wkv, ["to_out.weight"] = wo });
        stream.Position = 0;
        var module = new TinyCausalAttention(seed: 5);

        module.Load(stream);

        Assert.Equal(DType.Float32, module.ToKv.Weight.DType);
        Assert.Equal(wkv.ToFloatArray(), module.ToKv.Weight.ToFloatArray());
        Tensor x = Tensor.RandomNormal(random, DType.Float32, 1, 11, 24);
        double[] expected = ReferenceModules.FlashAttention(new TinyCausalAttention(wq.To(DType.Float32), wkv.To(DType.Float32), wo.To(DType.Float32)), x);
        Compare.Output(module.Forward(x).ToFloatArray(), expected, 1e-5, seed);
    }

    [Fact]
    public void TorchscaleStateDictLoadsAndMatchesTheFloat64Reference()
    {
        (Random random, string seed) = FreshRandom.For(803);
        const int d = 48, heads = 4, e = d / heads;
        var tensors = new Dictionary<string, Tensor>();
        var projections = new Dictionary<string, Linear>();
        foreach (string name in new[] { "q_proj", "k_proj", "v_proj", "out_proj" })
        {
            Tensor weight = Linear.RandomWeight(random, d, d), bias = Tensor.RandomUniform(random, -0.2f, 0.2f, DType.Float32, d);
            tensors[name + ".weight"] = weight;
            tensors[name + ".bias"] = bias;
            projections[name] = new Linear(weight, d, d, name, bias);
        }

        // torchscale's XPOS buffer, (arange(0, E, 2) + 0.4 E) / (1.4 E), and the T5 bias table nn.Embedding(32, H).
        tensors["xpos.scale"] = Tensor.FromArray(Enumerable.Range(0, e / 2).Select(i => (float)(((2.0 * i) + (0.4 * e)) / (1.4 * e))).ToArray(), e / 2);
        Tensor table = Tensor.RandomNormal(random, DType.Float32, 32, heads);
        tensors["relative_position.relative_attention_bias.weight"] = table;
        using var file = new TempFile();
        Safetensors.Save(file.Path, tensors, PyTorch);
        var module = new CausalDilatedMixture(seed: random.Next());

        module.Load(file.Path);

        var reference = new CausalDilatedMixture(projections["q_proj"], projections["k_proj"], projections["v_proj"], projections["out_proj"], new RelativePositionBias(table, bidirectional: false));
        Tensor x = Tensor.RandomNormal(random, DType.Float32, 2, 77, d);
        Compare.Output(module.Forward(x).ToFloatArray(), VariantModuleTests.ReferenceDilatedModule(reference, x), 1e-4, seed);
    }

    [Fact]
    public void SaveThenLoadReproducesOutputsBitForBit()
    {
        (Random random, _) = FreshRandom.For(804);
        var flash = new TinyCausalAttention(seed: random.Next());
        var dilated = new CausalDilatedMixture(seed: random.Next());
        var flashCopy = new TinyCausalAttention(seed: random.Next());
        var dilatedCopy = new CausalDilatedMixture(seed: random.Next());
        using var file = new TempFile();
        using var stream = new MemoryStream();

        flash.Save(file.Path, "encoder.attn.");
        dilated.Save(stream);
        flashCopy.Load(file.Path, "encoder.attn.");
        stream.Position = 0;
        dilatedCopy.Load(stream);

        Tensor x = Tensor.RandomNormal(random, DType.Float32, 2, 40, 24), y = Tensor.RandomNormal(random, DType.Float32, 1, 70, 48);
        Assert.Equal(flash.Forward(x).ToFloatArray(), flashCopy.Forward(x).ToFloatArray());
        Assert.Equal(dilated.Forward(y).ToFloatArray(), dilatedCopy.Forward(y).ToFloatArray());
        using SafetensorsFile saved = SafetensorsFile.Open(file.Path);
        Assert.Equal("pt", saved.Metadata["format"]);
        Assert.Equal(new[] { "encoder.attn.to_kv.weight", "encoder.attn.to_out.weight", "encoder.attn.to_q.weight" }, saved.Tensors.Select(t => t.Name).Order());
    }

    [Fact]
    public void AFileThatDoesNotFitListsEveryProblemAndLeavesTheModuleUnchanged()
    {
        using var file = new TempFile();
        Safetensors.Save(file.Path, new Dictionary<string, Tensor>
        {
            ["to_q.weight"] = Tensor.Zeros(DType.Float32, 24, 16),
            ["to_kv.weight"] = Tensor.Zeros(DType.Int32, 48, 24),
            ["to_v.weight"] = Tensor.Zeros(DType.Float32, 24, 24),
        });
        var module = new TinyCausalAttention(seed: 3);
        Linear q = module.ToQ, kv = module.ToKv, o = module.ToOut;

        var e = Assert.Throws<StateDictMismatchException>(() => module.Load(file.Path));

        Assert.Equal("path", e.ParamName);
        Assert.Equal(new[] { "'to_out.weight' [24, 24]" }, e.MissingKeys);
        Assert.Equal(new[] { "'to_v.weight'" }, e.UnexpectedKeys);
        Assert.Contains(e.Mismatches, m => m.Contains("'to_q.weight' has shape [24, 16]; the module needs [24, 24]"));
        Assert.Contains(e.Mismatches, m => m.Contains("'to_kv.weight' is I32") && m.Contains("float32"));
        foreach (string part in new[] { "TinyCausalAttention", "to_out.weight", "to_v.weight", "to_q.weight", "to_kv.weight", "AllowUnexpectedKeys" })
        {
            Assert.Contains(part, e.Message);
        }

        Assert.Same(q, module.ToQ);
        Assert.Same(kv, module.ToKv);
        Assert.Same(o, module.ToOut);
    }

    [Fact]
    public void NameMapRenamesAndAllowUnexpectedKeysIgnoresTheRest()
    {
        (Random random, _) = FreshRandom.For(805);
        var source = new TinyCausalAttention(seed: random.Next());
        var renames = new Dictionary<string, string> { ["attn.wq"] = "attn.to_q.weight", ["attn.wkv"] = "attn.to_kv.weight", ["attn.wo"] = "attn.to_out.weight" };
        using var stream = new MemoryStream();
        Safetensors.Save(stream, new Dictionary<string, Tensor>
        {
            ["attn.wq"] = source.ToQ.Weight,
            ["attn.wkv"] = source.ToKv.Weight,
            ["attn.wo"] = source.ToOut.Weight,
            ["attn.rotary.inv_freq"] = Tensor.Zeros(DType.Float32, 4),
        });
        byte[] bytes = stream.ToArray();
        var module = new TinyCausalAttention(seed: random.Next());

        var strict = Assert.Throws<StateDictMismatchException>(() => module.Load(new MemoryStream(bytes), "attn.", new StateDictLoadOptions { NameMap = StateDictLoadOptions.Renaming(renames) }));
        module.Load(new MemoryStream(bytes), "attn.", new StateDictLoadOptions { NameMap = StateDictLoadOptions.Renaming(renames), AllowUnexpectedKeys = true });

        Assert.Equal(new[] { "'attn.rotary.inv_freq'" }, strict.UnexpectedKeys);
        Assert.Equal("stream", strict.ParamName);
        Tensor x = Tensor.RandomNormal(random, DType.Float32, 1, 9, 24);
        Assert.Equal(source.Forward(x).ToFloatArray(), module.Forward(x).ToFloatArray());
    }

    [Fact]
    public void TwoFileNamesMappedToOneAreAMismatch()
    {
        var source = new TinyCausalAttention(seed: 1);
        var tensors = new Dictionary<string, Tensor>(source.StateDict()) { ["wq"] = source.ToQ.Weight };
        using var stream = new MemoryStream();
        Safetensors.Save(stream, tensors);
        stream.Position = 0;
        var options = new StateDictLoadOptions { NameMap = name => name == "wq" ? "to_q.weight" : name };

        var e = Assert.Throws<StateDictMismatchException>(() => new TinyCausalAttention(seed: 2).Load(stream, options: options));

        Assert.Contains(e.Mismatches, m => m.Contains("both map to 'to_q.weight'"));
    }

    [Fact]
    public void AnXposBufferThatIsNotTorchscalesIsRefusedAfterReadingWithTheModuleUnchanged()
    {
        var source = new CausalDilatedMixture(seed: 11);
        var tensors = new Dictionary<string, Tensor>(source.StateDict());
        Tensor scale = tensors["xpos.scale"].To(DType.Float32).Reshape(6);
        float[] wrong = scale.ToFloatArray();
        wrong[3] *= 1.01f;
        tensors["xpos.scale"] = Tensor.FromArray(wrong, 6);
        using var stream = new MemoryStream();
        Safetensors.Save(stream, tensors);
        stream.Position = 0;
        var module = new CausalDilatedMixture(seed: 12);
        Linear q = module.QProj;
        RelativePositionBias? bias = module.RelPosBias;

        var e = Assert.Throws<StateDictMismatchException>(() => module.Load(stream));

        Assert.Contains("'xpos.scale' holds", e.Message);
        Assert.Contains("at index 3", e.Message);
        Assert.Same(q, module.QProj);
        Assert.Same(bias, module.RelPosBias);
    }

    [Theory]
    [InlineData(DType.Float16)]
    [InlineData(DType.BFloat16)]
    public void AHalfPrecisionCheckpointWithTorchscalesXposBufferLoads(DType dtype)
    {
        // The buffer rounded to the file's type (0.2857143 is 0.28564453 in fp16) is still torchscale's XPOS.
        var source = new CausalDilatedMixture(seed: 13);
        var tensors = source.StateDict().ToDictionary(p => p.Key, p => p.Value.To(dtype));
        using var stream = new MemoryStream();
        Safetensors.Save(stream, tensors);
        stream.Position = 0;
        var module = new CausalDilatedMixture(seed: 14);

        module.Load(stream);

        Assert.Equal(tensors["q_proj.weight"].ToFloatArray(), module.QProj.Weight.ToFloatArray());
    }

    [Fact]
    public void DisposeReleasesTheWeightsLoadReadForTheModule()
    {
        var source = new TinyCausalAttention(seed: 15);
        using var stream = new MemoryStream();
        Safetensors.Save(stream, source.StateDict());
        stream.Position = 0;
        var module = new TinyCausalAttention(seed: 16);
        module.Load(stream);
        Tensor loaded = module.StateDict()["to_q.weight"];

        module.Dispose();

        Assert.Throws<ObjectDisposedException>(() => loaded.ToFloatArray());
        Assert.Equal(24 * 24, source.StateDict()["to_q.weight"].Numel);   // the source's own weights are untouched
    }

    [Fact]
    public void TheStateDictUsesTheReferenceNamesAndShapes()
    {
        var dilated = new CausalDilatedMixture(seed: 1).StateDict("m.");

        Assert.Equal(
            new[] { "m.k_proj.bias", "m.k_proj.weight", "m.out_proj.bias", "m.out_proj.weight", "m.q_proj.bias", "m.q_proj.weight", "m.relative_position.relative_attention_bias.weight", "m.v_proj.bias", "m.v_proj.weight", "m.xpos.scale" },
            dilated.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(new[] { 32, 4 }, dilated["m.relative_position.relative_attention_bias.weight"].Shape.ToArray());
        Assert.Equal(new[] { 6 }, dilated["m.xpos.scale"].Shape.ToArray());
        Assert.Equal(new[] { 48, 24 }, new TinyCausalAttention(seed: 1).StateDict()["to_kv.weight"].Shape.ToArray());
    }
}
