using System.Collections.Generic;
using System.Linq;

namespace AttentionGen.Cuda;

/// <summary>Which prebuilt images of one specialization can serve a GPU, best first. Pure: tests cover it without a GPU.</summary>
internal static class PrebuiltSelection
{
    /// <summary>
    /// The entries of <paramref name="entries"/> (one template under one header) that the driver runs on a GPU of compute
    /// capability <paramref name="device"/> (e.g. 86), best first: cubins before PTX (which the driver compiles at load),
    /// then the newest architecture. With <paramref name="required"/> (e.g. sm_90a, which wgmma needs) only images of
    /// exactly that target qualify, as a cubin or as PTX.
    /// </summary>
    public static IReadOnlyList<PrebuiltEntry> Candidates(IEnumerable<PrebuiltEntry> entries, int device, string? required)
    {
        GpuArchitecture? needed = required is null ? null : GpuArchitecture.Parse(required);
        return entries
            .Where(e => e.Target.RunsOn(device))
            .Where(e => needed is not { } n || (e.Target.Capability == n.Capability && e.Target.IsArchSpecific == n.IsArchSpecific))
            .OrderBy(e => e.Target.IsPtx)
            .ThenByDescending(e => e.Target.Capability)
            .ThenByDescending(e => e.Target.IsArchSpecific)
            .ToList();
    }
}
