using System;
using System.Collections.Generic;
using AttentionGen.Inference;

namespace AttentionGen.Tests.Inference;

/// <summary>
/// A sequence of N tokens cut into cache steps: a prompt of P tokens (none when P = 0), then decode steps of 1..16 tokens
/// until N; and the glue that runs a step function over them and lays the outputs out as one sequence would.
/// </summary>
internal static class CacheSteps
{
    /// <summary>(start, count) of each step: a prefill of <paramref name="prompt"/> tokens, then random decode steps.</summary>
    public static List<(int Start, int Count, bool IsPrompt)> Plan(Random random, int tokens, int prompt)
    {
        var steps = new List<(int, int, bool)>();
        if (prompt > 0)
        {
            steps.Add((0, prompt, true));
        }

        for (int start = prompt; start < tokens;)
        {
            int count = Math.Min(tokens - start, random.Next(1, DecodeAttention.MaxQueries + 1));
            steps.Add((start, count, false));
            start += count;
        }

        return steps;
    }

    /// <summary>
    /// Runs <paramref name="step"/>(start, count, isPrompt) for each step and copies its [B, count, width] output (float32)
    /// into a [B, tokens, width] array.
    /// </summary>
    public static float[] Run(List<(int Start, int Count, bool IsPrompt)> steps, int batch, int tokens, int width, Func<int, int, bool, Tensor> step)
    {
        var all = new float[batch * tokens * width];
        foreach ((int start, int count, bool isPrompt) in steps)
        {
            using Tensor output = step(start, count, isPrompt);
            float[] rows = output.ToFloatArray();
            for (int b = 0; b < batch; b++)
            {
                Array.Copy(rows, b * count * width, all, ((b * tokens) + start) * width, count * width);
            }
        }

        return all;
    }

    /// <summary>The elements as float64, to compare against with Compare.Output.</summary>
    public static double[] Widen(float[] values) => Array.ConvertAll(values, v => (double)v);
}
