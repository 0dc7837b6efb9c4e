using System;
using System.Globalization;

namespace AttentionGen.Cuda;

/// <summary>
/// A compile target as NVRTC spells it: <c>sm_86</c> (a cubin), <c>sm_90a</c> (a cubin using Hopper-only instructions
/// such as wgmma) or <c>compute_80</c> (PTX, which the driver compiles for the GPU it runs on).
/// </summary>
internal readonly record struct GpuArchitecture(int Capability, bool IsPtx, bool IsArchSpecific)
{
    private const string CubinPrefix = "sm_";
    private const string PtxPrefix = "compute_";

    /// <summary>"cubin" or "ptx", the manifest's kind of an image for this target.</summary>
    public string Kind => IsPtx ? "ptx" : "cubin";

    public int Major => Capability / 10;

    /// <summary>Parses <paramref name="name"/>, e.g. "sm_86", "sm_90a", "compute_80".</summary>
    public static GpuArchitecture Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return TryParse(name, out GpuArchitecture architecture)
            ? architecture
            : throw new ArgumentException($"An architecture is sm_NN, sm_NNa or compute_NN (e.g. sm_86, sm_90a, compute_80); got \"{name}\".", nameof(name));
    }

    /// <summary>Parses <paramref name="name"/> as <see cref="Parse"/> does; false for null or any other spelling.</summary>
    public static bool TryParse(string? name, out GpuArchitecture architecture)
    {
        architecture = default;
        if (name is null)
        {
            return false;
        }

        bool ptx = name.StartsWith(PtxPrefix, StringComparison.Ordinal);
        string rest = ptx ? name[PtxPrefix.Length..] : name.StartsWith(CubinPrefix, StringComparison.Ordinal) ? name[CubinPrefix.Length..] : string.Empty;
        bool specific = rest.EndsWith('a');
        string digits = specific ? rest[..^1] : rest;
        if (digits.Length < 2 || !int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out int capability))
        {
            return false;
        }

        architecture = new GpuArchitecture(capability, ptx, specific);
        return true;
    }

    /// <summary>
    /// Whether the driver runs an image of this target on a GPU of compute capability <paramref name="device"/> (e.g. 86):
    /// a cubin on the same major version with at least its minor one, PTX on any GPU at least as new, and an
    /// architecture-specific (…a) image only on exactly its GPU.
    /// </summary>
    public bool RunsOn(int device) =>
        IsArchSpecific ? device == Capability
        : IsPtx ? device >= Capability
        : device / 10 == Major && device >= Capability;

    public override string ToString() =>
        (IsPtx ? PtxPrefix : CubinPrefix) + Capability.ToString(CultureInfo.InvariantCulture) + (IsArchSpecific ? "a" : string.Empty);
}
