using System;
using System.Collections.Generic;
using System.Linq;
using AttentionGen.Cuda;

namespace AttentionGen.Tests.Cuda.Prebuilt;

/// <summary>What is wrong with a prebuilt store's manifest against the current sources and the built-in set; empty when nothing.</summary>
internal static class PrebuiltStoreAudit
{
    /// <summary>
    /// The entries built from another source than <paramref name="templateSource"/> (a template name → its source with
    /// includes inlined) gives now: a kernel or the kernel contract was edited and the store not rebuilt.
    /// </summary>
    public static IReadOnlyList<string> StaleEntries(PrebuiltManifest manifest, Func<string, string> templateSource)
    {
        var sourceHashes = new Dictionary<string, string>();
        string Current(string template) =>
            sourceHashes.TryGetValue(template, out string? hash) ? hash : sourceHashes[template] = KernelHashes.Source(templateSource(template));
        return manifest.Entries
            .Where(e => e.SourceHash != Current(e.Template))
            .Select(e => $"{e.File} ({e.Template} for {e.Architecture}) was built from source {e.SourceHash}; the source is now {Current(e.Template)}. Rebuild: {PrebuiltKernelWriter.RebuildCommand}")
            .ToList();
    }

    /// <summary>
    /// Specializations of <paramref name="set"/> missing a target (an optional one may be missing for every
    /// specialization, not for some), and entries that are not in the set.
    /// </summary>
    public static IReadOnlyList<string> CoverageProblems(PrebuiltManifest manifest, IReadOnlyList<PrebuiltSpecialization> set)
    {
        var present = manifest.Entries.Select(e => (e.Template, e.HeaderHash, e.Architecture)).ToHashSet();
        var wanted = set.SelectMany(s => s.Targets.Select(t => (s.Template, HeaderHash: KernelHashes.Header(s.Header), Target: t, s.Header))).ToList();
        var problems = new List<string>();
        foreach (var group in wanted.GroupBy(w => w.Target))
        {
            var missing = group.Where(w => !present.Contains((w.Template, w.HeaderHash, w.Target.Architecture))).ToList();
            if (missing.Count > 0 && !(group.Key.Optional && missing.Count == group.Count()))
            {
                problems.AddRange(missing.Select(w => $"{w.Template} under \"{w.Header.ReplaceLineEndings(" ").Trim()}\" has no {w.Target.Architecture} image. Rebuild: {PrebuiltKernelWriter.RebuildCommand}"));
            }
        }

        var expected = wanted.Select(w => (w.Template, w.HeaderHash, w.Target.Architecture)).ToHashSet();
        problems.AddRange(manifest.Entries
            .Where(e => !expected.Contains((e.Template, e.HeaderHash, e.Architecture)))
            .Select(e => $"{e.File} ({e.Template} for {e.Architecture}) is not in the built-in set (PrebuiltKernelSet). Rebuild: {PrebuiltKernelWriter.RebuildCommand}"));
        return problems;
    }
}
