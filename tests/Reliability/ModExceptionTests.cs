using System;
using AttentionGen.Masks;
using Xunit;

namespace AttentionGen.Tests.Reliability;

/// <summary>
/// A mask or score mod that throws: the caller gets the mod's own exception (not the thread pool's AggregateException),
/// with the mod's frame on its stack, from every place the CPU runs mods (docs/reliability.md).
/// </summary>
public class ModExceptionTests
{
    private const int N = 300;

    [Fact]
    public void ABlockMaskBuiltFromAThrowingModRethrowsTheModsException()
    {
        var e = Assert.Throws<ModFailure>(() => FlexAttention.CreateBlockMask(Throwing, 2, 2, N, N, blockSize: 32));

        Assert.Contains(nameof(Throwing), e.StackTrace, StringComparison.Ordinal);
    }

    [Fact]
    public void AScoreModThatThrowsInTheKernelRethrowsItsException()
    {
        Tensor q = Tensor.RandomNormal(new Random(1), DType.Float32, 2, 2, N, 16);

        var e = Assert.Throws<ModFailure>(() => FlexAttention.Run(q, q, q, scoreMod: (s, b, h, i, j) => i == 250 ? throw new ModFailure() : s));

        Assert.Contains(nameof(AScoreModThatThrowsInTheKernelRethrowsItsException), e.StackTrace, StringComparison.Ordinal);
    }

    [Fact]
    public void AMaskModThatThrowsInTheKernelRethrowsItsException()
    {
        Tensor q = Tensor.RandomNormal(new Random(2), DType.Float32, 2, 2, N, 16);
        BlockMask everyBlockPartial = FlexAttention.CreateBlockMask((b, h, i, j) => j != i, null, null, N, N, blockSize: 32);
        BlockMask throwing = BlockMask.FromKvBlocks(everyBlockPartial.KvNumBlocks, everyBlockPartial.KvIndices, blockSize: 32, maskMod: Throwing, seqLengths: (N, N));

        Assert.Throws<ModFailure>(() => FlexAttention.Run(q, q, q, blockMask: throwing));
    }

    [Fact]
    public void CreateMaskRethrowsTheModsException() =>
        Assert.Throws<ModFailure>(() => FlexAttention.CreateMask(Throwing, 1, 1, 40, 40));

    private static bool Throwing(int b, int h, int q, int kv) => q == 200 || q == 20 ? throw new ModFailure() : kv <= q;

    private sealed class ModFailure : Exception
    {
    }
}
