using System;
using System.Linq;

namespace AttentionGen.Bench;

/// <summary>The command line of attentiongen-bench (see Program.cs); an unknown case or dtype is refused by name.</summary>
internal sealed class BenchOptions
{
    private static readonly string[] DefaultCases = ["dense", "causal", "window", "decode"];

    // The prefill cases run only when named: the decode loop's takes seconds.
    private static readonly string[] KnownCases = [.. DefaultCases, "prefill", "prefill-loop"];
    private static readonly string[] KnownDTypes = ["fp32", "bf16"];

    public BenchOptions(string[] args)
    {
        Batch = Int(args, "--batch", 1);
        Heads = Int(args, "--heads", 8);
        Seq = Int(args, "--seq", 2048);
        Dim = Int(args, "--dim", 64);
        Reps = Int(args, "--reps", 10);
        QBucket = Int(args, "--qbucket", 512);
        KBucket = Int(args, "--kbucket", 1024);
        Window = Int(args, "--window", 256);
        KvHeads = Int(args, "--kv-heads", Heads);
        Cache = Int(args, "--cache", 16384);
        TokenMajor = args.Contains("--token-major");
        Threads = List(args, "--threads", [Environment.ProcessorCount.ToString(), "1"]).Select(int.Parse).ToArray();
        Cases = Known(List(args, "--cases", DefaultCases), KnownCases, "--cases");
        DTypes = Known(List(args, "--dtypes", KnownDTypes), KnownDTypes, "--dtypes");
    }

    public int Batch { get; }

    public int Heads { get; }

    public int Seq { get; }

    public int Dim { get; }

    public int Reps { get; }

    public int QBucket { get; }

    public int KBucket { get; }

    public int Window { get; }

    public int KvHeads { get; }

    public int Cache { get; }

    public bool TokenMajor { get; }

    public int[] Threads { get; }

    public string[] Cases { get; }

    public string[] DTypes { get; }

    public static int Int(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], out int value) ? value : fallback;
    }

    private static string[] List(string[] args, string name, string[] fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1].Split(',') : fallback;
    }

    private static string[] Known(string[] given, string[] known, string name)
    {
        string? unknown = given.FirstOrDefault(x => !known.Contains(x));
        return unknown is null
            ? given
            : throw new ArgumentException($"{name} takes {string.Join(", ", known)}; got '{unknown}'.", name);
    }
}
