using System;

namespace AttentionGen;

/// <summary>
/// On a parameter of a mod helper (such as <c>ScoreMods.TanhSoftcap</c>'s cap): the argument must be greater than 0. A
/// kernel cannot throw on a GPU, so the analyzers check it where it is a constant, at the call site (AG0004).
/// </summary>
[AttributeUsage(AttributeTargets.Parameter, AllowMultiple = false, Inherited = false)]
public sealed class MustBePositiveAttribute : Attribute
{
}

/// <summary>
/// On a parameter of a mod helper: the argument must not be negative. The analyzers check a constant argument at the
/// call site (AG0005).
/// </summary>
[AttributeUsage(AttributeTargets.Parameter, AllowMultiple = false, Inherited = false)]
public sealed class MustNotBeNegativeAttribute : Attribute
{
}
