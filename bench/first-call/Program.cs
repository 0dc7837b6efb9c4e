using System;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Runtime;
using AttentionGen;

// attentiongen-first-call [--calls 40]
// One fresh process's warm-up: times the construction of a causal [FlashAttention] layer, its first Forward, and the
// calls after it, and prints one line that run.sh collects. Run it through run.sh, which starts a new process per round.
int calls = args.Length == 2 && args[0] == "--calls" && int.TryParse(args[1], out int n) && n >= 40 ? n : 40;

var clock = Stopwatch.StartNew();
using var layer = new CausalLayer(seed: 1);
double constructMs = clock.Elapsed.TotalMilliseconds;

using Tensor x = Tensor.RandomNormal(new Random(2), DType.Float32, 1, 512, 512);
double firstJitMs = 0;
long firstJitMethods = 0;
double[] ms = new double[calls];
TimeSpan jitBefore = JitInfo.GetCompilationTime();
long methodsBefore = JitInfo.GetCompiledMethodCount();
FirstCallStarts();
for (int i = 0; i < calls; i++)
{
    clock.Restart();
    layer.Forward(x).Dispose();
    ms[i] = clock.Elapsed.TotalMilliseconds;
    if (i == 0)
    {
        // JIT time in all threads during the first call: what R2R code or earlier compilation could take away.
        firstJitMs = (JitInfo.GetCompilationTime() - jitBefore).TotalMilliseconds;
        firstJitMethods = JitInfo.GetCompiledMethodCount() - methodsBefore;
    }
}

// Steady state: the median of the last 20 calls, by when tiered compilation has settled for these loops.
double steady = ms[^20..].Order().ElementAt(10);
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"construct {constructMs:F1} first {ms[0]:F1} second {ms[1]:F1} calls2-5 {ms[1..5].Max():F1} steady {steady:F2} ratio {ms[0] / steady:F2} first-jit {firstJitMs:F1} first-jit-methods {firstJitMethods}"));

// Jitted just before the first call: in a DOTNET_JitDisasmSummary listing, the methods after it are the first call's.
[System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
static void FirstCallStarts()
{
}

/// <summary>The layer session 12 measured: (1, 512, 512) fp32 through Dim 512, 8 heads of 64, causal.</summary>
[FlashAttention(Dim = 512, Heads = 8, DimHead = 64, Causal = true)]
public partial class CausalLayer
{
}
