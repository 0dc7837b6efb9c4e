using System.Collections.Generic;
using AttentionGen.IO;

namespace AttentionGen.Modules;

/// <summary>A Linear's part of a module's state dict, under PyTorch's names: <c>name.weight</c> and <c>name.bias</c>.</summary>
public sealed partial class Linear
{
    /// <summary>The entries a file must hold for this layer, loaded in the dtypes the layer holds now.</summary>
    internal IEnumerable<StateDictEntry> StateDictEntries(string name)
    {
        yield return new StateDictEntry(name + ".weight", [OutFeatures, InFeatures], Weight.DType);
        if (Bias is not null)
        {
            yield return new StateDictEntry(name + ".bias", [OutFeatures], Bias.DType);
        }
    }

    /// <summary>This layer's tensors under <paramref name="name"/>, as <c>nn.Linear.state_dict()</c> names them.</summary>
    internal IEnumerable<(string Name, Tensor Tensor)> StateDictTensors(string name)
    {
        yield return (name + ".weight", Weight);
        if (Bias is not null)
        {
            yield return (name + ".bias", Bias);
        }
    }

    /// <summary>
    /// A layer of the same size holding the tensors read for <see cref="StateDictEntries"/>: read from a file for it alone,
    /// so it owns them and its Dispose releases them, as it does the weights a module draws itself.
    /// </summary>
    internal Linear WithLoaded(IReadOnlyDictionary<string, Tensor> loaded, string name) =>
        new(loaded[name + ".weight"], InFeatures, OutFeatures, name, Bias is null ? null : loaded[name + ".bias"], ownsParameters: true);
}
