using System;

namespace AttentionGen.IO;

/// <summary>
/// One tensor a module holds: its state-dict name (without prefix), its shape, the dtype it is loaded as, and an
/// optional check of the loaded values (for buffers the module computes itself), given the file's dtype (whose rounding
/// the values carry), returning a problem or null.
/// </summary>
internal sealed record StateDictEntry(string Name, int[] Shape, DType LoadAs, Func<Tensor, SafetensorsDType, string?>? CheckValues = null)
{
    public string ShapeText => $"[{string.Join(", ", Shape)}]";
}
