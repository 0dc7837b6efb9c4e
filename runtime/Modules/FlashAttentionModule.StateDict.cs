using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using AttentionGen.IO;

namespace AttentionGen.Modules;

/// <summary>
/// Load and Save in safetensors under zeta <c>FlashAttentionTwo</c>'s state-dict names: <c>to_q.weight</c>,
/// <c>to_kv.weight</c>, <c>to_out.weight</c> (no biases). See docs/safetensors.md.
/// </summary>
public abstract partial class FlashAttentionModule
{
    private const string ToQName = "to_q", ToKvName = "to_kv", ToOutName = "to_out";

    /// <summary>The weights by state-dict name, each prefixed with <paramref name="prefix"/> (e.g. "layers.0.attn.").</summary>
    public IReadOnlyDictionary<string, Tensor> StateDict(string prefix = "") => IO.StateDict.Prefixed(prefix, Layers().SelectMany(l => l.Layer.StateDictTensors(l.Name)));

    /// <summary>Writes <see cref="StateDict"/> to <paramref name="path"/> (replaced only once complete), metadata {"format": "pt"}.</summary>
    public void Save(string path, string prefix = "") => Safetensors.Save(path, StateDict(prefix), IO.StateDict.PyTorchMetadata);

    /// <summary>Writes <see cref="StateDict"/> to <paramref name="stream"/>, metadata {"format": "pt"}.</summary>
    public void Save(Stream stream, string prefix = "") => Safetensors.Save(stream, StateDict(prefix), IO.StateDict.PyTorchMetadata);

    /// <summary>
    /// Replaces the weights with the tensors named <paramref name="prefix"/> + state-dict name in the safetensors file
    /// at <paramref name="path"/>, converted to the dtype the module holds. All or nothing: a missing, unexpected or
    /// mis-shaped tensor throws <see cref="StateDictMismatchException"/> listing every problem, and the module is unchanged.
    /// Not safe while another thread runs <see cref="Forward"/>.
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

    private void LoadFrom(SafetensorsFile file, string prefix, StateDictLoadOptions? options, string source)
    {
        using Call call = BeginCall();
        (string Name, Linear Layer)[] layers = Layers();
        Dictionary<string, Tensor> loaded = IO.StateDict.Read(file, layers.SelectMany(l => l.Layer.StateDictEntries(l.Name)).ToArray(), prefix, options, GetType().Name, source);
        Linear[] replaced = Array.ConvertAll(layers, l => l.Layer.WithLoaded(loaded, l.Name));
        if (Device.Kind == DeviceKind.Cuda)
        {
            // As To(device) does, so a failure here (out of GPU memory) still leaves the module as it was.
            foreach (Linear linear in replaced)
            {
                linear.Prepare(Device, DType.BFloat16);
            }
        }

        // The module made its Linears (around the caller's weights or its own): the replaced ones are its to release.
        Linear[] old = [_toQ, _toKv, _toOut];
        (_toQ, _toKv, _toOut) = (replaced[0], replaced[1], replaced[2]);
        foreach (Linear linear in old)
        {
            linear.Dispose();
        }
    }

    private (string Name, Linear Layer)[] Layers() => [(ToQName, ToQ), (ToKvName, ToKv), (ToOutName, ToOut)];
}
