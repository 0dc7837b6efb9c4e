using AttentionGen.ILGpu.Kernels.TensorCores;
using ILGPU;

namespace AttentionGen.ILGpu.Kernels;

/// <summary>
/// IEEE half storage as raw bits, converted with integer arithmetic: the same code on every accelerator (ILGPU's own
/// <c>Half</c> converts through its lookup tables on the CPU accelerator and through backend intrinsics on GPUs, so the
/// CPU tests would not cover what a GPU runs). Rounds to nearest even, as <see cref="System.Half"/> does; subnormals,
/// infinities and NaN are kept.
/// </summary>
internal readonly struct Float16Format : ITensorCoreFormat
{
    private const uint SignBit = 0x8000u;
    private const float SmallestSubnormal = 5.9604645e-8f; // 2^-24, the unit of a half subnormal's mantissa

    public float Load(ushort value)
    {
        uint sign = (uint)(value & SignBit) << 16;
        uint exponent = (uint)(value >> 10) & 0x1Fu;
        uint mantissa = value & 0x3FFu;
        if (exponent == 0)
        {
            float magnitude = mantissa * SmallestSubnormal; // exact: at most 10 bits times a power of two
            return sign != 0 ? -magnitude : magnitude;
        }

        return exponent == 0x1F
            ? Interop.IntAsFloat(sign | 0x7F800000u | (mantissa << 13)) // infinity or NaN
            : Interop.IntAsFloat(sign | ((exponent + 112u) << 23) | (mantissa << 13)); // rebias 15 -> 127
    }

    public ushort Store(float value)
    {
        uint bits = Interop.FloatAsInt(value);
        uint sign = (bits >> 16) & SignBit;
        uint magnitude = bits & 0x7FFFFFFFu;
        if (magnitude > 0x7F800000u)
        {
            return (ushort)(sign | 0x7E00u | ((magnitude >> 13) & 0x3FFu)); // NaN, kept quiet
        }

        if (magnitude >= 0x477FF000u)
        {
            return (ushort)(sign | 0x7C00u); // 65520 and above (65504 + half an ulp, a tie to even) round to infinity
        }

        if (magnitude >= 0x38800000u)
        {
            // A normal half (at least 2^-14): rebias the exponent and round the 13 dropped mantissa bits. A carry out of
            // the mantissa correctly steps the exponent.
            uint half = (magnitude - 0x38000000u) >> 13;
            return (ushort)(sign | RoundDropped(half, magnitude & 0x1FFFu, 13));
        }

        // A subnormal half, in units of 2^-24: the float's 24-bit significand shifted right by 14 to 24 places.
        uint floatExponent = magnitude >> 23;
        if (floatExponent < 102)
        {
            return (ushort)sign; // below 2^-25, or exactly half of 2^-24: rounds to zero
        }

        int shift = (int)(126u - floatExponent);
        uint significand = (magnitude & 0x7FFFFFu) | 0x800000u;
        return (ushort)(sign | RoundDropped(significand >> shift, significand & ((1u << shift) - 1u), shift));
    }

    /// <inheritdoc />
    public void MultiplyAccumulate(ref MmaAccumulator c, MmaRowOperand a, MmaColumnOperand b) => Mma.Float16Tile(ref c, a, b);

    // Rounds the kept bits up when the dropped bits are above half, or exactly half and the kept bits odd.
    private static uint RoundDropped(uint kept, uint dropped, int droppedBits)
    {
        uint halfway = 1u << (droppedBits - 1);
        return dropped > halfway || (dropped == halfway && (kept & 1u) != 0) ? kept + 1u : kept;
    }
}
