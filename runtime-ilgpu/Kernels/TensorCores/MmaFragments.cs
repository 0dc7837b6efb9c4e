namespace AttentionGen.ILGpu.Kernels.TensorCores;

// The register fragments of PTX's mma.sync.aligned.m16n8k16 (PTX ISA, "Matrix Fragments for mma.m16n8k16"), per lane of a
// warp, with g = lane / 4 (the group) and t = lane % 4 (the thread in the group). A 32-bit register holds two 16-bit
// elements, the lower column (or k) in the low half.

/// <summary>
/// A: 16 × 16 (rows × k), row-major. A0 = row g, k 2t..2t+1; A1 = row g + 8, same k; A2 = row g, k 2t+8..2t+9;
/// A3 = row g + 8, k 2t+8..2t+9.
/// </summary>
internal readonly struct MmaRowOperand(uint a0, uint a1, uint a2, uint a3)
{
    public uint A0 { get; } = a0;

    public uint A1 { get; } = a1;

    public uint A2 { get; } = a2;

    public uint A3 { get; } = a3;
}

/// <summary>B: 16 × 8 (k × columns), column-major. B0 = column g, k 2t..2t+1; B1 = column g, k 2t+8..2t+9.</summary>
internal readonly struct MmaColumnOperand(uint b0, uint b1)
{
    public uint B0 { get; } = b0;

    public uint B1 { get; } = b1;
}

/// <summary>
/// C and D: 16 × 8 float32. C0 = row g, column 2t; C1 = row g, column 2t + 1; C2 and C3 = row g + 8, the same columns.
/// </summary>
internal struct MmaAccumulator
{
    public float C0;
    public float C1;
    public float C2;
    public float C3;
}
