using System;
using System.Buffers;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Properties;

/// <summary>The CPU kernel's scratch comes from <see cref="ArrayPool{T}"/>, stale from earlier calls: no result may depend on it.</summary>
public class PooledScratchTests
{
    // The block-mask property's second find (failing only after other cases had run, never on replay alone): a key tile
    // that is not a whole number of vectors (11 keys, 16 lanes) is multiplied as whole vectors, and the last tile of
    // the last head read past its panel row into the pooled array's slack. Stale finite values were masked away, but
    // an earlier call's -inf (a masked score) or NaN turned whole rows into NaN with LSE -inf. Here the array the
    // transposed keys rent next (7 rows of 16 floats: 112, in the pool's 128 bucket) is poisoned with NaN first.
    [Fact]
    public void APartialKeyTileReadsNoStaleScratch()
    {
        const int n = 5, m = 14, e = 7;
        var random = new Random(3);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 1, n, e);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 1, 1, m, e);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 1, 1, m, e);
        float[] stale = ArrayPool<float>.Shared.Rent(e * 16);
        stale.AsSpan().Fill(float.NaN);
        ArrayPool<float>.Shared.Return(stale);

        using AttentionOutput result = Attention.ScaledDotProduct(q, k, v, kBucket: 11);

        ReferenceExpectations.Match(result.Output, result.Lse, Compare.Reference(q, k, v, causal: false, keep: null, m), DType.Float32, "key tiles of 11 over 14 keys");
    }
}
