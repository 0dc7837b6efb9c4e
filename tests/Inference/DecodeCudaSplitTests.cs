using System;
using System.Linq;
using AttentionGen.Inference;
using Xunit;

namespace AttentionGen.Tests.Inference;

/// <summary>How the GPU decode splits a cache into key ranges (no GPU needed: the choice is arithmetic).</summary>
public class DecodeCudaSplitTests
{
    // 132 SMs (H100/H200); the bf16 tensor-core kernel holds two CTAs an SM and streams at full rate with one, the fp8
    // entry holds four and needs two.
    [Theory]
    [InlineData(8192, 64 * 8, 2, 1, 8192)]       // 512 CTAs: four an SM already; halves would make eight of half the length
    [InlineData(2048, 128 * 8, 2, 1, 2048)]      // 1024 CTAs: eight an SM on the busiest
    [InlineData(131072, 8, 2, 1, 4032)]          // 8 CTAs: 33 ranges of whole tiles put two on every SM (16 would put one)
    [InlineData(32768, 64, 2, 1, 16384)]         // 64 CTAs: 2 ranges, one an SM (4 make two an SM of half the length, and 3 ranges leave SMs with one beside SMs with two)
    [InlineData(32768, 64, 4, 2, 8192)]          // the fp8 entry: 4 ranges, two an SM, its rate
    [InlineData(131072, 8, 4, 2, 4032)]          // the fp8 entry: 33 ranges, as bf16 (66 would make four an SM of half the length)
    [InlineData(131072, 8, 2, 3, 4032)]          // an SM that holds two of the three CTAs that fill it (pages of 16 keys on an H200): 33 ranges, one wave (49 would leave a third CTA streaming alone)
    [InlineData(32768, 64, 2, 3, 8192)]          // ... 4 ranges at 8 x 32768, one wave (8 make two waves)
    [InlineData(8192, 300, 2, 1, 2752)]          // 300 CTAs: 3 ranges, 7 on the busiest SM (unsplit: 3 of three times the length)
    [InlineData(200, 1, 2, 1, 200)]              // shorter than a worthwhile range: not split
    [InlineData(1000, 1, 2, 1, 384)]             // never ranges under 256 keys: at most 3 ranges, of 6 tiles
    [InlineData(0, 1, 2, 1, 1)]                  // an empty cache still makes one (empty) range
    public void RangesEndSoonestOnTheBusiestSm(int longest, long ctas, int resident, int saturatingCtas, int expected)
    {
        int tokens = DecodeCuda.SplitTokens(longest, ctas, 132, resident, saturatingCtas);

        Assert.Equal(expected, tokens);
        Assert.True(tokens == longest || tokens == 1 || tokens % 64 == 0, $"{tokens} keys is not a whole number of tiles");
    }

    [Theory]
    [InlineData(1, 100000)]                      // one SM holding two CTAs that stream at full rate alone: not split
    [InlineData(2, 50048)]                       // ... that need two: two ranges
    public void NeverMoreRangesThanTheGpuHolds(int saturatingCtas, int expected)
    {
        Assert.Equal(expected, DecodeCuda.SplitTokens(100000, 1, sms: 1, resident: 2, saturatingCtas));
        Assert.Equal(100000, DecodeCuda.SplitTokens(100000, 1, sms: 1, resident: 1, saturatingCtas));
    }

    [Theory]
    [InlineData(0, 1)]      // contiguous bf16: one CTA an SM streams at full rate
    [InlineData(128, 1)]    // pages of two tiles: as contiguous
    [InlineData(16, 2)]     // pages of a quarter tile: two
    public void PagesShorterThanATileNeedTwoCtasAnSm(int pageSize, int expected)
    {
        using KvPagePool? pool = pageSize == 0 ? null : new KvPagePool(8, pageSize, 2, 128, 128, DType.BFloat16);
        using KvCache cache = pool is null ? KvCache.Contiguous(1, 2, 128, 128, 256, DType.BFloat16) : KvCache.Paged(pool, 1, 256);

        Assert.Equal(expected, DecodeCuda.SaturatingCtas(DecodeCuda.Kernel(128, 128, 232448), cache, DecodeCuda.ReferenceBandwidthPerSm));
        Assert.Equal(2, DecodeCuda.SaturatingCtas(DecodeCuda.Kernel(128, 128, 232448, fp8: true), cache, DecodeCuda.ReferenceBandwidthPerSm));   // the fp8 entry's own two
    }

    // An SM with more bandwidth to fill needs more CTAs at once: an H200 (4.8 TB/s over 132 SMs) two bf16 CTAs and three
    // of the fp8 entry's; a GPU with less than an H100's (or none reported) keeps the H100's counts.
    [Theory]
    [InlineData(4.8e12 / 132, false, 2)]
    [InlineData(4.8e12 / 132, true, 3)]
    [InlineData(3.35e12 / 132, false, 1)]
    [InlineData(3.5e12 / 132, false, 1)]       // within a few percent of an H100
    [InlineData(2.0e12 / 108, true, 2)]        // an A100: less than an H100 an SM
    [InlineData(0, false, 1)]                  // not reported
    public void SmsWithMoreBandwidthNeedMoreCtas(double bandwidthPerSm, bool fp8, int expected)
    {
        using KvCache cache = KvCache.Contiguous(1, 2, 128, 128, 256, DType.BFloat16);

        Assert.Equal(expected, DecodeCuda.SaturatingCtas(DecodeCuda.Kernel(128, 128, 232448, fp8), cache, bandwidthPerSm));
    }

    // One range of a tile each, on one SM: the busiest SM's time in ranges streamed at the full rate.
    [Theory]
    [InlineData(3, 2, 1, 3)]     // one CTA fills the SM: each range takes its own time
    [InlineData(3, 2, 2, 4)]     // the third runs alone after a wave of two, at half the rate
    [InlineData(2, 2, 3, 3)]     // two CTAs cannot fill an SM that needs three
    [InlineData(4, 4, 2, 4)]     // one full wave
    public void AWaveBelowTheSaturatingCountStreamsBelowFullRate(int ranges, int resident, int saturatingCtas, int rangeTimes) =>
        Assert.Equal(rangeTimes * (64L + DecodeCuda.RangeOverheadTokens), DecodeCuda.RangeCost(64, ranges, sms: 1, resident, saturatingCtas, tokens: 64));

    // The choice against every split of the same cache: none ends sooner on the busiest SM.
    [Theory]
    [InlineData(40000, 7, 132, 1)]
    [InlineData(65536, 96, 132, 2)]
    [InlineData(3000, 50, 100, 1)]
    [InlineData(131072, 3, 132, 2)]
    [InlineData(20000, 130, 132, 5)]
    public void NoOtherSplitEndsSooner(int longest, long ctas, int sms, int saturatingCtas)
    {
        long Cost(int tokens) => DecodeCuda.RangeCost(longest, ctas, sms, 4, saturatingCtas, tokens);
        int chosen = DecodeCuda.SplitTokens(longest, ctas, sms, resident: 4, saturatingCtas);
        for (int tokens = Math.Max(256, (longest + (4 * sms) - 1) / (4 * sms)); tokens <= longest; tokens += 64)
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
        DecodeCuda.DecodeKernel kernel = DecodeCuda.Kernel(e, ev, maxShared);

        Assert.Equal((entry, shared), (kernel.Entry, kernel.SharedBytes));
    }

    [Theory]
    [InlineData(128, 128, 232448, "ag_decode_mma_fp8_128", 42240)]   // codes [64][E + 16] a stage, two stages, widened in registers
    [InlineData(64, 64, 232448, "ag_decode_mma_fp8_64", 23808)]
    [InlineData(256, 256, 232448, "ag_decode_mma_fp8_256", 113920)]  // three stages at E 256 (two CTAs an SM either way)
    [InlineData(128, 128, 101376, "ag_decode_mma_fp8_128", 42240)]   // sm_86/89: fits
    [InlineData(256, 256, 101376, "ag_decode_split_fp8", 55488)]     // sm_86/89: does not
    [InlineData(128, 128, 0, "ag_decode_split_fp8", 30912)]          // tensor cores off: 1-byte K/V tiles [64][width + 16]
    [InlineData(96, 96, 232448, "ag_decode_split_fp8", 24768)]       // E = Ev not 64, 128 or 256
    [InlineData(128, 64, 232448, "ag_decode_split_fp8", 26816)]      // E != Ev
    [InlineData(72, 40, 232448, "ag_decode_split_fp8", 18112)]       // widths that are not multiples of 16 (byte-wise loads)
    public void AnFp8CacheTakesTheTensorCoresAtHeadDims64To256WhenThePipelineFits(int e, int ev, int maxShared, string entry, int shared)
    {
        DecodeCuda.DecodeKernel kernel = DecodeCuda.Kernel(e, ev, maxShared, fp8: true);

        Assert.Equal((entry, shared), (kernel.Entry, kernel.SharedBytes));
    }

    [Fact]
    public void TheFp8AppendKernelReadsTheThreeFloatDTypesAndNothingElse()
    {
        Assert.Equal([0, 1, 2], new[] { DType.Float32, DType.BFloat16, DType.Float16 }.Select(DecodeCuda.SourceFormat));
        Assert.Equal("dtype", Assert.Throws<ArgumentException>(() => DecodeCuda.SourceFormat(DType.Int32)).ParamName);
    }
}
