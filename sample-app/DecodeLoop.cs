using System;
using System.Diagnostics;
using AttentionGen;
using AttentionGen.Inference;
using AttentionGen.Modules;
using AttentionGen.Reference;

namespace AttentionGen.SampleApp;

/// <summary>
/// The inference loop: a prompt of N tokens prefilled into a KV cache, then <see cref="Steps"/> decode steps of one token
/// per sequence, timed per layer; the last step is checked against the layer's Forward over all N + Steps tokens. On the
/// CPU the cache holds float32; on a GPU bf16 (the decode kernel's storage), with the tolerance of bf16.
/// </summary>
internal static class DecodeLoop
{
    public const int Steps = 128;

    // One step: the tokens [start, start + count) of every sequence, prefilled or decoded into the cache; [B, count, width].
    private delegate Tensor StepFunction(int start, int count, KvCache cache, bool decode);

    public static void PrintHeader(Device device) =>
        Console.WriteLine($"{$"decode ({device.Kind.ToString().ToLowerInvariant()})",-22} {"prompt",8} {"steps",6} {"prefill ms",11} {"tokens/s",10} {"rel err",10}");

    /// <summary>A [FlashAttention] layer (on <paramref name="device"/>) over x [B, N + Steps, Dim].</summary>
    public static bool Run(string name, FlashAttentionModule layer, Tensor x, int prompt, Device device)
    {
        layer.To(device);
        Tensor xd = x.To(device);
        return Run(name, x.Size(0), x.Size(1), prompt, (layer.Config.Heads, layer.Config.DimHead, layer.Config.DimHead), layer.Forward(xd), device, (start, count, cache, decode) =>
            decode ? layer.Decode(xd.Narrow(1, start, count), cache) : layer.Prefill(xd.Narrow(1, start, count), cache));
    }

    /// <summary>A decoder layer (RoPE at the cache's positions, GQA, window, soft-cap; on <paramref name="device"/>) over hidden [B, N + Steps, hidden].</summary>
    public static bool Run(string name, DecoderAttentionModule layer, Tensor hidden, int prompt, Device device)
    {
        layer.To(device);
        Tensor hd = hidden.To(device);
        return Run(name, hidden.Size(0), hidden.Size(1), prompt, (layer.Config.NumKeyValueHeads, layer.Config.HeadDim, layer.Config.HeadDim), layer.Forward(hd), device, (start, count, cache, decode) =>
            decode ? layer.Decode(hd.Narrow(1, start, count), cache) : layer.Prefill(hd.Narrow(1, start, count), cache));
    }

    /// <summary>A [Flex] layer over q [B, Hq, N + Steps, E], k and v [B, Hkv, N + Steps, E] (moved to <paramref name="device"/>), its mods at absolute positions.</summary>
    public static bool Run(string name, FlexAttentionModule layer, Tensor q, Tensor k, Tensor v, int prompt, Device device)
    {
        (Tensor qd, Tensor kd, Tensor vd) = (q.To(device), k.To(device), v.To(device));
        using AttentionOutput full = layer.Forward(qd, kd, vd, enableGqa: true);
        return Run(name, q.Size(0), q.Size(2), prompt, (k.Size(1), k.Size(3), v.Size(3)), full.Output.MergeHeads(), device, (start, count, cache, decode) =>
        {
            Tensor qs = qd.Narrow(2, start, count), ks = kd.Narrow(2, start, count), vs = vd.Narrow(2, start, count);
            using AttentionOutput o = decode ? layer.Decode(qs, ks, vs, cache) : layer.Prefill(qs, ks, vs, cache);
            return o.Output.MergeHeads().Contiguous();
        });
    }

    private static bool Run(string name, int batch, int tokens, int prompt, (int KvHeads, int HeadDim, int ValueDim) heads, Tensor forward, Device device, StepFunction step)
    {
        // The last decoded token against Forward's last row: the same attention summed in another order (float32 on the
        // CPU), or with K/V rounded to the cache's bf16 on a GPU.
        bool onGpu = device.Kind == DeviceKind.Cuda;
        DType storage = onGpu ? DType.BFloat16 : DType.Float32;
        double tolerance = onGpu ? 3e-2 : 1e-5;
        using (KvCache warm = KvCache.Contiguous(batch, heads.KvHeads, heads.HeadDim, heads.ValueDim, capacity: 2, storage, device))
        {
            step(0, 1, warm, decode: false).Dispose();   // JIT and kernel warm-up of both paths
            step(1, 1, warm, decode: true).Dispose();
        }

        using KvCache cache = KvCache.Contiguous(batch, heads.KvHeads, heads.HeadDim, heads.ValueDim, capacity: tokens, storage, device);
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

        double[] decoded = Array.ConvertAll(last!.ToFloatArray(), f => (double)f);   // waits for the GPU's last step
        double seconds = clock.Elapsed.TotalSeconds;
        double[] expected = Array.ConvertAll(forward.Narrow(1, tokens - 1, 1).Contiguous().ToFloatArray(), f => (double)f);
        double error = ReferenceAttention.RelativeError(Array.ConvertAll(decoded, d => (float)d), expected);
        last.Dispose();
        bool ok = error <= tolerance;
        Console.WriteLine($"{name,-22} {prompt,8} {tokens - prompt,6} {prefillMs,11:F2} {batch * (tokens - prompt) / seconds,10:F0} {error,10:E2}{(ok ? string.Empty : "  MISMATCH")}");
        return ok;
    }
}
