namespace AttentionGen.Cuda;

/// <summary>
/// Sizes the launchers and the kernels must agree on besides <see cref="FlashParams"/>. Kernels/flash_params.inc
/// carries them as AG_CONTRACT_* defines (generated with the struct), and each kernel static_asserts its own layout
/// against them, so a change on one side alone fails to compile instead of corrupting shared memory.
/// </summary>
internal static class KernelContract
{
    /// <summary>flash_fwd_sm90.cu's query rows per item, and keys per K/V tile.</summary>
    public const int Sm90BlockM = 128;

    /// <summary>flash_fwd_sm90.cu's K/V stages in flight.</summary>
    public const int Sm90Stages = 2;

    /// <summary>flash_fwd_sm90.cu's mbarriers: full and empty for K and for V per stage, q_full and o_full per item parity.</summary>
    public const int Sm90MBarrierBytes = ((4 * Sm90Stages) + (2 * 2)) * 8;

    /// <summary>
    /// flash_fwd_sm90.cu's state of the two items in flight, besides their plans: two ItemSlots (48 bytes each), the
    /// plans' bounds (16 bytes) and the rows' LSEs and blend weights (2 · 2 floats per row).
    /// </summary>
    public const int Sm90ItemStateBytes = (2 * 48) + 16 + (2 * 2 * Sm90BlockM * 4);
}
