using System;
using System.Linq;
using AttentionGen.Reference;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>PyTorch's attn_mask on a GPU: the key-mask path, the additive table (bool as 0 / -inf) and a float mask, against the reference.</summary>
public class SdpaCudaTests
{
    private const int B = 2, H = 2, L = 70, S = 90, E = 64;

    [GpuFact]
    public void BoolKeyMaskRunsAsTheKeyPaddingMask() =>
        Check(1101, Tensor.FromArray(Enumerable.Range(0, B * S).Select(i => i % 3 != 0 && i >= S).ToArray(), B, 1, 1, S));

    [GpuFact]
    public void BoolMaskOverQueriesAndKeysRunsAsATable() =>
        Check(1102, Tensor.FromArray(Enumerable.Range(0, L * S).Select(i => (i * 7919) % 5 != 0 && i / S != 3).ToArray(), L, S));

    [GpuFact]
    public void FloatMaskIsAddedToTheScaledScores()
    {
        (Random random, _) = FreshRandom.For(1103);
        Check(1103, SdpaContractTests.Bias(random, [B, 1, L, S]).To(DType.BFloat16));
    }

    [GpuFact]
    public void HeadDim40RunsOnTheGpuAndKeepsItsWidth()
    {
        (Random random, string seed) = FreshRandom.For(4041);
        Tensor q = Tensor.RandomNormal(random, DType.BFloat16, 2, 8, 333, 40);
        Tensor k = Tensor.RandomNormal(random, DType.BFloat16, 2, 8, 333, 40);
        Tensor v = Tensor.RandomNormal(random, DType.BFloat16, 2, 8, 333, 40);
        Device gpu = Device.Cuda(0);

        using AttentionOutput result = Attention.ScaledDotProduct(q.To(gpu), k.To(gpu), v.To(gpu), causal: true);

        Assert.Equal([2, 8, 333, 40], result.Output.Shape.ToArray());
        Compare.Output(result.Output.ToFloatArray(), Compare.Reference(q, k, v, causal: true, keep: null, 333).Output, 1e-2, seed);
    }

    private static void Check(int caseId, Tensor mask)
    {
        (Random random, string seed) = FreshRandom.For(caseId);
        Tensor q = Tensor.RandomNormal(random, DType.BFloat16, B, H, L, E);
        Tensor k = Tensor.RandomNormal(random, DType.BFloat16, B, H, S, E);
        Tensor v = Tensor.RandomNormal(random, DType.BFloat16, B, H, S, E);
        Device gpu = Device.Cuda(0);

        using AttentionOutput result = Attention.ScaledDotProduct(q.To(gpu), k.To(gpu), v.To(gpu), mask.To(gpu));

        Func<int, int, int, int, float> at = SdpaContractTests.Broadcast(mask);
        ReferenceResult expected = mask.DType == DType.Bool
            ? ReferenceAttention.Compute(q, k, v, (b, h, i, j) => at(b, h, i, j) != 0)
            : ReferenceAttention.Compute(q, k, v, scoreMod: (s, b, h, i, j) => s + at(b, h, i, j));
        SdpaContractTests.Expect(result, expected, 2e-2, seed);
    }
}
