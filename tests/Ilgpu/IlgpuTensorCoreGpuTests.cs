using System;
using System.Linq;
using AttentionGen.Cpu;
using AttentionGen.ILGpu;
using AttentionGen.ILGpu.Kernels.TensorCores;
using AttentionGen.Reference;
using AttentionGen.Tests.Cuda;
using AttentionGen.Tests.Numerics;
using ILGPU;
using ILGPU.Runtime;
using Xunit;

namespace AttentionGen.Tests.Ilgpu;

/// <summary>
/// The tensor-core kernel on ILGPU's CUDA accelerator against the float64 reference on the same 16-bit inputs: bf16 and
/// fp16, dense, causal, a window mask with a softcap score, a key mask that leaves rows with no key, lengths that are not
/// multiples of the tiles, head dims 64 and 128. Each element is the reference rounded to q's dtype, give or take what
/// rounding P to 16 bits for the P·V product adds (at most one unit roundoff of the dtype times max |v| per weight).
/// Skipped without a GPU.
/// </summary>
public sealed class IlgpuTensorCoreGpuTests(IlgpuCudaFixture fixture) : IClassFixture<IlgpuCudaFixture>
{
    private const double LseTolerance = 1e-3;

    public static TheoryData<DType, int, int, int, int, string> Cases()
    {
        var cases = new TheoryData<DType, int, int, int, int, string>();
        foreach (DType dtype in new[] { DType.BFloat16, DType.Float16 })
        {
            int id = dtype == DType.BFloat16 ? 700 : 710;
            cases.Add(dtype, id + 1, 150, 133, 64, "dense");
            cases.Add(dtype, id + 2, 150, 133, 128, "causal");
            cases.Add(dtype, id + 3, 150, 133, 64, "window+softcap");
            cases.Add(dtype, id + 4, 150, 133, 128, "key mask");
        }

        return cases;
    }

    [GpuTheory]
    [MemberData(nameof(Cases))]
    public void MatchesTheReference(DType dtype, int caseId, int n, int m, int e, string variant)
    {
        const int b = 2, hq = 4, hkv = 2, window = 37;
        const float cap = 5f;
        var (random, seed) = FreshRandom.For(caseId);
        Tensor q = Tensor.RandomNormal(random, dtype, b, hq, n, e);
        Tensor k = Tensor.RandomNormal(random, dtype, b, hkv, m, e);
        Tensor v = Tensor.RandomNormal(random, dtype, b, hkv, m, e);
        Accelerator accelerator = fixture.Accelerator;
        AssertTheTensorCoresRun(accelerator, q, v);

        // Batch 0 drops its first 3 keys (with causal, rows 0..2 see none) and every fifth; batch 1 drops every key.
        bool[] keep = Enumerable.Range(0, b * m).Select(i => i < m && i >= 3 && i % 5 != 0).ToArray();
        (AttentionOutput result, ReferenceResult expected) = variant switch
        {
            "dense" => (IlgpuAttention.ScaledDotProduct(accelerator, q, k, v), Compare.Reference(q, k, v, causal: false, keep: null, m)),
            "causal" => (IlgpuAttention.ScaledDotProduct(accelerator, q, k, v, causal: true), Compare.Reference(q, k, v, causal: true, keep: null, m)),
            "window+softcap" => (
                IlgpuAttention.ScaledDotProduct(accelerator, q, k, v, new SlidingWindowMask(window), new SoftcapScore(cap)),
                ReferenceAttention.Compute(q, k, v, (_, _, i, j) => j <= i && i - j < window, scoreMod: (s, _, _, _, _) => cap * Math.Tanh(s / cap))),
            _ => (IlgpuAttention.ScaledDotProduct(accelerator, q, k, v, causal: true, Tensor.FromArray(keep, b, m)), Compare.Reference(q, k, v, causal: true, keep, m)),
        };

        using (result)
        {
            float[] lse = result.Lse.ToFloatArray();
            AssertWithinRounding(result.Output.ToFloatArray(), expected.Output, dtype, v.ToFloatArray().Max(Math.Abs), seed);
            Compare.Lse(lse, expected.Lse, LseTolerance, seed);
            if (variant == "key mask")
            {
                Assert.True(float.IsNegativeInfinity(lse[0]), $"{seed}: row 0 sees no key");
                Assert.All(lse.Skip(hq * n), l => Assert.True(float.IsNegativeInfinity(l), seed));
            }
        }
    }

    // The test is about the tensor-core kernel: fail loudly if this GPU or the opt-out would route it to the scalar one.
    private static void AssertTheTensorCoresRun(Accelerator accelerator, Tensor q, Tensor v)
    {
        Assert.True(
            IlgpuAttention.UsesTensorCores(accelerator, q.DType, q.Shape[^1], v.Shape[^1]),
            $"the tensor-core kernel does not run on {accelerator.Name} (needs {TensorCoreLauncher.MinimumArchitecture} and {TensorCoreLauncher.OptOutVariable} unset or 1)");
    }

    private static void AssertWithinRounding(float[] actual, double[] expected, DType dtype, float maxAbsV, string context)
    {
        (int mantissaBits, int minExponent) = dtype == DType.BFloat16 ? (7, -126) : (10, -14);
        double unitRoundoff = Math.ScaleB(1.0, -(mantissaBits + 1));
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < actual.Length; i++)
        {
            int exponent = expected[i] == 0 ? minExponent : Math.Max(Math.ILogB(expected[i]), minExponent);
            double bound = (0.5 * Math.ScaleB(1.0, exponent - mantissaBits)) + (2 * unitRoundoff * maxAbsV) + 1e-5;
            Assert.True(Math.Abs(actual[i] - expected[i]) <= bound, $"{context}: element {i} is {actual[i]}, the reference {expected[i]} (bound {bound:E2})");
        }
    }
}

/// <summary>ILGPU's CUDA accelerator for the GPU tests, made on first use (never on a machine without a GPU, where they skip).</summary>
public sealed class IlgpuCudaFixture : IDisposable
{
    private readonly Lazy<(Context Context, Accelerator Accelerator)> _cuda = new(() =>
    {
        Context context = IlgpuAccelerators.CreateContext();
        return (context, IlgpuAccelerators.Create(context, AcceleratorType.Cuda));
    });

    public Accelerator Accelerator => _cuda.Value.Accelerator;

    public void Dispose()
    {
        if (_cuda.IsValueCreated)
        {
            _cuda.Value.Accelerator.Dispose();
            _cuda.Value.Context.Dispose();
        }
    }
}
