using System;

namespace AttentionGen.Inference;

/// <summary>The checks an attention layer runs on a cache before it projects anything into it.</summary>
public sealed partial class KvCache
{
    /// <summary>
    /// Throws unless this cache can take <paramref name="tokens"/> new tokens for each of <paramref name="batch"/>
    /// sequences of a layer with <paramref name="kvHeads"/> kv heads of <paramref name="headDim"/> (keys) and
    /// <paramref name="valueDim"/> (values): <see cref="ObjectDisposedException"/> when it (or its pool) was disposed,
    /// <see cref="ArgumentException"/> naming <paramref name="paramName"/> for another shape, a sequence the append would
    /// take past the capacity, or a pool without the pages it needs. A layer calls it first, so that a call that throws
    /// has computed and written nothing.
    /// </summary>
    internal void CheckLayerAppend(string layer, int batch, int kvHeads, int headDim, int valueDim, int tokens, string paramName)
    {
        ThrowIfDisposed();
        if (Batch != batch || KvHeads != kvHeads || HeadDim != headDim || ValueDim != valueDim)
        {
            throw new ArgumentException(
                $"{paramName} must hold {batch} sequences of {kvHeads} kv heads, head dim {headDim} and value dim {valueDim} ({layer}'s input and heads); " +
                $"got {Batch} sequences of {KvHeads} kv heads, head dim {HeadDim} and value dim {ValueDim}.",
                paramName);
        }

        var counts = new int[Batch];
        Array.Fill(counts, tokens);
        CheckCapacity(counts, paramName);
        CheckFreePages(counts, paramName);
    }
}
