namespace AttentionGen.Execution;

/// <summary>
/// lucidrains' local attention as rows of windows (SPEC §4): q, k, v [.., N, E] are <see cref="Rows"/> packed row-sets;
/// each is cut into <see cref="Windows"/> windows of <see cref="WindowSize"/> queries, and query i of window w (token
/// w·ws + i) sees the <see cref="Span"/> slots of its look-around, slot j being token (w − LookBackward)·ws + j. Slots
/// outside the sequence are masked; so are later tokens under <see cref="Causal"/>, tokens beyond an exact window's
/// reach, and keys the key mask drops. Plain values, checked by the variant that lowers to them (Variants/LocalShape).
/// </summary>
/// <param name="Rows">P: the product of q's leading dims.</param>
/// <param name="Length">N, the tokens of a row-set.</param>
/// <param name="HeadDim">E of q and k.</param>
/// <param name="ValueDim">Ev of v.</param>
/// <param name="OutputShape">q's shape with Ev last: the output's.</param>
/// <param name="WindowSize">ws, the per-call window (the configured one unless xpos extrapolates).</param>
/// <param name="Windows">Windows per row-set: N, autopadded, over ws.</param>
/// <param name="Span">(LookBackward + 1 + LookForward) · ws slots around each window.</param>
/// <param name="LookBackward">Windows seen behind the query's.</param>
/// <param name="LookForward">Windows seen ahead of it.</param>
/// <param name="Causal">Tokens after the query are masked.</param>
/// <param name="BackReach">With an exact window: how many tokens back a query sees (configured window · LookBackward); null: no limit.</param>
/// <param name="ForwardReach">With an exact, non-causal window: how many tokens ahead (configured window · LookForward); null: no limit.</param>
/// <param name="SharedQk">Keys are L2-normalised and a token scores −5e4 with itself.</param>
/// <param name="KeyMask">The key mask, or null.</param>
/// <param name="Bias">The attention bias, or null.</param>
/// <param name="RotaryDim">Dimensions q and k rotate over (the whole head); 0 when they are not rotated.</param>
/// <param name="Xpos">The rotation is scaled by xpos (only with <see cref="RotaryDim"/> &gt; 0).</param>
/// <param name="XposScaleBase">The xpos scale base (resolved; passed to the GPU gather whether or not xpos is on).</param>
internal sealed record LocalWindows(
    int Rows,
    int Length,
    int HeadDim,
    int ValueDim,
    int[] OutputShape,
    int WindowSize,
    int Windows,
    int Span,
    int LookBackward,
    int LookForward,
    bool Causal,
    int? BackReach,
    int? ForwardReach,
    bool SharedQk,
    LocalKeyMask? KeyMask,
    LocalBias? Bias,
    int RotaryDim,
    bool Xpos,
    float XposScaleBase)
{
    /// <summary>Whether q and k are rotated to their span positions.</summary>
    public bool Rotary => RotaryDim > 0;

    /// <summary>Packed rows per row of the key mask (1 without one).</summary>
    public int RowsPerMaskRow => KeyMask?.RowsPerMaskRow ?? 1;

    /// <summary>Hb of the attention bias (1 without one).</summary>
    public int BiasHeads => Bias?.Heads ?? 1;
}

/// <summary>
/// The key mask [Bm, N] bool (true = keep) of packed rows p with p / <paramref name="RowsPerMaskRow"/> = its row.
/// <paramref name="Values"/> holds it as bools when it lives on the CPU (the GPU gather reads the tensor).
/// </summary>
internal sealed record LocalKeyMask(Tensor Tensor, bool[]? Values, int RowsPerMaskRow);

/// <summary>
/// The attention bias [Hb, ws, span] added to the scores of packed rows p with p % <paramref name="Heads"/> = its head.
/// <paramref name="Values"/> holds it as floats when it lives on the CPU (the GPU kernel reads the tensor).
/// </summary>
internal sealed record LocalBias(Tensor Tensor, float[]? Values, int Heads);
