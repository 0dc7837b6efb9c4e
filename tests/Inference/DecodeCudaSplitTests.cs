using System;
using System.Linq;
using AttentionGen.Inference;
using Xunit;

namespace AttentionGen.Tests.Inference;

/// <summary>How the GPU decode splits a cache into key ranges (no GPU needed: the choice is arithmetic).</summary>
public class DecodeCudaSplitTests
{
    [Theory]
    [InlineData(8192, 64 * 8, 132, 8192)]      // 512 CTAs fill 132 SMs twice over: one range
    [InlineData(131072, 8, 132, 4032)]         // 8 CTAs: 33 ranges of whole 64-key tiles
    [InlineData(32768, 64, 132, 6592)]         // 64 CTAs: 5 ranges
    [InlineData(200, 1, 132, 200)]             // shorter than a worthwhile range: not split
    [InlineData(1000, 1, 132, 256)]            // never ranges under 256 keys
    [InlineData(0, 1, 132, 1)]                 // an empty cache still makes one (empty) range
    public void RangesFillTheGpuTwiceWithoutGoingUnderAWorthwhileLength(int longest, long ctas, int multiprocessors, int expected)
    {
        int tokens = DecodeCuda.SplitTokens(longest, ctas, multiprocessors);

        Assert.Equal(expected, tokens);
        Assert.True(tokens == longest || tokens == 1 || tokens % 64 == 0, $"{tokens} keys is not a whole number of tiles");
    }

    [Theory]
    [InlineData(128, 128, 232448, "ag_decode_mma_128", 108800)]   // H100/H200: two CTAs per SM
    [InlineData(64, 64, 232448, "ag_decode_mma_64", 57600)]
    [InlineData(80, 48, 232448, "ag_decode_mma_64", 58112)]       // bounded by Ev, not E
    [InlineData(256, 256, 232448, "ag_decode_mma_256", 211200)]
    [InlineData(256, 256, 101376, "ag_decode_split", 88256)]      // sm_86/89: the pipeline does not fit
    [InlineData(72, 40, 232448, "ag_decode_split", 25280)]        // not multiples of 16: no mma tiles
    [InlineData(128, 128, 0, "ag_decode_split", 47296)]           // tensor cores off (DecodeCuda.UseTensorCores)
    public void TensorCoresTakeHeadDimsOfWhole16ColumnTilesWhenThePipelineFits(int e, int ev, int maxShared, string entry, int shared)
    {
        Assert.Equal((entry, shared), DecodeCuda.Kernel(e, ev, maxShared));
    }

    [Theory]
    [InlineData(128, 128, 30912)]   // 1-byte codes: K/V tiles [64][width + 16] bytes
    [InlineData(72, 40, 18112)]     // widths that are not multiples of 16 (byte-wise loads)
    [InlineData(256, 256, 55488)]
    public void AnFp8CacheRunsTheScalarKernelsFp8EntryWhateverTheTensorCoresCouldTake(int e, int ev, int shared)
    {
        Assert.Equal(("ag_decode_split_fp8", shared), DecodeCuda.Kernel(e, ev, maxShared: 232448, fp8: true));
        Assert.Equal(("ag_decode_split_fp8", shared), DecodeCuda.Kernel(e, ev, maxShared: 0, fp8: true));
    }

    [Fact]
    public void TheFp8AppendKernelReadsTheThreeFloatDTypesAndNothingElse()
    {
        Assert.Equal([0, 1, 2], new[] { DType.Float32, DType.BFloat16, DType.Float16 }.Select(DecodeCuda.SourceFormat));
        Assert.Equal("dtype", Assert.Throws<ArgumentException>(() => DecodeCuda.SourceFormat(DType.Int32)).ParamName);
    }
}
