using System;
using System.Collections.Generic;
using System.Linq;
using AttentionGen.Cuda;

namespace AttentionGen.KernelBuilder;

/// <summary>
/// The targets of an app's images: the package store's (<see cref="PrebuiltKernelSet"/>: sm_80, sm_86, sm_89, sm_90
/// cubins and compute_80 PTX; sm_90a for the Hopper kernel), narrowed by the AttentionGenCudaArchitectures property.
/// </summary>
internal static class AppKernelTargets
{
    /// <summary>Every target the step builds unless told otherwise.</summary>
    public static IEnumerable<string> All => PrebuiltKernelSet.GenericTargets.Concat(PrebuiltKernelSet.HopperTargets).Select(t => t.Architecture);

    /// <summary>
    /// The specializations of <paramref name="requests"/> built for the targets in <paramref name="architectures"/>:
    /// a request for exactly one architecture (sm_90a) gets the Hopper targets, the others the generic ones; a request
    /// left with no target is dropped.
    /// </summary>
    public static IReadOnlyList<PrebuiltSpecialization> For(IEnumerable<KernelRequest> requests, IReadOnlyCollection<string> architectures)
    {
        ArgumentNullException.ThrowIfNull(requests);
        ArgumentNullException.ThrowIfNull(architectures);
        string[] unknown = architectures.Except(All, StringComparer.Ordinal).ToArray();
        if (unknown.Length > 0)
        {
            throw new ArgumentException($"AttentionGenCudaArchitectures takes {string.Join(", ", All)}; got {string.Join(", ", unknown)}.", nameof(architectures));
        }

        PrebuiltTarget[] generic = PrebuiltKernelSet.GenericTargets.Where(t => architectures.Contains(t.Architecture)).ToArray();
        PrebuiltTarget[] hopper = PrebuiltKernelSet.HopperTargets.Where(t => architectures.Contains(t.Architecture)).ToArray();
        return requests
            .Distinct()
            .Select(r => new PrebuiltSpecialization(r.Template, r.Header, r.Architecture is null ? generic : hopper.Where(t => t.Architecture == r.Architecture).ToArray()))
            .Where(s => s.Targets.Count > 0)
            .ToList();
    }
}
