using AttentionGen.Cpu;
using ILGPU;

namespace AttentionGen.ILGpu.Kernels.TensorCores;

/// <summary>
/// The masking of one score tile, as <see cref="FlashForwardKernel"/> masks: a pair past the group's rows or the key
/// tile, a key the key-padding mask drops, or one the mask mod refuses scores -inf; the rest get the score mod of
/// dot · scale. Query and key indices are absolute.
/// </summary>
internal readonly struct ScoreKeys(int batch, int head, int rowEnd, int keyEnd, int keyLength, bool hasKeyMask, float scale)
{
    /// <summary>
    /// The accumulator's four dot products masked and modded: C0 and C1 are row <paramref name="qi"/>, keys
    /// <paramref name="kv"/> and kv + 1; C2 and C3 are row qi + 8, the same keys.
    /// </summary>
    public MmaAccumulator Mask<TMask, TScore>(MmaAccumulator dots, int qi, int kv, ArrayView<byte> keep, TMask mask, TScore score)
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod => new()
    {
        C0 = Score(dots.C0, qi, kv, keep, mask, score),
        C1 = Score(dots.C1, qi, kv + 1, keep, mask, score),
        C2 = Score(dots.C2, qi + 8, kv, keep, mask, score),
        C3 = Score(dots.C3, qi + 8, kv + 1, keep, mask, score),
    };

    private float Score<TMask, TScore>(float dot, int qi, int kv, ArrayView<byte> keep, TMask mask, TScore score)
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod =>
        qi < rowEnd && kv < keyEnd && (!hasKeyMask || keep[((long)batch * keyLength) + kv] != 0) && mask.IsAllowed(batch, head, qi, kv)
            ? score.Apply(dot * scale, batch, head, qi, kv)
            : float.NegativeInfinity;
}
