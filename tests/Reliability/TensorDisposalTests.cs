using System;
using AttentionGen.Cpu;
using AttentionGen.Variants;
using AttentionGen.Tests.Modules;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Reliability;

/// <summary>
/// After Dispose a tensor, every view of its storage and the AttentionOutput holding it throw
/// <see cref="ObjectDisposedException"/> on every use. CPU attention outputs are rented from the host pool and go back on
/// Dispose: before the fix a disposed output (or a view of it) still read its array, which by then held the next call's
/// result. Reads of a pooled array are managed and bounds-checked, so these run safely in-process even unfixed.
/// </summary>
public class TensorDisposalTests
{
    [Fact]
    public void ADisposedOutputDoesNotShowTheNextCallsData()
    {
        (Tensor q, Tensor k, Tensor v) = Operands(new Random(11), 2, 3, 29, 16);
        AttentionOutput first = Attention.ScaledDotProduct(q, k, v);
        Tensor firstView = first.Output.Narrow(2, 0, 5);
        first.Dispose();

        // Same shape, so the pool hands this call the arrays the first one gave back.
        using AttentionOutput second = Attention.ScaledDotProduct(k, q, v);

        Assert.Throws<ObjectDisposedException>(() => first.Output.ToFloatArray());
        Assert.Throws<ObjectDisposedException>(() => first.Lse.ToFloatArray());
        Assert.Throws<ObjectDisposedException>(() => firstView.ToFloatArray());
        Assert.Throws<ObjectDisposedException>(() => first.Output[0, 0, 0, 0]);
        Assert.Throws<ObjectDisposedException>(() => first.Output[0, 0, 0, 0] = 1f);
    }

    [Fact]
    public void EveryUseOfADisposedTensorThrows()
    {
        Tensor t = Tensor.RandomNormal(new Random(12), DType.Float32, 2, 3, 8, 4);
        t.Dispose();

        Assert.Throws<ObjectDisposedException>(() => t.ToFloatArray());
        Assert.Throws<ObjectDisposedException>(() => t.ToBoolArray());
        Assert.Throws<ObjectDisposedException>(() => t.ToInt32Array());
        Assert.Throws<ObjectDisposedException>(() => t.To(DType.Float32));   // would return the tensor itself
        Assert.Throws<ObjectDisposedException>(() => t.To(DType.BFloat16));
        Assert.Throws<ObjectDisposedException>(() => t.Contiguous());
        Assert.Throws<ObjectDisposedException>(() => t.To(Device.Cpu));     // would return the tensor itself
        Assert.Throws<ObjectDisposedException>(() => t.To(Device.Cuda(0))); // before CUDA is looked for
        Assert.Throws<ObjectDisposedException>(() => t.Narrow(2, 0, 1));
        Assert.Throws<ObjectDisposedException>(() => t.Transpose(0, 1));
        Assert.Throws<ObjectDisposedException>(() => t.Reshape(48, 4));
        Assert.Throws<ObjectDisposedException>(() => t.MergeHeads());
        Assert.Throws<ObjectDisposedException>(() => t.Float32Storage.Length);
    }

    [Fact]
    public void AnEmptyDisposedTensorThrowsToo()
    {
        // No element would be read, so only an explicit check catches it.
        Tensor t = Tensor.Zeros(DType.Float32, 0, 4);
        t.Dispose();

        Assert.Throws<ObjectDisposedException>(() => t.ToFloatArray());
    }

    [Fact]
    public void DisposingAViewDisposesTheStorageItShares()
    {
        Tensor x = Tensor.RandomNormal(new Random(13), DType.Float32, 1, 6, 8);
        Tensor heads = x.SplitHeads(2);
        heads.Dispose();

        Assert.Throws<ObjectDisposedException>(() => x.ToFloatArray());
        Assert.Throws<ObjectDisposedException>(() => x.SplitHeads(4));
    }

    [Fact]
    public void ADisposedTensorKeepsItsMetadataAndSaysSoInToString()
    {
        Tensor t = Tensor.Zeros(DType.BFloat16, 2, 5);
        t.Dispose();

        Assert.Equal(new[] { 2, 5 }, t.Shape.ToArray());
        Assert.Equal(10, t.Numel);
        Assert.Equal("Tensor(shape=[2, 5], dtype=bfloat16, device=cpu, disposed)", t.ToString());
    }

    [Fact]
    public void DisposingTwiceIsHarmlessAndReturnsTheArrayOnce()
    {
        (Tensor q, Tensor k, Tensor v) = Operands(new Random(14), 1, 2, 23, 8);
        AttentionOutput result = Attention.ScaledDotProduct(q, k, v);
        result.Dispose();
        result.Dispose();
        result.Output.Dispose();

        // Returned once, the array is rented once: two live outputs of this shape never share it.
        using AttentionOutput a = Attention.ScaledDotProduct(q, k, v);
        using AttentionOutput b = Attention.ScaledDotProduct(q, k, v);
        a.Output[0, 0, 0, 0] = 1234f;
        Assert.NotEqual(1234f, b.Output[0, 0, 0, 0]);
    }

    [Fact]
    public void AttentionRefusesADisposedOperandByName()
    {
        (Tensor q, Tensor k, Tensor v) = Operands(new Random(15), 1, 2, 9, 8);
        AttentionOutput disposed = Attention.ScaledDotProduct(q, k, v);
        Tensor outputView = disposed.Output.Transpose(2, 3).Transpose(2, 3);
        disposed.Dispose();

        Assert.Equal("q", Assert.Throws<ObjectDisposedException>(() => Attention.ScaledDotProduct(disposed.Output, k, v)).ObjectName);
        Assert.Equal("k", Assert.Throws<ObjectDisposedException>(() => Attention.ScaledDotProduct(q, outputView, v)).ObjectName);
        Assert.Equal("v", Assert.Throws<ObjectDisposedException>(() => Attention.ScaledDotProduct(q, k, disposed.Output)).ObjectName);
        Tensor mask = Tensor.FromArray(new bool[9], 1, 9);
        mask.Dispose();
        Assert.Equal("keyPaddingMask", Assert.Throws<ObjectDisposedException>(() => Attention.ScaledDotProduct(q, k, v, keyPaddingMask: mask)).ObjectName);
    }

    [Fact]
    public void TheVariantsRefuseADisposedOperandByName()
    {
        // They said only "Tensor" (the storage's own check) before the argument checks named it.
        Tensor q = Tensor.RandomNormal(new Random(17), DType.Float32, 1, 8, 4), disposed = Tensor.Zeros(DType.Float32, 1, 8, 4);
        disposed.Dispose();
        Tensor mask = Tensor.FromArray(new bool[8], 1, 8);
        mask.Dispose();
        var config = new LocalConfig(4);

        Assert.Equal("k", Assert.Throws<ObjectDisposedException>(() => LocalAttention.Forward(q, disposed, q, config)).ObjectName);
        Assert.Equal("mask", Assert.Throws<ObjectDisposedException>(() => LocalAttention.Forward(q, q, q, config, mask)).ObjectName);
        Tensor heads = Tensor.RandomNormal(new Random(18), DType.Float32, 1, 2, 8, 4), disposedHeads = Tensor.Zeros(DType.Float32, 1, 2, 8, 4);
        disposedHeads.Dispose();
        Assert.Equal("v", Assert.Throws<ObjectDisposedException>(() => DilatedAttention.Forward(heads, heads, disposedHeads, [4], [1])).ObjectName);
        Assert.Equal("q", Assert.Throws<ObjectDisposedException>(() => SparseAttention.ForwardHeads(disposedHeads, heads, heads, SparseMode.Strided, 2)).ObjectName);
    }

    [Fact]
    public void AProblemRefusesADisposedOutputOrLse()
    {
        (Tensor q, Tensor k, Tensor v) = Operands(new Random(16), 1, 2, 9, 8);
        Tensor output = Tensor.Zeros(DType.Float32, 1, 2, 9, 8), lse = Tensor.Zeros(DType.Float32, 1, 2, 9);
        output.Dispose();
        lse.Dispose();

        Assert.Equal("output", Assert.Throws<ObjectDisposedException>(() => new AttentionProblem(q, k, v, output)).ObjectName);
        Assert.Equal("lse", Assert.Throws<ObjectDisposedException>(() => new AttentionProblem(q, k, v, Tensor.Zeros(DType.Float32, 1, 2, 9, 8), lse)).ObjectName);
    }

    [Fact]
    public void ModulesRefuseADisposedInput()
    {
        Tensor x = Tensor.RandomNormal(new Random(17), DType.Float32, 1, 7, 24);
        x.Dispose();
        (Tensor q, Tensor k, Tensor v) = Operands(new Random(18), 1, 2, 9, 8);
        q.Dispose();

        Assert.Throws<ObjectDisposedException>(() => new TinyCausalAttention(seed: 1).Forward(x));
        Assert.Equal("q", Assert.Throws<ObjectDisposedException>(() => new CausalFlex().Forward(q, k, v)).ObjectName);
    }

    private static (Tensor Q, Tensor K, Tensor V) Operands(Random random, int b, int h, int n, int e) =>
        (Tensor.RandomNormal(random, DType.Float32, b, h, n, e), Tensor.RandomNormal(random, DType.Float32, b, h, n, e), Tensor.RandomNormal(random, DType.Float32, b, h, n, e));
}
