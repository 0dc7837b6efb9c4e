using System;
using System.Collections.Generic;
using System.Linq;
using AttentionGen.Masks;
using AttentionGen.Modules;
using AttentionGen.Reference;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>
/// The [Flex] modules on a GPU: translated mods, closed-form plans and block masks built on the GPU, against the
/// float64 reference running the very same C# mods, at head dims 64 and 128 (the mma.sync kernel, or Hopper's wgmma kernel
/// on an H100/H200). Lengths are no tile's multiple and pass every constant of the mods.
/// </summary>
public sealed class CudaFlexTests
{
    public static IEnumerable<object[]> Cases() =>
        from name in new[] { "causal", "sliding-window", "prefix-lm", "document", "alibi", "softcap", "causal+bias", "window|sinks", "empty-rows", "band" }
        from e in new[] { 64, 128 }
        select new object[] { name, e };

    [GpuTheory]
    [MemberData(nameof(Cases))]
    public void AFlexModuleMatchesTheReference(string name, int e)
    {
        (FlexAttentionModule module, MaskFunction? mask, Func<float, int, int, int, int, float>? score) = Module(name);
        (Random random, string seed) = FreshRandom.For(name, e);
        const int b = 1, h = 4, l = 400, s = 420;
        Tensor q = Tensor.RandomNormal(random, DType.BFloat16, b, h, l, e);
        Tensor k = Tensor.RandomNormal(random, DType.BFloat16, b, h, s, e);
        Tensor v = Tensor.RandomNormal(random, DType.BFloat16, b, h, s, e);
        Device gpu = Device.Cuda(0);

        BlockMask? blocks = null;
        if (mask is not null && !module.HasClosedFormPlan)
        {
            blocks = module.CreateBlockMask(null, null, l, s, gpu);
            BlockMask onCpu = FlexAttention.CreateBlockMask(mask, null, null, l, s, blockSize: module.BlockSize);
            Assert.Equal(onCpu.KvIndices.ToInt32Array(), blocks.KvIndices.ToInt32Array());
            Assert.Equal(onCpu.FullKvIndices.ToInt32Array(), blocks.FullKvIndices.ToInt32Array());
        }

        AttentionOutput result = module.Forward(q.To(gpu), k.To(gpu), v.To(gpu), blockMask: blocks);

        ReferenceResult expected = ReferenceAttention.Compute(q, k, v, mask is null ? null : (bi, hi, i, j) => mask(bi, hi, i, j), scoreMod: score is null ? null : (x, bi, hi, i, j) => score((float)x, bi, hi, i, j));
        Compare.Output(result.Output.ToFloatArray(), expected.Output, 1e-2, seed);
        Compare.Lse(result.Lse.ToFloatArray(), expected.Lse, 2e-2, seed);
    }

    // Captures: document ids (int32) for a mask mod, with the block mask built on the GPU from them; slopes (float32)
    // for a score mod. Both travel to the kernel as its table pointer.
    [GpuTheory]
    [InlineData(64)]
    [InlineData(128)]
    public void CapturedTensorsReachTheTranslatedMods(int e)
    {
        (Random random, string seed) = FreshRandom.For(330 + e);
        const int l = 777;
        int[] docs = Enumerable.Range(0, l).Select(i => i < 100 ? 0 : i < 400 ? 1 : 2).ToArray();
        float[] slopes = [0.3f, 0.1f];
        Tensor q = Tensor.RandomNormal(random, DType.BFloat16, 1, 2, l, e);
        Tensor v = Tensor.RandomNormal(random, DType.BFloat16, 1, 2, l, e);
        Device gpu = Device.Cuda(0);

        var documents = new CapturedDocumentFlex();
        Tensor ids = Tensor.FromArray(docs, l).To(gpu);
        BlockMask blocks = documents.CreateBlockMask(null, null, l, l, gpu, ids);
        float[] actual = documents.Forward(q.To(gpu), q.To(gpu), v.To(gpu), ids, blockMask: blocks).Output.ToFloatArray();
        Compare.Output(actual, ReferenceAttention.Compute(q, q, v, (bi, hi, i, j) => CapturedDocumentFlex.SameDocument(bi, hi, i, j, docs)).Output, 1e-2, seed);

        actual = new CapturedAlibiFlex().Forward(q.To(gpu), q.To(gpu), v.To(gpu), Tensor.FromArray(slopes, 2).To(gpu)).Output.ToFloatArray();
        ReferenceResult expected = ReferenceAttention.Compute(q, q, v, CapturedAlibiFlex.Causal, scoreMod: (x, bi, hi, i, j) => CapturedAlibiFlex.Alibi((float)x, bi, hi, i, j, slopes));
        Compare.Output(actual, expected.Output, 1e-2, seed);
    }

    private static (FlexAttentionModule Module, MaskFunction? Mask, Func<float, int, int, int, int, float>? Score) Module(string name) => name switch
    {
        "causal" => (new CausalFlex(), CausalFlex.Causal, null),
        "sliding-window" => (new SlidingWindowFlex(), SlidingWindowFlex.Window, null),
        "prefix-lm" => (new PrefixLmFlex(), PrefixLmFlex.PrefixLm, null),
        "document" => (new DocumentFlex(), DocumentFlex.SameDocument, null),
        "alibi" => (new AlibiFlex(), null, AlibiFlex.Alibi),
        "softcap" => (new SoftcapFlex(), null, SoftcapFlex.Softcap),
        "causal+bias" => (new CausalBiasFlex(), CausalBiasFlex.Causal, CausalBiasFlex.RelativeBias),
        "window|sinks" => (new WindowOrSinksFlex(), WindowOrSinksFlex.WindowOrSinks, null),
        "empty-rows" => (new EmptyRowsFlex(), EmptyRowsFlex.LateStart, null),
        "band" => (new BandFlex(), BandFlex.Band, null),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "not a flex case of this test"),
    };
}
