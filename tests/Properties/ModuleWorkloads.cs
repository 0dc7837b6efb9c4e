using System;
using AttentionGen.Modules;
using AttentionGen.Tests.Modules;
using AttentionGen.Tests.Numerics;

namespace AttentionGen.Tests.Properties;

/// <summary>
/// A generated layer with fixed inputs: <see cref="Run"/>(i) calls it on input set i and returns its result (the output,
/// then the LSE for flex layers) as floats, with the call's tensors handed back to their pool.
/// </summary>
internal sealed record ModuleWorkload(string Name, Func<int, float[]> Run)
{
    /// <summary>Input sets per layer; input set i is the same tensors on every call.</summary>
    public const int InputSets = 3;

    /// <summary>Four [FlashAttention] and four [Flex] layers (declared in tests/Modules and tests/Numerics), small shapes.</summary>
    public static ModuleWorkload[] Eight() =>
    [
        Flash("TinyCausalAttention seed 1", new TinyCausalAttention(seed: 1), dim: 24, seed: 11),
        Flash("TinyCausalAttention seed 2", new TinyCausalAttention(seed: 2), dim: 24, seed: 12),
        Flash("WidthFromConstructorAttention seed 3", new WidthFromConstructorAttention(dim: 20, seed: 3), dim: 20, seed: 13),
        Flash("WidthFromConstructorAttention seed 4", new WidthFromConstructorAttention(dim: 20, seed: 4), dim: 20, seed: 14),
        Flex("CausalBiasFlex", new CausalBiasFlex(), seed: 15),
        Flex("SlidingWindowFlex", new SlidingWindowFlex(), seed: 16),
        Flex("DocumentFlex", new DocumentFlex(), seed: 17),
        Flex("EmptyRowsFlex", new EmptyRowsFlex(), seed: 18),
    ];

    /// <summary>x [1, 21, dim]; input set 2 also attends to a context [1, 29, dim] under a key-padding mask.</summary>
    public static ModuleWorkload Flash(string name, FlashAttentionModule module, int dim, int seed, int batch = 1, int n = 21, int m = 29)
    {
        var random = new Random(seed);
        var xs = new Tensor[InputSets];
        for (int i = 0; i < InputSets; i++)
        {
            xs[i] = Tensor.RandomNormal(random, DType.Float32, batch, n, dim);
        }

        Tensor context = Tensor.RandomNormal(random, DType.Float32, batch, m, dim);
        var keep = new bool[batch * m];
        for (int j = 0; j < keep.Length; j++)
        {
            keep[j] = random.NextDouble() < 0.7;
        }

        Tensor mask = Tensor.FromArray(keep, batch, m);
        return new ModuleWorkload(name, i =>
        {
            using Tensor output = i == 2 ? module.Forward(xs[i], context, mask) : module.Forward(xs[i]);
            return output.ToFloatArray();
        });
    }

    /// <summary>q, k, v [1, 4, 30, 16] (LSE included in the result).</summary>
    public static ModuleWorkload Flex(string name, FlexAttentionModule module, int seed, int batch = 1, int heads = 4, int length = 30, int e = 16)
    {
        var random = new Random(seed);
        var operands = new Tensor[InputSets * 3];
        for (int i = 0; i < operands.Length; i++)
        {
            operands[i] = Tensor.RandomNormal(random, DType.Float32, batch, heads, length, e);
        }

        return new ModuleWorkload(name, i =>
        {
            using AttentionOutput result = module.Forward(operands[3 * i], operands[(3 * i) + 1], operands[(3 * i) + 2]);
            return [.. result.Output.ToFloatArray(), .. result.Lse.ToFloatArray()];
        });
    }
}
