using System;

namespace AttentionGen;

/// <summary>
/// Declares a flex_attention module (SPEC §5) whose mask and score functions are static methods
/// of the class marked <see cref="MaskModAttribute"/> and <see cref="ScoreModAttribute"/>.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class FlexAttribute : Attribute
{
    /// <summary>Name of a <c>[MaskMod] static bool M(int b, int h, int q, int kv)</c>; use <c>nameof</c>.</summary>
    public string? MaskMod { get; set; }

    /// <summary>Name of a <c>[ScoreMod] static float F(float score, int b, int h, int q, int kv)</c>.</summary>
    public string? ScoreMod { get; set; }

    /// <summary>Block size of the block mask, in query and key rows.</summary>
    public int BlockSize { get; set; } = 128;
}

/// <summary>Marks <c>static bool M(int b, int h, int q, int kv)</c>: false masks the pair out.</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false, Inherited = false)]
public sealed class MaskModAttribute : Attribute
{
}

/// <summary>Marks <c>static float F(float score, int b, int h, int q, int kv)</c>, applied after scaling, before softmax.</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false, Inherited = false)]
public sealed class ScoreModAttribute : Attribute
{
}
