using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace AttentionGen.CompileTime.Translate;

/// <summary>
/// The .NET methods a mod may call and their CUDA C names, keyed by type, name and parameter types.
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
        ["System.MathF.Min(float, float)"] = "ag_fminf",
        ["System.MathF.Max(float, float)"] = "ag_fmaxf",
        ["System.MathF.Pow(float, float)"] = "powf",
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
        ["System.Math.Min(int, int)"] = "min",
        ["System.Math.Max(int, int)"] = "max",
        ["System.Math.Min(float, float)"] = "ag_fminf",
        ["System.Math.Max(float, float)"] = "ag_fmaxf",
        ["System.Math.Min(double, double)"] = "ag_fmin",
        ["System.Math.Max(double, double)"] = "ag_fmax",
        ["System.Math.Pow(double, double)"] = "pow",
        ["System.Math.Floor(double)"] = "floor",
        ["System.Math.Ceiling(double)"] = "ceil",
    };

    /// <summary>
    /// Definitions of the ag_ functions above, which the translator writes before a mod that calls one. .NET's Min and
    /// Max of floating point return NaN when either argument is NaN; C's fmin/fmax return the other argument.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> Helpers = new Dictionary<string, string>
    {
        ["ag_fminf"] = NanPropagating("float", "ag_fminf", "fminf"),
        ["ag_fmaxf"] = NanPropagating("float", "ag_fmaxf", "fmaxf"),
        ["ag_fmin"] = NanPropagating("double", "ag_fmin", "fmin"),
        ["ag_fmax"] = NanPropagating("double", "ag_fmax", "fmax"),
    };

    /// <summary>The CUDA name of <paramref name="method"/>, or null when it has none.</summary>
    public static string? Lookup(IMethodSymbol method)
    {
        // Every parameter is in the key: Math.Log(double, double) (a base) is not log(double).
        string parameters = string.Join(", ", method.Parameters.Select(p => p.Type.ToDisplayString()));
        return Table.TryGetValue($"{method.ContainingType.ToDisplayString()}.{method.Name}({parameters})", out string? cuda) ? cuda : null;
    }

    private static string NanPropagating(string type, string name, string c) =>
        $"__device__ __forceinline__ {type} {name}({type} a, {type} b) {{ return (a != a || b != b) ? a + b : {c}(a, b); }}\n";
}
