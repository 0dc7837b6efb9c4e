using System;
using AttentionGen.Cpu;

namespace AttentionGen.Execution;

/// <summary>
/// Which keys of a look-around span a query of its window sees (SPEC §4). Problem g is window g % W of packed
/// row-set g / W; query i is token w·ws + i and span slot j is token (w − LookBackward)·ws + j. Slots outside
/// the sequence (and autopad tokens) are masked; causal masks later tokens; the exact window masks tokens further
/// than the configured window reach; the key mask (true = keep) applies last.
/// </summary>
internal readonly struct LocalWindowMask : IMaskMod
{
    private readonly int _windows;
    private readonly int _windowSize;
    private readonly int _lookBackward;
    private readonly int _length;
    private readonly bool _causal;
    private readonly int _backReach;
    private readonly int _forwardReach;
    private readonly bool[]? _keep;
    private readonly int _rowsPerMaskRow;

    public LocalWindowMask(LocalWindows w)
    {
        _windows = w.Windows;
        _windowSize = w.WindowSize;
        _lookBackward = w.LookBackward;
        _length = w.Length;
        _causal = w.Causal;
        _backReach = w.BackReach ?? int.MaxValue;
        _forwardReach = w.ForwardReach ?? int.MaxValue;
        _keep = w.KeyMask?.Values;
        _rowsPerMaskRow = w.RowsPerMaskRow;
    }

    /// <inheritdoc/>
    public bool IsAllowed(int batch, int head, int q, int kv)
    {
        int w = batch % _windows, t = (w * _windowSize) + q, u = ((w - _lookBackward) * _windowSize) + kv;
        return u >= 0 && u < _length
            && (!_causal || u <= t)
            && (long)t - u <= _backReach
            && (long)u - t <= _forwardReach
            && (_keep is null || _keep[(batch / _windows / _rowsPerMaskRow * _length) + u]);
    }

    /// <inheritdoc/>
    public bool TryGetKeyRange(int batch, int head, int q, out int start, out int end)
    {
        int w = batch % _windows, t = (w * _windowSize) + q, first = (w - _lookBackward) * _windowSize;
        long lo = Math.Max(0, (long)t - _backReach), hi = Math.Min(_length - 1L, _causal ? t : (long)t + _forwardReach);
        start = (int)Math.Max(0, lo - first);
        end = (int)Math.Max(start, Math.Min(int.MaxValue, hi - first + 1));
        return _keep is null;
    }
}

/// <summary>
/// The score changes of SPEC §4: the attention bias [Hb, ws, span] of packed row-set p is bias[p % Hb]; with a
/// shared q/k a token's score with itself becomes −5e4 (it wins only when nothing else is allowed).
/// </summary>
internal readonly struct LocalScore(float[]? bias, int biasHeads, int windows, int windowSize, int span, int lookBackward, bool sharedQk) : IScoreMod
{
    /// <inheritdoc/>
    public static bool IsIdentity => false;

    /// <inheritdoc/>
    public float Apply(float score, int batch, int head, int q, int kv)
    {
        if (sharedQk && kv == q + (lookBackward * windowSize))
        {
            return -5e4f;
        }

        return bias is null ? score : score + bias[((((batch / windows) % biasHeads) * windowSize) + q) * span + kv];
    }
}
