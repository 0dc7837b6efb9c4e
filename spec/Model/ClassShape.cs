namespace AttentionGen.Spec.Model;

/// <summary>What the generator needs to know of the attributed class, as plain data.</summary>
internal sealed record ClassShape(string? Namespace, string Name, bool IsPartial, bool IsNested, bool IsGeneric, int AttentionAttributeCount)
{
    /// <summary>File name of the generated source: unique per namespace and class.</summary>
    public string HintName => Namespace is null ? Name : $"{Namespace}.{Name}";
}
