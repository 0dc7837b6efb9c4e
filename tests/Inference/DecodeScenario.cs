using System;
using System.Collections.Generic;
using System.Linq;
using AttentionGen.Inference;
using AttentionGen.Reference;

namespace AttentionGen.Tests.Inference;

/// <summary>
/// A batch of sequences of random lengths (0 and 1 included), their full K/V, a block of new queries, and a plan of
/// ragged appends (random chunk sizes, per-sequence counts, NaN padding that must never be read) that fills a cache.
/// </summary>
internal sealed class DecodeScenario
{
    private readonly List<(int Tokens, int[] Counts)> _appends = [];

    private DecodeScenario(Random random, int[] lengths, int kvHeads, int group, int headDim, int valueDim, int queries, DType dtype)
    {
        Lengths = lengths;
        KvHeads = kvHeads;
        QueryHeads = kvHeads * group;
        HeadDim = headDim;
        ValueDim = valueDim;
        Queries = queries;
        DType = dtype;
        MaxLength = Math.Max(1, lengths.Max());
        Keys = Tensor.RandomNormal(random, dtype, lengths.Length, kvHeads, MaxLength, headDim);
        Values = Tensor.RandomNormal(random, dtype, lengths.Length, kvHeads, MaxLength, valueDim);
        Q = Tensor.RandomNormal(random, dtype, lengths.Length, QueryHeads, queries, headDim);
        var filled = new int[lengths.Length];
        while (filled.Where((n, b) => n < lengths[b]).Any())
        {
            int tokens = random.Next(1, 8);
            int[] counts = lengths.Select((n, b) => Math.Min(random.Next(0, tokens + 1), n - filled[b])).ToArray();
            _appends.Add((tokens, counts));
            for (int b = 0; b < counts.Length; b++)
            {
                filled[b] += counts[b];
            }
        }
    }

    public int[] Lengths { get; }

    public int Batch => Lengths.Length;

    public int KvHeads { get; }

    public int QueryHeads { get; }

    public int HeadDim { get; }

    public int ValueDim { get; }

    public int Queries { get; }

    public DType DType { get; }

    /// <summary>Keys/values held: the longest sequence, at least 1 so that the tensors are not empty.</summary>
    public int MaxLength { get; }

    /// <summary>Every sequence's keys [B, Hkv, MaxLength, E]; rows past a sequence's length are not part of it.</summary>
    public Tensor Keys { get; }

    public Tensor Values { get; }

    /// <summary>The new queries [B, Hq, Tq, E].</summary>
    public Tensor Q { get; }

    /// <summary>Lengths 0..40 with a 0-length and a 1-token sequence among 4; Tq 1..16; GQA groups 1..3.</summary>
    public static DecodeScenario Random(Random random, DType dtype = DType.Float32, int batch = 4)
    {
        int[] lengths = Enumerable.Range(0, batch).Select(_ => random.Next(0, 41)).ToArray();
        lengths[0] = 0;
        if (batch > 1)
        {
            lengths[1] = 1;
        }

        return new DecodeScenario(random, lengths, random.Next(1, 3), random.Next(1, 4), random.Next(1, 3) * 8 + random.Next(0, 2), random.Next(1, 3) * 8, random.Next(1, DecodeAttention.MaxQueries + 1), dtype);
    }

    /// <summary>A scenario of the given lengths and shapes (long sequences, for the split-K path).</summary>
    public static DecodeScenario WithLengths(Random random, int[] lengths, int kvHeads, int group, int headDim, int queries, DType dtype = DType.Float32) =>
        new(random, lengths, kvHeads, group, headDim, headDim, queries, dtype);

    /// <summary>A scenario of the same shapes and lengths with new values, queries and appends.</summary>
    public DecodeScenario Redraw(Random random) => new(random, Lengths, KvHeads, QueryHeads / KvHeads, HeadDim, ValueDim, Queries, DType);

    /// <summary>An empty contiguous cache that fits the scenario.</summary>
    public KvCache ContiguousCache() => KvCache.Contiguous(Batch, KvHeads, HeadDim, ValueDim, MaxLength, DType);

    /// <summary>A pool of <paramref name="pageSize"/>-token pages with room for the scenario and a few pages to spare.</summary>
    public KvPagePool Pool(int pageSize) => new(PagesNeeded(pageSize) + 3, pageSize, KvHeads, HeadDim, ValueDim, DType);

    /// <summary>Pages of <paramref name="pageSize"/> tokens the sequences fill.</summary>
    public int PagesNeeded(int pageSize) => Lengths.Sum(n => (n + pageSize - 1) / pageSize);

    /// <summary>Runs the append plan on <paramref name="cache"/>: afterwards sequence b holds rows 0..Lengths[b] of Keys/Values.</summary>
    public void Fill(KvCache cache)
    {
        var filled = new int[Batch];
        float[] keys = Keys.ToFloatArray(), values = Values.ToFloatArray();   // read once: a long sequence takes hundreds of appends
        foreach ((int tokens, int[] counts) in _appends)
        {
            cache.Append(Chunk(keys, HeadDim, filled, tokens, counts), Chunk(values, ValueDim, filled, tokens, counts), counts);
            for (int b = 0; b < Batch; b++)
            {
                filled[b] += counts[b];
            }
        }
    }

    /// <summary>The float64 reference: query i of sequence b sees keys j &lt; length with j ≤ length - Tq + i when causal.</summary>
    public ReferenceResult Reference(bool causal) =>
        ReferenceAttention.Compute(Q, Keys, Values, (b, h, i, j) => j < Lengths[b] && (!causal || j <= Lengths[b] - Queries + i));

    // Rows filled[b] .. filled[b] + counts[b] of each sequence, NaN in the padding after them.
    private Tensor Chunk(float[] all, int width, int[] filled, int tokens, int[] counts)
    {
        var chunk = new float[Batch * KvHeads * tokens * width];
        Array.Fill(chunk, float.NaN);
        for (int b = 0; b < Batch; b++)
        {
            for (int h = 0; h < KvHeads; h++)
            {
                for (int t = 0; t < counts[b]; t++)
                {
                    Array.Copy(all, (((b * KvHeads) + h) * MaxLength + filled[b] + t) * width, chunk, (((b * KvHeads) + h) * tokens + t) * width, width);
                }
            }
        }

        return Tensor.FromArray(chunk, Batch, KvHeads, tokens, width).To(DType);
    }
}
