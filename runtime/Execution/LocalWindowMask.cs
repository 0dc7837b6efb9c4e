using System;
using AttentionGen.Cpu;

namespace AttentionGen.Execution;

/// <summary>
/// Which keys of a look-around span a query of its window sees (SPEC §4). Problem g is window g % W of packed
/// row-set g / W; query i is token w·ws + i and span slot j is token (w − LookBackward)·ws + j. Slots outside
/// the sequence (and autopad tokens) are masked; causal masks later tokens; the exact window masks tokens further
/// than the configured window reach; the key mask (true = keep, read through <typeparamref name="TKeep"/>: a host
/// array on the CPU, accelerator memory under ILGPU) applies last.
/// </summary>
internal readonly struct LocalWindowMask<TKeep> : IMaskMod
    where TKeep : struct, ITable<bool>
{
    private readonly int _windows;
    private readonly int _windowSize;
    private readonly int _lookBackward;
    private readonly int _length;
    private readonly int _causal;   // 1 or 0: an int keeps the struct blittable for GPU kernels
    private readonly int _backReach;
    private readonly int _forwardReach;
    private readonly TKeep _keep;
    private readonly int _rowsPerMaskRow;

    public LocalWindowMask(LocalWindows w, TKeep keep)
    {
        _windows = w.Windows;
        _windowSize = w.WindowSize;
        _lookBackward = w.LookBackward;
        _length = w.Length;
        _causal = w.Causal ? 1 : 0;
        _backReach = w.BackReach ?? int.MaxValue;
        _forwardReach = w.ForwardReach ?? int.MaxValue;
        _keep = keep;
        _rowsPerMaskRow = w.RowsPerMaskRow;
    }

    private LocalWindowMask(int windows, int windowSize, int lookBackward, int length, int causal, int backReach, int forwardReach, TKeep keep, int rowsPerMaskRow)
    {
        (_windows, _windowSize, _lookBackward, _length, _causal) = (windows, windowSize, lookBackward, length, causal);
        (_backReach, _forwardReach, _keep, _rowsPerMaskRow) = (backReach, forwardReach, keep, rowsPerMaskRow);
    }

    /// <summary>The key mask this mask reads.</summary>
    public TKeep Keep => _keep;

    /// <summary>The same windows over the key mask <paramref name="keep"/> (the same values, held elsewhere).</summary>
    public LocalWindowMask<TOther> WithKeep<TOther>(TOther keep)
        where TOther : struct, ITable<bool> =>
        LocalWindowMask<TOther>.Reading(this, keep);

    /// <inheritdoc/>
    public bool IsAllowed(int batch, int head, int q, int kv)
    {
        int w = batch % _windows, t = (w * _windowSize) + q, u = ((w - _lookBackward) * _windowSize) + kv;
        return u >= 0 && u < _length
            && (_causal == 0 || u <= t)
            && (long)t - u <= _backReach
            && (long)u - t <= _forwardReach
            && (!_keep.HasValues || _keep[(batch / _windows / _rowsPerMaskRow * _length) + u]);
    }

    /// <inheritdoc/>
    public bool TryGetKeyRange(int batch, int head, int q, out int start, out int end)
    {
        int w = batch % _windows, t = (w * _windowSize) + q, first = (w - _lookBackward) * _windowSize;
        long lo = Math.Max(0, (long)t - _backReach), hi = Math.Min(_length - 1L, _causal != 0 ? t : (long)t + _forwardReach);
        start = (int)Math.Max(0, lo - first);
        end = (int)Math.Max(start, Math.Min(int.MaxValue, hi - first + 1));
        return !_keep.HasValues;
    }

    private static LocalWindowMask<TKeep> Reading<TFrom>(LocalWindowMask<TFrom> from, TKeep keep)
        where TFrom : struct, ITable<bool> =>
        new(from._windows, from._windowSize, from._lookBackward, from._length, from._causal, from._backReach, from._forwardReach, keep, from._rowsPerMaskRow);
}

/// <summary>
/// The score changes of SPEC §4: the attention bias [Hb, ws, span] of packed row-set p is bias[p % Hb] (read through
/// <typeparamref name="TBias"/>); with a shared q/k a token's score with itself becomes −5e4 (it wins only when nothing
/// else is allowed).
/// </summary>
internal readonly struct LocalScore<TBias>(TBias bias, int biasHeads, int windows, int windowSize, int span, int lookBackward, int sharedQk) : IScoreMod
    where TBias : struct, ITable<float>
{
    /// <inheritdoc/>
    public static bool IsIdentity => false;

    /// <summary>The bias this score reads.</summary>
    public TBias Bias => bias;

    /// <summary>The same score over the bias <paramref name="other"/> (the same values, held elsewhere).</summary>
    public LocalScore<TOther> WithBias<TOther>(TOther other)
        where TOther : struct, ITable<float> =>
        new(other, biasHeads, windows, windowSize, span, lookBackward, sharedQk);

    /// <inheritdoc/>
    public float Apply(float score, int batch, int head, int q, int kv)
    {
        if (sharedQk != 0 && kv == q + (lookBackward * windowSize))
        {
            return -5e4f;
        }

        return !bias.HasValues ? score : score + bias[((((batch / windows) % biasHeads) * windowSize) + q) * span + kv];
    }
}
