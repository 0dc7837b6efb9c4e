using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.Loader;
using AttentionGen.Cuda;
using AttentionGen.Modules;

namespace AttentionGen.KernelBuilder;

/// <summary>
/// Finds the kernels an app's layers launch: every concrete <see cref="FlexAttentionModule"/> of the app assembly with a
/// public parameterless constructor (the generator writes one for each [Flex] class) is created and asked for its
/// <see cref="FlexAttentionModule.GpuKernels"/>, the list its own launchers compose. Reflection is fine here: this runs
/// in the build, never in the app.
/// </summary>
internal static class AppLayerScan
{
    /// <summary>The layers of <paramref name="app"/> and the modules each launches at <paramref name="headDims"/>, by layer name.</summary>
    public static IReadOnlyList<(string Layer, IReadOnlyList<KernelRequest> Requests)> Find(Assembly app, IReadOnlyList<int> headDims)
    {
        ArgumentNullException.ThrowIfNull(app);
        var layers = new List<(string, IReadOnlyList<KernelRequest>)>();
        foreach (Type type in LoadableTypes(app).Where(IsBuildableLayer).OrderBy(t => t.FullName, StringComparer.Ordinal))
        {
            var layer = (FlexAttentionModule)Activator.CreateInstance(type)!;
            var requests = layer.GpuKernels(headDims).ToList();
            if (requests.Count > 0)
            {
                layers.Add((type.FullName!, requests));
            }
        }

        return layers;
    }

    /// <summary>
    /// Loads the app assembly at <paramref name="path"/>; its dependencies come from <paramref name="references"/> (the
    /// compile's reference paths) or its folder. AttentionGen resolves to this builder's copy, the package the app references.
    /// </summary>
    public static Assembly Load(string path, IReadOnlyCollection<string> references)
    {
        var byName = references
            .Where(File.Exists)
            .GroupBy(r => Path.GetFileNameWithoutExtension(r), StringComparer.OrdinalIgnoreCase)
            .ToDictionary(g => g.Key, g => g.First(), StringComparer.OrdinalIgnoreCase);
        string folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        AssemblyLoadContext.Default.Resolving += (context, name) =>
        {
            string? file = byName.TryGetValue(name.Name ?? string.Empty, out string? reference) ? reference : Path.Combine(folder, name.Name + ".dll");
            return File.Exists(file) ? context.LoadFromAssemblyPath(Path.GetFullPath(file)) : null;
        };
        return AssemblyLoadContext.Default.LoadFromAssemblyPath(Path.GetFullPath(path));
    }

    private static bool IsBuildableLayer(Type type) =>
        type is { IsClass: true, IsAbstract: false, ContainsGenericParameters: false }
        && typeof(FlexAttentionModule).IsAssignableFrom(type)
        && type.GetConstructor(Type.EmptyTypes) is not null;

    // A type whose dependencies are absent (e.g. an optional backend) is skipped, not fatal: it is no layer of ours.
    private static IEnumerable<Type> LoadableTypes(Assembly app)
    {
        try
        {
            return app.GetTypes();
        }
        catch (ReflectionTypeLoadException e)
        {
            return e.Types.Where(t => t is not null)!;
        }
    }
}
