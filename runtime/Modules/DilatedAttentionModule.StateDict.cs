using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using AttentionGen.IO;
using AttentionGen.Variants;

namespace AttentionGen.Modules;

/// <summary>
/// Load and Save in safetensors under torchscale <c>DilatedAttention</c>'s state-dict names: <c>q_proj</c>,
/// <c>k_proj</c>, <c>v_proj</c>, <c>out_proj</c> (<c>.weight</c>, <c>.bias</c>); with UseXpos the XPOS buffer
/// <c>xpos.scale</c> (computed, so checked on load); with UseRelPosBias the table
/// <c>relative_position.relative_attention_bias.weight</c> (torchscale keeps it on the encoder/decoder, under that
/// name: a NameMap reaches it there). See docs/safetensors.md.
/// </summary>
public partial class DilatedAttentionModule
{
    /// <summary>The state-dict name of the relative-position bias table.</summary>
    public const string RelPosBiasName = "relative_position.relative_attention_bias.weight";

    /// <summary>The state-dict name of torchscale's XPOS scale buffer.</summary>
    public const string XposScaleName = "xpos.scale";

    /// <summary>
    /// Relative tolerance of the loaded XPOS buffer: PyTorch rounds its terms to float32 in another order (1e-6), and a
    /// checkpoint saved in half precision rounds them once more, by up to half an ulp of its type.
    /// </summary>
    private static float XposScaleTolerance(SafetensorsDType file) => file switch
    {
        SafetensorsDType.Float16 => 1f / (1 << 11),
        SafetensorsDType.BFloat16 => 1f / (1 << 8),
        _ => 1e-6f,
    };

    /// <inheritdoc/>
    public override IReadOnlyDictionary<string, Tensor> StateDict(string prefix = "")
    {
        IEnumerable<(string, Tensor)> tensors = Layers().SelectMany(l => l.Layer.StateDictTensors(l.Name));
        if (Config.UseXpos)
        {
            tensors = tensors.Append((XposScaleName, XposScale()));
        }

        if (RelPosBias is not null)
        {
            tensors = tensors.Append((RelPosBiasName, RelPosBias.Weights));
        }

        return IO.StateDict.Prefixed(prefix, tensors);
    }

    private protected override void LoadFrom(SafetensorsFile file, string prefix, StateDictLoadOptions? options, string source)
    {
        using Call call = BeginCall();
        (string Name, Linear Layer)[] layers = Layers();
        var expected = layers.SelectMany(l => l.Layer.StateDictEntries(l.Name)).ToList();
        if (Config.UseXpos)
        {
            expected.Add(new StateDictEntry(XposScaleName, [Config.HeadDim / 2], DType.Float32, CheckXposScale));
        }

        if (RelPosBias is not null)
        {
            expected.Add(new StateDictEntry(RelPosBiasName, [RelPosBias.NumBuckets, RelPosBias.Heads], DType.Float32));
        }

        Dictionary<string, Tensor> loaded = IO.StateDict.Read(file, expected, prefix, options, GetType().Name, source);
        Linear[] replaced = Array.ConvertAll(layers, l => l.Layer.WithLoaded(loaded, l.Name));
        RelativePositionBias? bias = RelPosBias is null ? null : new RelativePositionBias(loaded[RelPosBiasName], RelPosBias.Bidirectional, RelPosBias.MaxDistance);
        Linear[] old = [_qProj, _kProj, _vProj, _outProj];
        (_qProj, _kProj, _vProj, _outProj, _relPosBias) = (replaced[0], replaced[1], replaced[2], replaced[3], bias);
        if (_ownsProjections)
        {
            foreach (Linear linear in old)
            {
                linear.Dispose();
            }
        }

        _ownsProjections = true;   // Load made the new ones
    }

    private (string Name, Linear Layer)[] Layers() => [("q_proj", QProj), ("k_proj", KProj), ("v_proj", VProj), ("out_proj", OutProj)];

    // torchscale registers XPOS's scale as a buffer, so it is in every state dict of a module with xpos.
    private Tensor XposScale()
    {
        var scale = new float[Config.HeadDim / 2];
        for (int i = 0; i < scale.Length; i++)
        {
            scale[i] = Xpos.BaseScale(i, Config.HeadDim);
        }

        return Tensor.FromArray(scale, scale.Length);
    }

    private string? CheckXposScale(Tensor loaded, SafetensorsDType file)
    {
        float[] actual = loaded.ToFloatArray(), expected = XposScale().ToFloatArray();
        float tolerance = XposScaleTolerance(file);
        for (int i = 0; i < expected.Length; i++)
        {
            if (!(MathF.Abs(actual[i] - expected[i]) <= tolerance * expected[i]))
            {
                return $"holds {actual[i]} at index {i}; XPOS computes (2i + 0.4E)/(1.4E) = {expected[i]} there (E = {Config.HeadDim}), and the module cannot use other values";
            }
        }

        return null;
    }
}
