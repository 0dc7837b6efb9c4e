using System;
using AttentionGen.Reference;
using AttentionGen.Variants;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>The Sparse Transformer's patterns (SPEC §3) on the CPU against the float64 masks of <c>get_attn_mask</c>.</summary>
public class SparseCpuTests
{
    public static TheoryData<SparseMode, int, int, bool> Cases => new()
    {
        // mode, T, ctx, causal: T not a multiple of ctx or of any tile; ctx above T.
        { SparseMode.All, 211, 0, true },
        { SparseMode.All, 211, 0, false },
        { SparseMode.Local, 301, 17, true },
        { SparseMode.Local, 150, 200, true },
        { SparseMode.Strided, 301, 7, true },
        { SparseMode.Strided, 256, 16, true },
        { SparseMode.Strided, 40, 64, true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesTheMaskedDefinition(SparseMode mode, int t, int ctx, bool causal)
    {
        (Random random, string seed) = FreshRandom.For(mode, t, ctx, causal);
        const int heads = 3;
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 2, t, heads * 16);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 2, t, heads * 16);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 2, t, heads * 8);

        Tensor result = SparseAttention.Forward(q, k, v, heads, mode, ctx, causal: causal);

        Assert.Equal(new[] { 2, t, heads * 8 }, result.Shape.ToArray());
        Compare.Output(result.ToFloatArray(), ReferenceVariants.Sparse(q, k, v, heads, mode, ctx, causal), 2e-5, $"{mode} T={t} ctx={ctx} ({seed})");
    }

    [Fact]
    public void LocalIsTheOriginalsCausalBandNotTheTorchPortsTril()
    {
        // SPEC §3 quirk: zeta's port keeps every j <= i + ctx (torch.tril(ones, ctx)); the original keeps
        // i − ctx < j <= i. With values that are one-hot by position, row 0 can only average v[0].
        const int t = 12;
        Tensor q = Tensor.RandomNormal(new Random(5), DType.Float32, 1, t, 4);
        var values = new float[t * 4];
        for (int i = 0; i < t; i++)
        {
            values[(i * 4) + (i % 4)] = 1;
        }

        Tensor result = SparseAttention.Forward(q, q, Tensor.FromArray(values, 1, t, 4), heads: 1, SparseMode.Local, localAttnCtx: 3);

        Assert.Equal(1f, result[0, 0, 0], 5);
        Assert.Equal(0f, result[0, 0, 1], 5);
        Assert.Equal(0f, result[0, 5, 2], 5); // keys 3..5 only; key 6 (one-hot in column 2) is ahead of row 5: the port would mix it in
    }

    [Fact]
    public void BlockSparseAttentionIsTheSameFunction()
    {
        Tensor q = Tensor.RandomNormal(new Random(6), DType.Float32, 1, 64, 32);

        float[] a = SparseAttention.BlockSparseAttention(q, q, q, 2, SparseMode.Strided, 8).ToFloatArray();
        float[] b = SparseAttention.Forward(q, q, q, 2, SparseMode.Strided, 8).ToFloatArray();

        Assert.Equal(a, b);
    }

    [Fact]
    public void RejectsAStridedPatternWithoutAStride()
    {
        Tensor q = Tensor.Zeros(DType.Float32, 1, 8, 8);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => SparseAttention.Forward(q, q, q, 2, SparseMode.Strided, 0));
        Assert.Equal("localAttnCtx", e.ParamName);
    }

    [Theory]
    [InlineData(1, 2, 7, "k", 2)]   // T of k below q's: rows past k's end (a view's next batch) were read
    [InlineData(1, 2, 9, "k", 2)]
    [InlineData(1, 1, 8, "k", 1)]   // grouped heads
    [InlineData(2, 2, 8, "k", 0)]
    public void StridedHeadsRejectKeysOfAnotherShape(int batch, int heads, int t, string name, int dim)
    {
        Tensor q = Tensor.Zeros(DType.Float32, 1, 2, 8, 4);
        Tensor k = Tensor.Zeros(DType.Float32, batch, heads, t, 4);
        var e = Assert.Throws<ArgumentException>(() => SparseAttention.ForwardHeads(q, k, q, SparseMode.Strided, 2));
        Assert.Equal(name, e.ParamName);
        Assert.Contains($"dimension {dim}", e.Message);
        e = Assert.Throws<ArgumentException>(() => SparseAttention.ForwardHeads(q, q, k, SparseMode.Strided, 2));
        Assert.Equal("v", e.ParamName);
    }

    [Theory]
    [InlineData(3)]   // narrower than q's rows: the gather left the missing column 0 and ran
    [InlineData(5)]   // wider: the gather overran its rows ("Destination is too short", naming neither k nor a size)
    public void StridedHeadsRejectKeysOfAnotherWidth(int width)
    {
        Tensor q = Tensor.Zeros(DType.Float32, 1, 2, 8, 4);
        Tensor k = Tensor.Zeros(DType.Float32, 1, 2, 8, width);

        var e = Assert.Throws<ArgumentException>(() => SparseAttention.ForwardHeads(q, k, q, SparseMode.Strided, 2));

        Assert.Equal("k", e.ParamName);
        Assert.Contains("dimension 3", e.Message);
        Assert.Contains($"got {width}", e.Message);
    }

    [Theory]
    [InlineData(SparseMode.Strided, 7)]
    [InlineData(SparseMode.Local, 5)]
    [InlineData(SparseMode.All, 0)]
    public void BlockSizeNeverChangesTheResult(SparseMode mode, int ctx)
    {
        // SPEC §3: only speed depends on BlockSize, and T / ctx need not be a multiple of it (30 / 7 is not of 3 or 64).
        (Random random, string seed) = FreshRandom.For(mode, ctx);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 30, 16);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 1, 30, 16);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 1, 30, 16);

        float[] small = SparseAttention.Forward(q, k, v, 2, mode, ctx, blockSize: 3).ToFloatArray();
        float[] large = SparseAttention.Forward(q, k, v, 2, mode, ctx, blockSize: 64).ToFloatArray();

        Assert.Equal(small, large);
        Compare.Output(small, ReferenceVariants.Sparse(q, k, v, 2, mode, ctx), 2e-5, $"{mode} ({seed})");
    }
}
