using System;
using System.Collections.Generic;
using System.IO;
using AttentionGen.IO;

namespace AttentionGen.Modules;

/// <summary>
/// A module whose weights load from and save to safetensors files under its reference implementation's state-dict
/// names (each module's class documents them; see docs/safetensors.md).
/// </summary>
public abstract class WeightedModule : DisposableModule
{
    private protected WeightedModule()
    {
    }

    /// <summary>The weights (and buffers) by state-dict name, each prefixed with <paramref name="prefix"/> (e.g. "layers.0.attn.").</summary>
    public abstract IReadOnlyDictionary<string, Tensor> StateDict(string prefix = "");

    /// <summary>Writes <see cref="StateDict"/> to <paramref name="path"/> (replaced only once complete), metadata {"format": "pt"}.</summary>
    public void Save(string path, string prefix = "") => Safetensors.Save(path, StateDict(prefix), IO.StateDict.PyTorchMetadata);

    /// <summary>Writes <see cref="StateDict"/> to <paramref name="stream"/>, metadata {"format": "pt"}.</summary>
    public void Save(Stream stream, string prefix = "") => Safetensors.Save(stream, StateDict(prefix), IO.StateDict.PyTorchMetadata);

    /// <summary>
    /// Replaces the weights with the tensors named <paramref name="prefix"/> + state-dict name in the safetensors file
    /// at <paramref name="path"/>, converted to the dtypes the module holds. All or nothing: a missing, unexpected or
    /// mis-shaped tensor throws <see cref="StateDictMismatchException"/> listing every problem, and the module is
    /// unchanged. Not safe while another thread runs the module.
    /// </summary>
    public void Load(string path, string prefix = "", StateDictLoadOptions? options = null)
    {
        using SafetensorsFile file = SafetensorsFile.Open(path);
        LoadFrom(file, prefix, options, nameof(path));
    }

    /// <summary>As <see cref="Load(string, string, StateDictLoadOptions?)"/>, from a stream holding a safetensors file.</summary>
    public void Load(Stream stream, string prefix = "", StateDictLoadOptions? options = null)
    {
        using SafetensorsFile file = SafetensorsFile.Open(stream);
        LoadFrom(file, prefix, options, nameof(stream));
    }

    /// <summary>As <see cref="Load(string, string, StateDictLoadOptions?)"/>, from an open file (one file, many layers).</summary>
    public void Load(SafetensorsFile file, string prefix = "", StateDictLoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(file);
        LoadFrom(file, prefix, options, nameof(file));
    }

    /// <summary>Checks and reads the module's tensors from <paramref name="file"/>, then swaps them in; <paramref name="source"/> names the Load argument.</summary>
    private protected abstract void LoadFrom(SafetensorsFile file, string prefix, StateDictLoadOptions? options, string source);
}
