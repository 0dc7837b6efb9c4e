using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using AttentionGen.Cuda;
using AttentionGen.KernelBuilder;

// attentiongen-kernels --app <app.dll> --references <file> --cache <folder> --out <zip> --head-dims 64;128 --architectures sm_80;...
// Compiles the app's layers' kernels (AppLayerScan) with this machine's NVRTC into <folder>, keeping images already built
// from the current sources, and packs them into <zip> (AppKernelStore). Without NVRTC it says so and succeeds: the app
// then compiles those kernels at first use, as before. Messages go to standard output, never as MSBuild warnings.
try
{
    Dictionary<string, string> options = BuilderOptions.Parse(args);
    string app = options["--app"], cache = options["--cache"], output = options["--out"];
    IReadOnlyList<int> headDims = BuilderOptions.HeadDims(options["--head-dims"]);
    string[] architectures = BuilderOptions.List(options["--architectures"]);
    string[] references = options.TryGetValue("--references", out string? list) && File.Exists(list) ? File.ReadAllLines(list) : [];

    var layers = AppLayerScan.Find(AppLayerScan.Load(app, references), headDims);
    var set = AppKernelTargets.For(layers.SelectMany(l => l.Requests), architectures);
    if (set.Count == 0)
    {
        Console.WriteLine("AttentionGen kernels: no layer of this app has kernels with user constants; nothing to compile.");
        File.Delete(output);
        return 0;
    }

    KernelImageCompiler compiler;
    try
    {
        compiler = KernelImageCompiler.Nvrtc();
    }
    catch (CudaUnavailableException e)
    {
        Console.WriteLine($"AttentionGen kernels: no NVRTC on this build machine ({e.Message}); the {set.Count} kernels of {string.Join(", ", layers.Select(l => l.Layer))} compile at first use on the GPU machine, which then needs NVRTC. Set ATTENTIONGEN_LIBNVRTC to build them here.");
        return 0;
    }

    var started = System.Diagnostics.Stopwatch.StartNew();
    IReadOnlyList<string> tooOld = PrebuiltImageWriter.Write(cache, set, compiler, line => Console.WriteLine($"AttentionGen kernels: {line}"));
    AppKernelStore.Write(cache, output);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"AttentionGen kernels: {set.Count} kernels of {string.Join(", ", layers.Select(l => l.Layer))} for {string.Join(", ", architectures.Except(tooOld.Select(t => t.Split(' ')[0])))} in {started.Elapsed.TotalSeconds:F1} s → {output} ({new FileInfo(output).Length / 1024} KB)."));
    return 0;
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"attentiongen-kernels: {e.Message}");
    return 2;
}
