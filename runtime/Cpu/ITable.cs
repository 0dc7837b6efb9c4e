namespace AttentionGen.Cpu;

/// <summary>
/// Read-only values a mod looks up by a flat index (a key mask, a bias table). Mods that read data take it through this
/// interface, so one mod's rule runs over host arrays (<see cref="HostTable{T}"/>) or over another kernel's memory (the
/// ILGPU package's views), instead of being written once per backend.
/// </summary>
internal interface ITable<T>
{
    /// <summary>Whether the table holds values (a mod without the optional data skips its lookups).</summary>
    bool HasValues { get; }

    /// <summary>The value at <paramref name="index"/>.</summary>
    T this[int index] { get; }
}

/// <summary>A table over a host array, or none.</summary>
internal readonly struct HostTable<T>(T[]? values) : ITable<T>
{
    /// <summary>The array, or null.</summary>
    public T[]? Values => values;

    /// <inheritdoc/>
    public bool HasValues => values is not null;

    /// <inheritdoc/>
    public T this[int index] => values![index];
}
