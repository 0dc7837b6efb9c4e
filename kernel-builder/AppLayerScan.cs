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
/// Finds the kernels an app's layers launch, each layer listing what its own launchers load: every concrete
/// <see cref="FlexAttentionModule"/>, <see cref="LocalAttentionModule"/> and <see cref="SparseAttentionModule"/> of the app
/// assembly with a public parameterless constructor (the generator writes one for each [Flex], [Local] and [Sparse] class)
/// and every <see cref="DilatedAttentionModule"/> with a public (int seed) one (each [Dilated] class with a fixed DModel),
/// created and asked for its GpuKernels; and the <see cref="DecoderAttentionConfig"/> values of every member marked
/// <see cref="AppKernelConfigsAttribute"/>. Reflection is fine here: this runs in the build, never in the app.
/// </summary>
internal static class AppLayerScan
{
    /// <summary>
    /// The layers of <paramref name="app"/> and the modules each launches at <paramref name="headDims"/> that the package
    /// store does not hold, by layer name; a layer whose every module is in the store is left out.
    /// </summary>
    public static IReadOnlyList<(string Layer, IReadOnlyList<KernelRequest> Requests)> Find(Assembly app, IReadOnlyList<int> headDims)
    {
        ArgumentNullException.ThrowIfNull(app);
        var layers = new List<(string, IReadOnlyList<KernelRequest>)>();
        Type[] types = LoadableTypes(app).OrderBy(t => t.FullName, StringComparer.Ordinal).ToArray();
        foreach (Type type in types)
        {
            if (Create(type) is { } layer)
            {
                using (layer as IDisposable)
                {
                    Add(layers, type.FullName!, Requests(layer, headDims));
                }
            }
        }

        foreach ((string name, DecoderAttentionConfig config) in DeclaredConfigs(types))
        {
            Add(layers, name, DecoderAttentionModule.GpuKernels(config));
        }

        return layers;
    }

    /// <summary>
    /// The configs of every public static property or parameterless method marked <see cref="AppKernelConfigsAttribute"/>,
    /// named Type.Member[i]. A marked member of another shape is an error that names it: the app asked for kernels the
    /// build cannot read.
    /// </summary>
    public static IEnumerable<(string Name, DecoderAttentionConfig Config)> DeclaredConfigs(IEnumerable<Type> types)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly;
        foreach (Type type in types)
        {
            foreach (MemberInfo member in type.GetMembers(all).Where(m => m.IsDefined(typeof(AppKernelConfigsAttribute), inherit: false)))
            {
                string name = $"{type.FullName}.{member.Name}";
                object? value = member switch
                {
                    PropertyInfo { GetMethod: { IsStatic: true, IsPublic: true } getter } p when p.GetIndexParameters().Length == 0
                        && typeof(IEnumerable<DecoderAttentionConfig>).IsAssignableFrom(p.PropertyType) => Call(getter, name),
                    MethodInfo { IsStatic: true, IsPublic: true } m when m.GetParameters().Length == 0 && !m.ContainsGenericParameters
                        && typeof(IEnumerable<DecoderAttentionConfig>).IsAssignableFrom(m.ReturnType) => Call(m, name),
                    _ => throw new ArgumentException($"[AppKernelConfigs] marks a public static property or parameterless method returning IEnumerable<DecoderAttentionConfig>; {name} is not one ({Describe(member)})."),
                };
                int index = 0;
                foreach (DecoderAttentionConfig? config in (IEnumerable<DecoderAttentionConfig?>?)value ?? throw new ArgumentException($"[AppKernelConfigs] {name} returned null; return the configs (or none)."))
                {
                    yield return ($"{name}[{index}]", config ?? throw new ArgumentException($"[AppKernelConfigs] {name}[{index}] is null; every config must be one."));
                    index++;
                }
            }
        }
    }

    // The member's value; what it throws fails the step with the member's name (it runs in the build, not the app).
    private static object? Call(MethodInfo method, string name)
    {
        try
        {
            return method.Invoke(null, null);
        }
        catch (TargetInvocationException e) when (e.InnerException is { } inner)
        {
            throw new ArgumentException($"[AppKernelConfigs] {name} threw {inner.GetType().Name} in the build: {inner.Message}", inner);
        }
    }

    private static string Describe(MemberInfo member) => member switch
    {
        PropertyInfo p => $"a {(p.GetMethod?.IsStatic == true ? "static" : "instance")} property of type {p.PropertyType.Name}{(p.GetMethod?.IsPublic == true ? string.Empty : " without a public getter")}",
        MethodInfo m => $"a {(m.IsStatic ? "static" : "instance")}{(m.IsPublic ? string.Empty : " non-public")} method of {m.GetParameters().Length} parameters returning {m.ReturnType.Name}",
        _ => member.MemberType.ToString(),
    };

    // A layer's requests that the package store does not serve (those it does load from there), if any.
    private static void Add(List<(string, IReadOnlyList<KernelRequest>)> layers, string name, IEnumerable<KernelRequest> requests)
    {
        var list = requests.Where(r => !Packaged.Contains((r.Template, r.Header))).ToList();
        if (list.Count > 0)
        {
            layers.Add((name, list));
        }
    }

    private static readonly HashSet<(string Template, string Header)> Packaged = PrebuiltKernelSet.All().Select(s => (s.Template, s.Header)).ToHashSet();

    // The layer kinds whose kernels carry constants of the layer, and what each lists.
    private static IEnumerable<KernelRequest> Requests(object layer, IReadOnlyList<int> headDims) => layer switch
    {
        FlexAttentionModule flex => flex.GpuKernels(headDims),
        LocalAttentionModule local => local.GpuKernels(headDims),
        SparseAttentionModule sparse => sparse.GpuKernels(headDims),
        DilatedAttentionModule dilated => dilated.GpuKernels(),
        _ => [],
    };

    private static object? Create(Type type)
    {
        if (type is not { IsClass: true, IsAbstract: false, ContainsGenericParameters: false })
        {
            return null;
        }

        if (typeof(FlexAttentionModule).IsAssignableFrom(type) || typeof(LocalAttentionModule).IsAssignableFrom(type) || typeof(SparseAttentionModule).IsAssignableFrom(type))
        {
            return type.GetConstructor(Type.EmptyTypes)?.Invoke(null);
        }

        // Random weights from a fixed seed: the kernels depend on the config alone.
        return typeof(DilatedAttentionModule).IsAssignableFrom(type) ? type.GetConstructor([typeof(int)])?.Invoke([0]) : null;
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
