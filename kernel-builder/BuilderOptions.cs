using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using AttentionGen.Cuda;

namespace AttentionGen.KernelBuilder;

/// <summary>The builder's command line, checked: a bad value is an <see cref="ArgumentException"/> naming it.</summary>
internal static class BuilderOptions
{
    private static readonly string[] Required = ["--app", "--cache", "--out", "--head-dims", "--architectures"];
    private static readonly string[] Known = [.. Required, "--references"];

    /// <summary>The options as name → value; each name once, every required one present.</summary>
    public static Dictionary<string, string> Parse(IReadOnlyList<string> args)
    {
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < args.Count; i += 2)
        {
            if (!Known.Contains(args[i]) || i + 1 >= args.Count)
            {
                throw new ArgumentException($"Expected one of {string.Join(", ", Known)} followed by a value; got \"{args[i]}\"{(i + 1 >= args.Count ? " without a value" : string.Empty)}.", nameof(args));
            }

            if (!options.TryAdd(args[i], args[i + 1]))
            {
                throw new ArgumentException($"{args[i]} is given twice.", nameof(args));
            }
        }

        string[] missing = Required.Where(r => !options.ContainsKey(r)).ToArray();
        return missing.Length == 0 ? options : throw new ArgumentException($"Missing {string.Join(", ", missing)}.", nameof(args));
    }

    /// <summary>A ';'- or ','-separated list, blanks dropped.</summary>
    public static string[] List(string value) =>
        value.Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>AttentionGenKernelHeadDims: head dims the kernels take (multiples of 8 up to 256).</summary>
    public static IReadOnlyList<int> HeadDims(string value)
    {
        var dims = new List<int>();
        foreach (string item in List(value))
        {
            if (!int.TryParse(item, NumberStyles.None, CultureInfo.InvariantCulture, out int dim) || !FlashAttentionCuda.TakesHeadDim(dim))
            {
                throw new ArgumentException($"AttentionGenKernelHeadDims takes multiples of 8 up to {FlashAttentionCuda.MaxHeadDim}; got \"{item}\".", nameof(value));
            }

            dims.Add(dim);
        }

        return dims.Distinct().ToArray();
    }
}
