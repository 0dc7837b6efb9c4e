namespace AttentionGen.ILGpu.Kernels.TensorCores;

/// <summary>
/// A 16-bit storage format that the tensor cores multiply directly: the kernel hands its raw bits to
/// <see cref="MultiplyAccumulate"/>, which emits the mma.sync of that element type. A struct type parameter, so ILGPU
/// inlines the one instruction.
/// </summary>
internal interface ITensorCoreFormat : IStorageFormat<ushort>
{
    /// <summary>D = A·B + C on one warp's 16 × 8 tile, in float32; every lane of the warp must call it together.</summary>
    void MultiplyAccumulate(ref MmaAccumulator c, MmaRowOperand a, MmaColumnOperand b);
}
