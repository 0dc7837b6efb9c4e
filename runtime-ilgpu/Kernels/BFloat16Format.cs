using AttentionGen.ILGpu.Kernels.TensorCores;
using ILGPU;

namespace AttentionGen.ILGpu.Kernels;

/// <summary>
/// bfloat16 storage as raw bits: the upper half of a float32. Rounds as the runtime's <see cref="BFloat16"/> does (its
/// conversion uses <c>BitConverter</c>, which ILGPU does not compile; <see cref="Interop"/>'s bit casts it does).
/// </summary>
internal readonly struct BFloat16Format : ITensorCoreFormat
{
    public float Load(ushort value) => Interop.IntAsFloat((uint)value << 16);

    public ushort Store(float value)
    {
        uint bits = Interop.FloatAsInt(value);
        return float.IsNaN(value)
            ? (ushort)((bits >> 16) | 0x0040u) // keep the NaN quiet: rounding could carry it into infinity
            : (ushort)((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
    }

    /// <inheritdoc />
    public void MultiplyAccumulate(ref MmaAccumulator c, MmaRowOperand a, MmaColumnOperand b) => Mma.BFloat16Tile(ref c, a, b);
}
