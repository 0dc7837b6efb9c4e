using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>
/// CPU attention outputs come from the host pool uninitialized and go back on Dispose: a disposed output full of NaN is
/// the next call's buffer, and that call still writes every element, fully masked rows included. The pool is the
/// process's: these tests run alone (a test running beside them could take or push out the arrays they look for).
/// </summary>
[Collection(Properties.IsolatedProcessCollection.Name)]
public class HostPoolTests
{
    [Fact]
    public void AFullPoolDropsTheSizesReturnedLongestAgoToKeepTheNewest()
    {
        // Fill the pool (256 MB) with arrays of one size, then return one of another: it must be kept, by dropping old ones.
        const int filler = (4 << 20) + 12, newest = 1_000_004;
        for (int i = 0; i < 65; i++)
        {
            HostMemoryPool.Return(new byte[filler]);
        }

        var kept = new byte[newest];
        HostMemoryPool.Return(kept);
        Assert.Same(kept, HostMemoryPool.Rent(newest));
        for (int i = 0; i < 65; i++)
        {
            HostMemoryPool.Rent(filler);   // empties the filler's stack, so its arrays leave with the test
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ADisposedOutputIsReusedAndRewrittenCompletely(bool causal)
    {
        (Random random, string seed) = FreshRandom.For(causal ? 8201 : 8200);
        // A shape no other test uses, so no other test takes these arrays from the pool in between.
        int b = 2, h = 3, n = causal ? 41 : 37, m = 53, e = 48;
        var keep = new bool[b * m];
        for (int j = 0; j < m; j++)
        {
            keep[j] = random.NextDouble() < 0.7;   // batch 1 keeps no key: its rows are O = 0, LSE = -inf
        }

        Tensor mask = Tensor.FromArray(keep, b, m);
        AttentionOutput first = Attention.ScaledDotProduct(Operand(random, b, h, n, e), Operand(random, b, h, m, e), Operand(random, b, h, m, e), causal, mask);
        Span<float> poisonedOutput = first.Output.Float32Storage, poisonedLse = first.Lse.Float32Storage;
        poisonedOutput.Fill(float.NaN);
        poisonedLse.Fill(float.NaN);
        first.Dispose();

        Tensor q = Operand(random, b, h, n, e), k = Operand(random, b, h, m, e), v = Operand(random, b, h, m, e);
        AttentionOutput second = Attention.ScaledDotProduct(q, k, v, causal, mask);

        Assert.True(Unsafe.AreSame(ref MemoryMarshal.GetReference(poisonedOutput), ref MemoryMarshal.GetReference(second.Output.Float32Storage)), $"the output array was not reused ({seed})");
        Assert.True(Unsafe.AreSame(ref MemoryMarshal.GetReference(poisonedLse), ref MemoryMarshal.GetReference(second.Lse.Float32Storage)), $"the LSE array was not reused ({seed})");
        var expected = Compare.Reference(q, k, v, causal, keep, m);
        Compare.Output(second.Output.ToFloatArray(), expected.Output, 2e-5, seed);
        Compare.Lse(second.Lse.ToFloatArray(), expected.Lse, 1e-5, seed);
    }

    // Was DisposingATensorOutsideThePoolLeavesItReadable: a disposed tensor now throws whether its array was pooled or
    // not, so code that reads after Dispose fails the same way on every tensor (tests/Reliability/TensorDisposalTests).
    [Fact]
    public void DisposingATensorOutsideThePoolMakesItUnusableToo()
    {
        Tensor t = Tensor.FromArray([1f, 2f, 3f], 3);
        t.Dispose();
        Assert.Throws<ObjectDisposedException>(() => t.ToFloatArray());
    }

    private static Tensor Operand(Random random, int b, int h, int rows, int e) => Tensor.RandomNormal(random, DType.Float32, b, h, rows, e);
}
