using System;
using AttentionGen.Variants;
using Xunit;

namespace AttentionGen.Tests.Variants;

/// <summary>The public lookups of <see cref="RelativePositionBias"/> at the ends of their ranges.</summary>
public class RelativePositionBiasHostileInputTests
{
    // -int.MinValue wrapped to itself: bidirectional, Math.Abs of it threw OverflowException; causal, a key 2³¹ tokens
    // before the query fell in bucket 0 (distance 0) instead of the last.
    [Fact]
    public void BucketOfTheMostDistantKeyIsTheLastBucketOfItsDirection()
    {
        var bidirectional = RelativePositionBias.Random(1, heads: 2, bidirectional: true);
        var causal = RelativePositionBias.Random(1, heads: 2, bidirectional: false);

        Assert.Equal(15, bidirectional.Bucket(int.MinValue));   // key before the query: the first half's last bucket
        Assert.Equal(bidirectional.Bucket(-1_000_000), bidirectional.Bucket(int.MinValue));
        Assert.Equal(31, bidirectional.Bucket(int.MaxValue));
        Assert.Equal(31, causal.Bucket(int.MinValue));
        Assert.Equal(causal.Bucket(-1_000_000), causal.Bucket(int.MinValue));
    }

    // A head past the table read the next bucket's first column (or past the array) instead of refusing.
    [Theory]
    [InlineData(2)]
    [InlineData(-1)]
    public void BiasOfAHeadOutsideTheTableNamesHead(int head)
    {
        var bias = RelativePositionBias.Random(1, heads: 2, bidirectional: true);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => bias.Bias(head, relative: 0));
        Assert.Equal("head", e.ParamName);
        Assert.Contains($"[0, 2)", e.Message);
        Assert.Contains($"got {head}", e.Message);
    }

    [Fact]
    public void RandomTableOfNegativeHeadsNamesHeads()
    {
        Assert.Equal("heads", Assert.Throws<ArgumentOutOfRangeException>(() => RelativePositionBias.Random(1, heads: -1, bidirectional: true)).ParamName);
        Assert.Equal("numBuckets", Assert.Throws<ArgumentOutOfRangeException>(() => RelativePositionBias.Random(1, heads: 2, bidirectional: true, numBuckets: -4)).ParamName);
    }

    // Too few buckets for the two directions was refused under the inner table's name, "weights", which Random has not.
    [Theory]
    [InlineData(true, 3)]
    [InlineData(false, 1)]
    [InlineData(true, 0)]
    public void RandomTableOfTooFewBucketsNamesNumBuckets(bool bidirectional, int numBuckets) =>
        Assert.Equal("numBuckets", Assert.Throws<ArgumentOutOfRangeException>(() => RelativePositionBias.Random(1, 2, bidirectional, numBuckets)).ParamName);
}
