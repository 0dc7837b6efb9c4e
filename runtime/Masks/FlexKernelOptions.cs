using System;
using System.Collections.Generic;

namespace AttentionGen.Masks;

/// <summary>
/// flex_attention's <c>kernel_options</c>, validated: BLOCK_M (query rows per tile), BLOCK_N (keys per tile),
/// num_stages (pipeline depth of the GPU kernel) and num_warps. Unknown keys are an error, not ignored.
/// </summary>
public sealed record FlexKernelOptions
{
    private static readonly string[] Known = ["BLOCK_M", "BLOCK_N", "num_stages", "num_warps"];

    /// <summary>Query rows per tile; null lets the kernel choose.</summary>
    public int? BlockM { get; init; }

    /// <summary>Keys per tile; null lets the kernel choose.</summary>
    public int? BlockN { get; init; }

    /// <summary>Pipeline stages of the GPU kernel (1–4).</summary>
    public int? NumStages { get; init; }

    /// <summary>Warps per GPU block (1–16).</summary>
    public int? NumWarps { get; init; }

    /// <summary>Options from PyTorch's dictionary form; every key must be one of BLOCK_M, BLOCK_N, num_stages, num_warps.</summary>
    public static FlexKernelOptions FromDictionary(IReadOnlyDictionary<string, int> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var result = new FlexKernelOptions();
        foreach ((string key, int value) in options)
        {
            result = key switch
            {
                "BLOCK_M" => result with { BlockM = value },
                "BLOCK_N" => result with { BlockN = value },
                "num_stages" => result with { NumStages = value },
                "num_warps" => result with { NumWarps = value },
                _ => throw new ArgumentException($"kernelOptions has an unknown key '{key}'; expected one of {string.Join(", ", Known)}.", nameof(options)),
            };
        }

        result.Validate();
        return result;
    }

    /// <summary>Throws when a value is out of range; the message names the option, the range and the value.</summary>
    public void Validate()
    {
        Check("BLOCK_M", BlockM, 16, 256, multipleOf: 16);
        Check("BLOCK_N", BlockN, 16, 256, multipleOf: 16);
        Check("num_stages", NumStages, 1, 4, multipleOf: 1);
        Check("num_warps", NumWarps, 1, 16, multipleOf: 1);
    }

    private static void Check(string name, int? value, int min, int max, int multipleOf)
    {
        if (value is int v && (v < min || v > max || v % multipleOf != 0))
        {
            string rule = multipleOf == 1 ? $"in [{min}, {max}]" : $"a multiple of {multipleOf} in [{min}, {max}]";
            throw new ArgumentOutOfRangeException("kernelOptions", v, $"{name} must be {rule}.");
        }
    }
}
