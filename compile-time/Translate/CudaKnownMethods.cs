using System.Collections.Generic;
using Microsoft.CodeAnalysis;

namespace AttentionGen.CompileTime.Translate;

/// <summary>
/// The .NET methods a mod may call and their CUDA C names, keyed by type, name and parameter type.
/// Adding a function is one line here; anything not listed is reported by the translatability rules.
/// </summary>
internal static class CudaKnownMethods
{
    private static readonly Dictionary<string, string> Table = new()
    {
        ["System.MathF.Exp(float)"] = "expf",
        ["System.MathF.Log(float)"] = "logf",
        ["System.MathF.Log2(float)"] = "log2f",
        ["System.MathF.Sqrt(float)"] = "sqrtf",
        ["System.MathF.Tanh(float)"] = "tanhf",
        ["System.MathF.Sin(float)"] = "sinf",
        ["System.MathF.Cos(float)"] = "cosf",
        ["System.MathF.Abs(float)"] = "fabsf",
        ["System.MathF.Min(float)"] = "fminf",
        ["System.MathF.Max(float)"] = "fmaxf",
        ["System.MathF.Pow(float)"] = "powf",
        ["System.MathF.Floor(float)"] = "floorf",
        ["System.MathF.Ceiling(float)"] = "ceilf",
        ["System.Math.Exp(double)"] = "exp",
        ["System.Math.Log(double)"] = "log",
        ["System.Math.Log2(double)"] = "log2",
        ["System.Math.Sqrt(double)"] = "sqrt",
        ["System.Math.Tanh(double)"] = "tanh",
        ["System.Math.Abs(double)"] = "fabs",
        ["System.Math.Abs(float)"] = "fabsf",
        ["System.Math.Abs(int)"] = "abs",
        ["System.Math.Min(int)"] = "min",
        ["System.Math.Max(int)"] = "max",
        ["System.Math.Min(float)"] = "fminf",
        ["System.Math.Max(float)"] = "fmaxf",
        ["System.Math.Min(double)"] = "fmin",
        ["System.Math.Max(double)"] = "fmax",
        ["System.Math.Pow(double)"] = "pow",
        ["System.Math.Floor(double)"] = "floor",
        ["System.Math.Ceiling(double)"] = "ceil",
    };

    /// <summary>The CUDA name of <paramref name="method"/>, or null when it has none.</summary>
    public static string? Lookup(IMethodSymbol method)
    {
        string parameter = method.Parameters.Length > 0 ? method.Parameters[0].Type.ToDisplayString() : string.Empty;
        return Table.TryGetValue($"{method.ContainingType.ToDisplayString()}.{method.Name}({parameter})", out string? cuda) ? cuda : null;
    }
}
