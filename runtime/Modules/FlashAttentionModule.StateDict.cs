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

    /// <inheritdoc/>
    public override IReadOnlyDictionary<string, Tensor> StateDict(string prefix = "") => IO.StateDict.Prefixed(prefix, Layers().SelectMany(l => l.Layer.StateDictTensors(l.Name)));

    private protected override void LoadFrom(SafetensorsFile file, string prefix, StateDictLoadOptions? options, string source)
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
