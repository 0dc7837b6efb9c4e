using System;
using System.Linq;
using AttentionGen.Inference;
using Xunit;

namespace AttentionGen.Tests.Inference;

/// <summary>How the GPU decode splits a cache into key ranges (no GPU needed: the choice is arithmetic).</summary>
public class DecodeCudaSplitTests
{
    // 264 slots: 132 SMs (H100/H200) holding two of the tensor-core kernel's 128-thread, 109 KB CTAs each.
    [Theory]
    [InlineData(8192, 64 * 8, 264, 8192)]      // 512 CTAs: two full waves already, splitting adds waves as fast as it shortens them
    [InlineData(2048, 128 * 8, 264, 2048)]     // 1024 CTAs: 3.9 waves; halves would make 7.8
    [InlineData(131072, 8, 264, 4032)]         // 8 CTAs: 33 ranges of whole 64-key tiles fill one wave
    [InlineData(32768, 64, 264, 8192)]         // 64 CTAs: 4 ranges fill one wave (5, the old choice, left a 56-CTA second wave)
    [InlineData(8192, 300, 264, 1216)]         // 300 CTAs: a 36-CTA second wave; 7 ranges make 8 full waves of a seventh the length
    [InlineData(200, 1, 264, 200)]             // shorter than a worthwhile range: not split
    [InlineData(1000, 1, 264, 384)]            // never ranges under 256 keys: at most 3 ranges, of 6 tiles
    [InlineData(0, 1, 264, 1)]                 // an empty cache still makes one (empty) range
    [InlineData(100000, 1, 2, 50048)]          // never more ranges than slots
    public void RangesEndInTheFewestWavesOfTheShortestRanges(int longest, long ctas, long slots, int expected)
    {
        int tokens = DecodeCuda.SplitTokens(longest, ctas, slots);

        Assert.Equal(expected, tokens);
        Assert.True(tokens == longest || tokens == 1 || tokens % 64 == 0, $"{tokens} keys is not a whole number of tiles");
    }

    // The choice against every split of the same cache: none ends in fewer waves of shorter ranges.
    [Theory]
    [InlineData(40000, 7, 132)]
    [InlineData(65536, 96, 264)]
    [InlineData(3000, 50, 400)]
    public void NoOtherSplitEndsSooner(int longest, long ctas, long slots)
    {
        long Cost(int tokens) => (ctas * ((longest + tokens - 1) / tokens) + slots - 1) / slots * (tokens + DecodeCuda.RangeOverheadTokens);
        int chosen = DecodeCuda.SplitTokens(longest, ctas, slots);
        for (int tokens = 256; tokens <= longest; tokens += 64)
        {
            Assert.True(Cost(chosen) <= Cost(tokens), $"{chosen} keys a range cost {Cost(chosen)}, {tokens} cost {Cost(tokens)}");
        }
    }

    [Theory]
    [InlineData(128, 128, 232448, "ag_decode_mma_128", 109824)]   // H100/H200: two CTAs per SM
    [InlineData(64, 64, 232448, "ag_decode_mma_64", 58624)]
    [InlineData(80, 48, 232448, "ag_decode_mma_64", 59136)]       // bounded by Ev, not E
    [InlineData(256, 256, 232448, "ag_decode_mma_256", 212224)]
    [InlineData(256, 256, 101376, "ag_decode_split", 88256)]      // sm_86/89: the pipeline does not fit
    [InlineData(72, 40, 232448, "ag_decode_split", 25280)]        // not multiples of 16: no mma tiles
    [InlineData(128, 128, 0, "ag_decode_split", 47296)]           // tensor cores off (DecodeCuda.UseTensorCores)
    public void TensorCoresTakeHeadDimsOfWhole16ColumnTilesWhenThePipelineFits(int e, int ev, int maxShared, string entry, int shared)
    {
        Assert.Equal((entry, shared), DecodeCuda.Kernel(e, ev, maxShared));
    }

    [Theory]
    [InlineData(128, 128, 232448, "ag_decode_mma_fp8_128", 60672)]   // codes [64][E + 16] a stage, widened in registers
    [InlineData(64, 64, 232448, "ag_decode_mma_fp8_64", 34048)]
    [InlineData(256, 256, 232448, "ag_decode_mma_fp8_256", 113920)]
    [InlineData(128, 128, 101376, "ag_decode_mma_fp8_128", 60672)]   // sm_86/89: fits
    [InlineData(256, 256, 101376, "ag_decode_split_fp8", 55488)]     // sm_86/89: does not
    [InlineData(128, 128, 0, "ag_decode_split_fp8", 30912)]          // tensor cores off: 1-byte K/V tiles [64][width + 16]
    [InlineData(96, 96, 232448, "ag_decode_split_fp8", 24768)]       // E = Ev not 64, 128 or 256
    [InlineData(128, 64, 232448, "ag_decode_split_fp8", 26816)]      // E != Ev
    [InlineData(72, 40, 232448, "ag_decode_split_fp8", 18112)]       // widths that are not multiples of 16 (byte-wise loads)
    public void AnFp8CacheTakesTheTensorCoresAtHeadDims64To256WhenThePipelineFits(int e, int ev, int maxShared, string entry, int shared)
    {
        Assert.Equal((entry, shared), DecodeCuda.Kernel(e, ev, maxShared, fp8: true));
    }

    [Fact]
    public void TheFp8AppendKernelReadsTheThreeFloatDTypesAndNothingElse()
    {
        Assert.Equal([0, 1, 2], new[] { DType.Float32, DType.BFloat16, DType.Float16 }.Select(DecodeCuda.SourceFormat));
        Assert.Equal("dtype", Assert.Throws<ArgumentException>(() => DecodeCuda.SourceFormat(DType.Int32)).ParamName);
    }
}
