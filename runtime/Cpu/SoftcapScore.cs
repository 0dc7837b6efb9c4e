using System;
using System.Runtime.CompilerServices;
using AttentionGen.Cpu.Simd;

namespace AttentionGen.Cpu;

/// <summary>Gemma2's attention logit soft-capping: a scaled score s becomes cap · tanh(s / cap), bounded by ±cap.</summary>
public readonly struct SoftcapScore : IScoreMod
{
    private readonly float _cap;

    /// <summary>The soft-cap at <paramref name="cap"/>, a positive finite number (Gemma 2: 50).</summary>
    public SoftcapScore(float cap)
    {
        if (!(cap > 0 && float.IsFinite(cap)))
        {
            throw new ArgumentOutOfRangeException(nameof(cap), cap, $"cap must be a positive finite number; got {cap}.");
        }

        _cap = cap;
    }

    /// <inheritdoc/>
    public static bool IsIdentity => false;

    /// <inheritdoc/>
    public float Apply(float score, int batch, int head, int q, int kv) => _cap * MathF.Tanh(score / _cap);

    /// <summary>
    /// <see cref="Apply"/> on <paramref name="count"/> scores in place, a vector at a time (<see cref="FastTanh"/>, within a
    /// few ulps of MathF.Tanh): the kernels call this for a row instead of a libm tanh per score.
    /// </summary>
    internal void ApplyRow<TVec>(ref float scores, int count)
        where TVec : struct, ISimd<TVec>
    {
        TVec scale = TVec.Broadcast(1f / _cap), bound = TVec.Broadcast(_cap);
        int j = 0;
        for (; j + TVec.Count <= count; j += TVec.Count)
        {
            ref float x = ref Unsafe.Add(ref scores, j);
            TVec.Store(TVec.Multiply(bound, FastTanh.Tanh(TVec.Multiply(TVec.Load(ref x), scale))), ref x);
        }

        for (; j < count; j++)
        {
            ref float x = ref Unsafe.Add(ref scores, j);
            x = Apply(x, 0, 0, 0, 0);
        }
    }
}
