using System;
using System.Collections.Generic;
using System.Linq;
using AttentionGen.IO;

namespace AttentionGen.Modules;

/// <summary>
/// Load and Save in safetensors under Hugging Face's names for a decoder layer's <c>self_attn</c>: <c>q_proj.weight</c>,
/// <c>k_proj.weight</c>, <c>v_proj.weight</c>, <c>o_proj.weight</c> (each with <c>.bias</c> when attention_bias), and
/// <c>q_norm.weight</c>, <c>k_norm.weight</c> [head_dim] with q/k norm. A checkpoint's layer loads with the prefix
/// <c>model.layers.{i}.self_attn.</c>.
/// </summary>
public sealed partial class DecoderAttentionModule
{
    private const string QProjName = "q_proj", KProjName = "k_proj", VProjName = "v_proj", OProjName = "o_proj";
    private const string QNormName = "q_norm.weight", KNormName = "k_norm.weight";

    /// <inheritdoc/>
    public override IReadOnlyDictionary<string, Tensor> StateDict(string prefix = "")
    {
        ThrowIfDisposed();
        IEnumerable<(string Name, Tensor Tensor)> entries = Layers().SelectMany(l => l.Layer.StateDictTensors(l.Name));
        if (_norms is not null)
        {
            entries = entries.Append((QNormName, _norms.Q)).Append((KNormName, _norms.K));
        }

        return IO.StateDict.Prefixed(prefix, entries);
    }

    private protected override void LoadFrom(SafetensorsFile file, string prefix, StateDictLoadOptions? options, string source)
    {
        using Call call = BeginCall();
        (string Name, Linear Layer)[] layers = Layers();
        IEnumerable<StateDictEntry> expected = layers.SelectMany(l => l.Layer.StateDictEntries(l.Name));
        if (_norms is not null)
        {
            expected = expected.Append(new StateDictEntry(QNormName, [Config.HeadDim], DType.Float32))
                .Append(new StateDictEntry(KNormName, [Config.HeadDim], DType.Float32));
        }

        Dictionary<string, Tensor> loaded = IO.StateDict.Read(file, expected.ToArray(), prefix, options, GetType().Name, source);
        Linear[] replaced = Array.ConvertAll(layers, l => l.Layer.WithLoaded(loaded, l.Name));
        HeadNormWeights? norms = _norms is null ? null : new HeadNormWeights(loaded[QNormName], loaded[KNormName]);

        // The module made the Linears and norms it replaces: they are its to release.
        Linear[] old = [_qProj, _kProj, _vProj, _oProj];
        HeadNormWeights? oldNorms = _norms;
        (_qProj, _kProj, _vProj, _oProj, _norms) = (replaced[0], replaced[1], replaced[2], replaced[3], norms);
        foreach (Linear linear in old)
        {
            linear.Dispose();
        }

        oldNorms?.Dispose();
    }

    private (string Name, Linear Layer)[] Layers() => [(QProjName, QProj), (KProjName, KProj), (VProjName, VProj), (OProjName, OProj)];
}
