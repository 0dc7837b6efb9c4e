using System;

namespace AttentionGen.Cpu;

/// <summary>
/// One box of a closed-form mask: lo ≤ kv − q ≤ hi, kv in [KeyLow, KeyHigh], q in [QueryLow, QueryHigh]
/// (inclusive; long.MinValue/MaxValue for no bound). Causal is DiagonalHigh = 0; a window of w adds
/// DiagonalLow = −(w − 1); a prefix of P is KeyHigh = P − 1.
/// </summary>
public readonly record struct DiagonalBox(long DiagonalLow, long DiagonalHigh, long KeyLow, long KeyHigh, long QueryLow, long QueryHigh)
{
    /// <summary>lo ≤ kv − q ≤ hi over all keys and queries (null: that side open).</summary>
    internal static DiagonalBox Diagonal(long? low, long? high) =>
        new(low ?? long.MinValue, high ?? long.MaxValue, long.MinValue, long.MaxValue, long.MinValue, long.MaxValue);

    /// <summary>The causal band i − width &lt; j ≤ i.</summary>
    internal static DiagonalBox Band(int width) => Diagonal(1L - width, 0);

    /// <summary>Whether the pair lies in the box.</summary>
    public bool Contains(int q, int kv) =>
        q >= QueryLow && q <= QueryHigh && kv >= KeyLow && kv <= KeyHigh && (long)kv - q >= DiagonalLow && (long)kv - q <= DiagonalHigh;

    /// <summary>The keys [start, end) of the box in row <paramref name="q"/> (empty when the row is outside it).</summary>
    internal void KeyRange(int q, out int start, out int end)
    {
        (start, end) = (0, 0);
        if (q < QueryLow || q > QueryHigh)
        {
            return;
        }

        long lo = Math.Max(Math.Max(KeyLow, Add(q, DiagonalLow)), 0);
        long hi = Math.Min(KeyHigh, Add(q, DiagonalHigh));
        start = (int)Math.Min(lo, int.MaxValue);
        // Max/Min rather than Math.Clamp: Clamp's argument check throws, which GPU compilers (ILGPU) refuse.
        end = (int)Math.Max(start, Math.Min(Math.Min(hi, int.MaxValue - 1L) + 1, int.MaxValue));
    }

    // q + d without overflow past the sentinels.
    private static long Add(int q, long d) =>
        d == long.MinValue ? long.MinValue : d == long.MaxValue ? long.MaxValue : q + d;
}

/// <summary>
/// A mask the generator recognised in a <c>[MaskMod]</c> (causal, sliding window, band, prefix-LM and their
/// and/or combinations) as a union of <see cref="DiagonalBox"/>es. It is both the mask and its tile plan: tiles
/// are classified from the boxes' corners, so no block mask is built or read.
/// </summary>
public readonly struct ClosedFormPlan : ITilePlan, IMaskMod
{
    private readonly DiagonalBox[] _boxes;

    /// <summary>The union of <paramref name="boxes"/>.</summary>
    public ClosedFormPlan(DiagonalBox[] boxes) => _boxes = boxes ?? throw new ArgumentNullException(nameof(boxes));

    /// <summary>The boxes of the union (for kernels that hold them in their own memory).</summary>
    internal ReadOnlySpan<DiagonalBox> Boxes => _boxes;

    /// <inheritdoc/>
    public bool IsAllowed(int batch, int head, int q, int kv) => AnyContains(new HostTable<DiagonalBox>(_boxes), _boxes.Length, q, kv);

    /// <inheritdoc/>
    public bool TryGetKeyRange(int batch, int head, int q, out int start, out int end) =>
        TryGetKeyRange(new HostTable<DiagonalBox>(_boxes), _boxes.Length, q, out start, out end);

    /// <summary>The union's rule over <paramref name="count"/> boxes held anywhere (here, or in another kernel's memory).</summary>
    internal static bool AnyContains<TBoxes>(TBoxes boxes, int count, int q, int kv)
        where TBoxes : struct, ITable<DiagonalBox>
    {
        for (int i = 0; i < count; i++)
        {
            if (boxes[i].Contains(q, kv))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The keys of row <paramref name="q"/> as one interval: known for one box (or none), not for a union of several.</summary>
    internal static bool TryGetKeyRange<TBoxes>(TBoxes boxes, int count, int q, out int start, out int end)
        where TBoxes : struct, ITable<DiagonalBox>
    {
        (start, end) = (0, 0);
        if (count != 1)
        {
            return count == 0;
        }

        boxes[0].KeyRange(q, out start, out end);
        return true;
    }

    /// <inheritdoc/>
    public TileKind Classify(int batch, int head, int qStart, int qEnd, int kvStart, int kvEnd)
    {
        bool any = false;
        foreach (DiagonalBox box in _boxes)
        {
            long q0 = Math.Max(qStart, box.QueryLow), q1 = Math.Min(qEnd - 1, box.QueryHigh);
            long k0 = Math.Max(kvStart, box.KeyLow), k1 = Math.Min(kvEnd - 1, box.KeyHigh);
            if (q0 > q1 || k0 > k1 || k1 - q0 < box.DiagonalLow || k0 - q1 > box.DiagonalHigh)
            {
                continue;
            }

            // Every corner inside: the whole tile is in this box.
            if (q0 == qStart && q1 == qEnd - 1 && k0 == kvStart && k1 == kvEnd - 1 && k0 - q1 >= box.DiagonalLow && k1 - q0 <= box.DiagonalHigh)
            {
                return TileKind.Full;
            }

            any = true;
        }

        return any ? TileKind.Partial : TileKind.Skip;
    }

}
