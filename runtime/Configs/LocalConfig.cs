using System;
using AttentionGen.CompileTime.Rules;

namespace AttentionGen;

/// <summary>
/// The constants of a <c>[Local]</c> module (SPEC §4, lucidrains' <c>LocalAttention</c>), with the reference's
/// defaults resolved: LookForward −1 becomes 0 if causal else 1, Scale 0 becomes 1/sqrt(E) at call time (any other
/// finite value, negative too, is used as given),
/// XposScaleBase 0 becomes WindowSize / 2 (integer division).
/// </summary>
/// <remarks>
/// In the root namespace, below both its users (<see cref="Variants.LocalAttention"/> and
/// <see cref="Modules.LocalAttentionModule"/>), so that Variants need not import Modules (in 0.1.0 it
/// was <c>AttentionGen.Modules.LocalConfig</c>).
/// </remarks>
public sealed record LocalConfig
{
    /// <summary>Checks every value; a failure names the argument, the allowed range and the value.</summary>
    public LocalConfig(
        int windowSize,
        bool causal = false,
        int lookBackward = 1,
        int lookForward = -1,
        float dropout = 0,
        bool sharedQk = false,
        int dim = 0,
        bool autopad = false,
        bool exactWindowsize = false,
        float scale = 0,
        bool useRotaryPosEmb = true,
        bool useXpos = false,
        float xposScaleBase = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(windowSize);
        ArgumentOutOfRangeException.ThrowIfNegative(lookBackward);
        ArgumentOutOfRangeException.ThrowIfLessThan(lookForward, -1);
        ArgumentOutOfRangeException.ThrowIfNegative(dim);
        // Any finite value, as the reference takes it (a negative scale or scale base included); 0 means unset.
        Finite(scale, nameof(scale));
        Finite(xposScaleBase, nameof(xposScaleBase));
        if (!ConfigLimits.DropoutInRange(dropout))
        {
            throw new ArgumentOutOfRangeException(nameof(dropout), dropout, "dropout must be in [0, 1).");
        }

        int forward = ConfigLimits.ResolvedLookForward(lookForward, causal);
        if (causal && forward > 0)
        {
            throw new ArgumentException($"a causal local attention cannot look forward; lookForward must be 0, got {lookForward}.", nameof(lookForward));
        }

        // rotate_half pairs the first and second halves of the rotary dim and the reference repeats its Dim / 2 frequencies
        // twice: an odd Dim fails there on a shape mismatch, and has no pairing to reproduce here.
        if (useRotaryPosEmb && dim % 2 != 0)
        {
            throw new ArgumentException($"the rotary dim must be even (rotate_half pairs its two halves); got Dim = {dim}.", nameof(dim));
        }

        // The reference's default scale base, window_size // 2, is 0 for a window of 1: it divides positions by it and
        // every output is NaN. We refuse that instead of reproducing it.
        if (useXpos && useRotaryPosEmb && dim > 0 && ConfigLimits.ResolvedXposScaleBase(xposScaleBase, windowSize) == 0)
        {
            throw new ArgumentException($"UseXpos with WindowSize = {windowSize} needs an explicit, non-zero XposScaleBase: its default, WindowSize / 2, is 0, and the reference divides by it (NaN).", nameof(xposScaleBase));
        }

        // A query attends to a span of (lookBackward + 1 + lookForward) windows: its key count sizes arrays and loops.
        if (!ConfigLimits.KeySpanFits(windowSize, lookBackward, forward))
        {
            throw new ArgumentOutOfRangeException(nameof(lookBackward), $"the key span (lookBackward + 1 + lookForward) · windowSize = ({lookBackward} + 1 + {forward}) · {windowSize} exceeds the limit of {int.MaxValue}.");
        }

        WindowSize = windowSize;
        Causal = causal;
        LookBackward = lookBackward;
        LookForward = forward;
        Dropout = dropout;
        SharedQk = sharedQk;
        Dim = dim;
        Autopad = autopad;
        ExactWindowsize = exactWindowsize;
        Scale = scale;
        UseRotaryPosEmb = useRotaryPosEmb;
        UseXpos = useXpos;
        XposScaleBase = ConfigLimits.ResolvedXposScaleBase(xposScaleBase, windowSize);
    }

    /// <summary>Tokens per window.</summary>
    public int WindowSize { get; }

    /// <summary>Keys after the query are masked.</summary>
    public bool Causal { get; }

    /// <summary>Windows seen behind the query's.</summary>
    public int LookBackward { get; }

    /// <summary>Windows seen ahead (resolved).</summary>
    public int LookForward { get; }

    /// <summary>Windows a query's keys span: LookBackward + 1 + LookForward (checked to fit, with the window, in an int).</summary>
    internal int SpanWindows => LookBackward + 1 + LookForward;

    /// <summary>Attention dropout in training; inference ignores it.</summary>
    public float Dropout { get; }

    /// <summary>Keys are l2-normalised and a token scores −5e4 with itself.</summary>
    public bool SharedQk { get; }

    /// <summary>Rotary dimension; 0 = no rotary.</summary>
    public int Dim { get; }

    /// <summary>Pads N to a multiple of the window and crops the output.</summary>
    public bool Autopad { get; }

    /// <summary>Masks keys beyond WindowSize·LookBackward behind (and WindowSize·LookForward ahead).</summary>
    public bool ExactWindowsize { get; }

    /// <summary>Softmax scale; 0 = 1/sqrt(E), any other finite value as given.</summary>
    public float Scale { get; }

    /// <summary>Rotary embeddings when <see cref="Dim"/> &gt; 0.</summary>
    public bool UseRotaryPosEmb { get; }

    /// <summary>xpos scaling on top of rotary.</summary>
    public bool UseXpos { get; }

    /// <summary>xpos scale base (resolved).</summary>
    public float XposScaleBase { get; }

    private static void Finite(float value, string name)
    {
        if (!float.IsFinite(value))
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be a finite number (0 = the default).");
        }
    }

    /// <summary>Whether q and k are rotated: the reference builds its rotary module only with a dim.</summary>
    public bool Rotary => UseRotaryPosEmb && Dim > 0;
}
