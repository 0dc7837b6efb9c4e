using System;
using System.Runtime.InteropServices;

namespace AttentionGen.Cpu;

/// <summary>
/// PyTorch's boolean <c>attn_mask</c> as a mask mod: key kv takes part in query q's row where the mask, broadcast to
/// [B, H, L, S], is true. Read in place through <see cref="BroadcastIndex"/>; not an interval, so every tile is partial.
/// </summary>
internal readonly struct BoolAttentionMask(Tensor mask) : IMaskMod
{
    private readonly BroadcastIndex _index = new(mask);

    // The array, not the tensor: a per-score read must not go through the storage's checks.
    private readonly byte[] _bytes = mask.HostArray;

    /// <inheritdoc/>
    public bool IsAllowed(int batch, int head, int q, int kv) => _bytes[_index.At(batch, head, q, kv)] != 0;

    /// <inheritdoc/>
    public bool TryGetKeyRange(int batch, int head, int q, out int start, out int end)
    {
        (start, end) = (0, 0);
        return false;
    }
}

/// <summary>
/// PyTorch's float <c>attn_mask</c> as a score mod: the mask, broadcast to [B, H, L, S], is added to the scaled score
/// before the softmax, so a -inf entry masks its pair. <paramref name="bias"/> is float32 (the CPU's compute dtype).
/// </summary>
internal readonly struct AdditiveAttentionMask(Tensor bias) : IScoreMod
{
    private readonly BroadcastIndex _index = new(bias);

    // The array, not the tensor: a per-score read must not go through the storage's checks.
    private readonly byte[] _bytes = bias.HostArray;

    /// <inheritdoc/>
    public static bool IsIdentity => false;

    /// <inheritdoc/>
    public float Apply(float score, int batch, int head, int q, int kv) =>
        score + MemoryMarshal.Read<float>(_bytes.AsSpan(_index.At(batch, head, q, kv) * sizeof(float)));
}
