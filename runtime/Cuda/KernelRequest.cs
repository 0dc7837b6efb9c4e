namespace AttentionGen.Cuda;

/// <summary>
/// A module a launcher loads: <paramref name="Template"/> under <paramref name="Header"/>, compiled for the GPU's own
/// architecture or, when given, exactly <paramref name="Architecture"/> (sm_90a for the wgmma kernel). A layer lists the
/// requests its launchers make so the app's build can compile them ahead (docs/prebuilt-kernels.md).
/// </summary>
internal sealed record KernelRequest(string Template, string Header, string? Architecture = null);
