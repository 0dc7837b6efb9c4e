using System;
using System.Collections.Generic;
using System.Linq;
using AttentionGen.Masks;
using AttentionGen.Tests.Numerics;
using AttentionGen.Cuda;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>
/// The mod library's layers (tests/Numerics/LibraryModModules.cs) and a layer whose mods live in another class of this
/// project (tests/Numerics/CrossClassFlexModules.cs) for the GPU: their translated headers compile with
/// NVRTC (no GPU needed), and on a GPU they give what the CPU gives.
/// </summary>
public class LibraryModCudaTests
{
    // Calls the header's mods the way the kernels do (plain or through the capture table) for every (h, q, kv).
    internal const string ProbeKernel = """
        struct ProbeParams { const float* table; float* out; int n, m; };

        extern "C" __global__ void ag_probe_mods(const ProbeParams p) {
            const int b = 0, h = blockIdx.x, q = blockIdx.y, kv = threadIdx.x;
            if (q >= p.n || kv >= p.m) return;
            float s = 0.25f;
        #if defined(AG_SCORE_TABLE_MOD)
            s = AG_SCORE_TABLE_MOD(p, s, b, h, q, kv);
        #elif defined(AG_HAS_SCORE_MOD)
            s = ag_score_mod(s, b, h, q, kv);
        #endif
        #if defined(AG_MASK_TABLE_MOD)
            const bool allowed = AG_MASK_TABLE_MOD(p, b, h, q, kv);
        #elif defined(AG_HAS_MASK_MOD)
            const bool allowed = ag_mask_mod(b, h, q, kv);
        #else
            const bool allowed = true;
        #endif
            p.out[((long long)h * p.n + q) * p.m + kv] = allowed ? s : -1.0f;
        }
        """;

    private static IEnumerable<(string Name, string? Header)> Headers()
    {
        yield return (nameof(LibraryCausalFlex), new LibraryCausalFlex().CudaText);
        yield return (nameof(LibrarySlidingWindowFlex), new LibrarySlidingWindowFlex().CudaText);
        yield return (nameof(LibraryLateWindowFlex), new LibraryLateWindowFlex().CudaText);
        yield return (nameof(LibraryPrefixLmFlex), new LibraryPrefixLmFlex().CudaText);
        yield return (nameof(LibraryDocumentFlex), new LibraryDocumentFlex().CudaText);
        yield return (nameof(LibraryCausalDocumentFlex), new LibraryCausalDocumentFlex().CudaText);
        yield return (nameof(LibraryAlibiFlex), new LibraryAlibiFlex().CudaText);
        yield return (nameof(LibrarySoftcapFlex), new LibrarySoftcapFlex().CudaText);
        yield return (nameof(LibraryRelativeBiasFlex), new LibraryRelativeBiasFlex().CudaText);
        yield return (nameof(SharedModsFlex), new SharedModsFlex().CudaText);   // mods in another class of this project
    }

    [NvrtcFact]
    public void TranslatedLibraryModsCompile()
    {
        var failures = new List<string>();
        foreach ((string name, string? header) in Headers())
        {
            if (header is null)
            {
                failures.Add($"{name} has no CUDA header.");
                continue;
            }

            try
            {
                byte[] cubin = Nvrtc.Instance.CompileToCubin(header + "\n" + ProbeKernel, name + ".cu", ["--std=c++17", "--gpu-architecture=sm_80", "-default-device", "--use_fast_math"], out _);
                Assert.NotEmpty(cubin);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                failures.Add($"{name} with header:\n{header}\n{e.Message}");
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n\n", failures));
    }

    [GpuFact]
    public void LibraryLayersOnTheGpuMatchTheCpu()
    {
        (Random random, string seed) = FreshRandom.For(331);
        const int N = 301, M = 283;
        int[] documentIds = Enumerable.Range(0, N).Select(i => i < 90 ? 0 : i < 200 ? 1 : i < M ? 2 : 3).ToArray();
        float[] bias = Enumerable.Range(0, 4 * ((2 * LibraryRelativeBiasFlex.MaxDistance) + 1)).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        Tensor q = Tensor.RandomNormal(random, DType.BFloat16, 1, 4, N, 64);
        Tensor k = Tensor.RandomNormal(random, DType.BFloat16, 1, 4, M, 64);
        Tensor v = Tensor.RandomNormal(random, DType.BFloat16, 1, 4, M, 64);
        Tensor ids = Tensor.FromArray(documentIds, N), table = Tensor.FromArray(bias, bias.Length);
        Device gpu = Device.Cuda(0);
        (Tensor qg, Tensor kg, Tensor vg) = (q.To(gpu), k.To(gpu), v.To(gpu));

        var runs = new (string Name, AttentionOutput Cpu, AttentionOutput Gpu)[]
        {
            ("causal", new LibraryCausalFlex().Forward(q, k, v), new LibraryCausalFlex().Forward(qg, kg, vg)),
            ("window", new LibrarySlidingWindowFlex().Forward(q, k, v), new LibrarySlidingWindowFlex().Forward(qg, kg, vg)),
            ("late window", new LibraryLateWindowFlex().Forward(q, k, v), new LibraryLateWindowFlex().Forward(qg, kg, vg)),
            ("prefix", new LibraryPrefixLmFlex().Forward(q, k, v), new LibraryPrefixLmFlex().Forward(qg, kg, vg)),
            ("document", new LibraryDocumentFlex().Forward(q, k, v, documentIds: ids), new LibraryDocumentFlex().Forward(qg, kg, vg, documentIds: ids.To(gpu))),
            ("causal document", new LibraryCausalDocumentFlex().Forward(q, k, v, documentIds: ids), new LibraryCausalDocumentFlex().Forward(qg, kg, vg, documentIds: ids.To(gpu))),
            ("alibi", new LibraryAlibiFlex().Forward(q, k, v), new LibraryAlibiFlex().Forward(qg, kg, vg)),
            ("softcap", new LibrarySoftcapFlex().Forward(q, k, v), new LibrarySoftcapFlex().Forward(qg, kg, vg)),
            ("relative bias", new LibraryRelativeBiasFlex().Forward(q, k, v, bias: table), new LibraryRelativeBiasFlex().Forward(qg, kg, vg, bias: table.To(gpu))),
            ("mods of another class", new SharedModsFlex().Forward(q, k, v), new SharedModsFlex().Forward(qg, kg, vg)),
        };

        foreach ((string name, AttentionOutput cpu, AttentionOutput onGpu) in runs)
        {
            float[] expected = cpu.Output.ToFloatArray();
            Compare.Output(onGpu.Output.ToFloatArray(), Array.ConvertAll(expected, x => (double)x), 1e-2, $"{name} ({seed})");
            Compare.Lse(onGpu.Lse.ToFloatArray(), Array.ConvertAll(cpu.Lse.ToFloatArray(), x => (double)x), 1e-2, $"{name} ({seed})");
        }
    }

    [GpuFact]
    public void DocumentBlockMaskBuiltOnTheGpuEqualsTheCpus()
    {
        int[] documentIds = Enumerable.Range(0, 300).Select(i => i / 70).ToArray();
        Tensor ids = Tensor.FromArray(documentIds, 300);

        BlockMask onGpu = new LibraryDocumentFlex().CreateBlockMask(null, 2, 300, 300, Device.Cuda(0), capture: ids.To(Device.Cuda(0)));
        BlockMask onCpu = FlexAttention.CreateBlockMask((b, h, q, kv) => documentIds[q] == documentIds[kv], null, 2, 300, 300, blockSize: 128);

        Assert.Equal(onCpu.ToDense().ToInt32Array(), onGpu.ToDense().ToInt32Array());
        Assert.Equal(onCpu.FullKvIndices.ToInt32Array(), onGpu.FullKvIndices.ToInt32Array());
    }
}
