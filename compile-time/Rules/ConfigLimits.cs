namespace AttentionGen.CompileTime.Rules;

/// <summary>
/// Size and default rules that the compile-time rules (<c>SpecRules</c>) and the run-time configs both apply:
/// one definition for both (the runtime links this file).
/// </summary>
internal static class ConfigLimits
{
    /// <summary>Whether q's width Heads · DimHead and to_kv's 2 · Heads · DimHead fit in an int (the module sizes its weights and loops with them).</summary>
    public static bool InnerDimFits(int heads, int dimHead) => 2L * heads * dimHead <= int.MaxValue;

    /// <summary>Whether a local query's key span, (lookBackward + 1 + lookForward) · windowSize, fits in an int (it sizes arrays and loops).</summary>
    public static bool KeySpanFits(int windowSize, int lookBackward, int lookForward) => ((long)lookBackward + 1 + lookForward) * windowSize <= int.MaxValue;

    /// <summary>Whether an attention dropout is in [0, 1); written so that NaN is out of range too.</summary>
    public static bool DropoutInRange(float dropout) => dropout >= 0f && dropout < 1f;

    /// <summary>[Local]'s LookForward with the reference's default resolved: -1 becomes 0 if causal, else 1.</summary>
    public static int ResolvedLookForward(int lookForward, bool causal) => lookForward == -1 ? (causal ? 0 : 1) : lookForward;

    /// <summary>[Local]'s XposScaleBase with the reference's default resolved: 0 becomes WindowSize / 2 (integer division), itself 0 for a window of 1.</summary>
    public static float ResolvedXposScaleBase(float xposScaleBase, int windowSize) => xposScaleBase != 0 ? xposScaleBase : windowSize / 2;
}
