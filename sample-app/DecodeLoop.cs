using System;
using System.Diagnostics;
using AttentionGen;
using AttentionGen.Inference;
using AttentionGen.Modules;
using AttentionGen.Reference;

namespace AttentionGen.SampleApp;

/// <summary>
/// The inference loop on the CPU: a prompt of N tokens prefilled into a KV cache, then <see cref="Steps"/> decode steps of
/// one token per sequence, timed per layer; the last step is checked against the layer's Forward over all N + Steps tokens.
/// </summary>
internal static class DecodeLoop
{
    public const int Steps = 128;

    // The last decoded token against Forward's last row: the same attention in float32, summed in another order.
    private const double Tolerance = 1e-5;

    // One step: the tokens [start, start + count) of every sequence, prefilled or decoded into the cache; [B, count, width].
    private delegate Tensor StepFunction(int start, int count, KvCache cache, bool decode);

    public static void PrintHeader() =>
        Console.WriteLine($"{"decode (cpu)",-22} {"prompt",8} {"steps",6} {"prefill ms",11} {"tokens/s",10} {"rel err",10}");

    /// <summary>A [FlashAttention] layer over x [B, N + Steps, Dim].</summary>
    public static bool Run(string name, FlashAttentionModule layer, Tensor x, int prompt) =>
        Run(name, x.Size(0), x.Size(1), prompt, (layer.Config.Heads, layer.Config.DimHead, layer.Config.DimHead), layer.Forward(x), (start, count, cache, decode) =>
            decode ? layer.Decode(x.Narrow(1, start, count), cache) : layer.Prefill(x.Narrow(1, start, count), cache));

    /// <summary>A decoder layer (RoPE at the cache's positions, GQA, window, soft-cap) over hidden [B, N + Steps, hidden].</summary>
    public static bool Run(string name, DecoderAttentionModule layer, Tensor hidden, int prompt) =>
        Run(name, hidden.Size(0), hidden.Size(1), prompt, (layer.Config.NumKeyValueHeads, layer.Config.HeadDim, layer.Config.HeadDim), layer.Forward(hidden), (start, count, cache, decode) =>
            decode ? layer.Decode(hidden.Narrow(1, start, count), cache) : layer.Prefill(hidden.Narrow(1, start, count), cache));

    /// <summary>A [Flex] layer over q [B, Hq, N + Steps, E], k and v [B, Hkv, N + Steps, E], its mods at absolute positions.</summary>
    public static bool Run(string name, FlexAttentionModule layer, Tensor q, Tensor k, Tensor v, int prompt)
    {
        using AttentionOutput full = layer.Forward(q, k, v, enableGqa: true);
        return Run(name, q.Size(0), q.Size(2), prompt, (k.Size(1), k.Size(3), v.Size(3)), full.Output.MergeHeads(), (start, count, cache, decode) =>
        {
            Tensor qs = q.Narrow(2, start, count), ks = k.Narrow(2, start, count), vs = v.Narrow(2, start, count);
            using AttentionOutput o = decode ? layer.Decode(qs, ks, vs, cache) : layer.Prefill(qs, ks, vs, cache);
            return o.Output.MergeHeads().Contiguous();
        });
    }

    private static bool Run(string name, int batch, int tokens, int prompt, (int KvHeads, int HeadDim, int ValueDim) heads, Tensor forward, StepFunction step)
    {
        using (KvCache warm = KvCache.Contiguous(batch, heads.KvHeads, heads.HeadDim, heads.ValueDim, capacity: 2, DType.Float32))
        {
            step(0, 1, warm, decode: false).Dispose();   // JIT warm-up of both paths
            step(1, 1, warm, decode: true).Dispose();
        }

        using KvCache cache = KvCache.Contiguous(batch, heads.KvHeads, heads.HeadDim, heads.ValueDim, capacity: tokens, DType.Float32);
        var clock = Stopwatch.StartNew();
        step(0, prompt, cache, decode: false).Dispose();
        double prefillMs = clock.Elapsed.TotalMilliseconds;
        Tensor? last = null;
        clock.Restart();
        for (int t = prompt; t < tokens; t++)
        {
            last?.Dispose();
            last = step(t, 1, cache, decode: true);
        }

        double seconds = clock.Elapsed.TotalSeconds;
        double[] expected = Array.ConvertAll(forward.Narrow(1, tokens - 1, 1).Contiguous().ToFloatArray(), f => (double)f);
        double error = ReferenceAttention.RelativeError(last!.ToFloatArray(), expected);
        last.Dispose();
        bool ok = error <= Tolerance;
        Console.WriteLine($"{name,-22} {prompt,8} {tokens - prompt,6} {prefillMs,11:F2} {batch * (tokens - prompt) / seconds,10:F0} {error,10:E2}{(ok ? string.Empty : "  MISMATCH")}");
        return ok;
    }
}
