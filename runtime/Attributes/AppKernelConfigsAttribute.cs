using System;

namespace AttentionGen;

/// <summary>
/// Names run-time layer configurations to the app's kernel step (docs/prebuilt-kernels.md): a <c>DecoderAttentionModule</c>'s
/// config is a value, not a type, so the build cannot find it by scanning classes. Mark a public static property or
/// parameterless method returning <c>IEnumerable&lt;DecoderAttentionConfig&gt;</c>; the build reads it by reflection and
/// compiles the kernels those configs specialize (the app itself never reads the attribute).
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Method, AllowMultiple = false, Inherited = false)]
public sealed class AppKernelConfigsAttribute : Attribute
{
}
