using System;

namespace AttentionGen.IO;

/// <summary>
/// One tensor a module holds: its state-dict name (without prefix), its shape, the dtype it is loaded as, and an
/// optional check of the loaded values (for buffers the module computes itself) returning a problem or null.
/// </summary>
internal sealed record StateDictEntry(string Name, int[] Shape, DType LoadAs, Func<Tensor, string?>? CheckValues = null)
{
    public string ShapeText => $"[{string.Join(", ", Shape)}]";
}
