using System;
using System.Collections.Generic;
using System.Linq;
using System.Globalization;
using System.Runtime.InteropServices;
using AttentionGen.Cpu;
using AttentionGen.CompileTime.Kernels;
using AttentionGen.Cuda;

namespace AttentionGen.Execution;

/// <summary>
/// Local windows on a GPU. Plain windows (no rotation, limit, shared q/k, mask or bias) read each window's
/// look-around keys in place: one launch of the FlashAttention kernel over the sequence when windows are whole tiles,
/// else a segmented launch with a problem per window. Otherwise <c>Kernels/local.cu</c>
/// gathers each window's queries and look-around keys (rotated to the reference's span positions) with a key mask
/// for slots outside the sequence; the FlashAttention kernel runs the windows as cross-attention problems whose
/// causal and exact-window limits are one diagonal box of the closed-form plan, and a shared q/k's self score and
/// the attention bias are score mods.
/// </summary>
internal static class LocalAttentionCuda
{
    /// <summary>q, k, v [.., N, E] as <paramref name="shape"/> describes (v's head dim must equal q's) → [.., N, E] in q's dtype.</summary>
    public static Tensor Forward(Tensor q, Tensor k, Tensor v, LocalWindows shape, float? specScale)
    {
        CudaDevice device = CudaTransfers.Require(q.Device);
        DType compute = Attention.ComputeType(q);
        int rows = shape.Rows, n = shape.Length, e = shape.HeadDim, ws = shape.WindowSize, span = shape.Span, windows = shape.Windows;
        if (shape.ValueDim != e)
        {
            throw new ArgumentException($"On the GPU v's head dim must equal q's ({e}); got {shape.ValueDim}.", nameof(v));
        }

        Tensor qs = Attention.Convert(q.Reshape(rows, n, e).Contiguous(), compute);
        Tensor ks = Attention.Convert(k.Reshape(rows, n, e).Contiguous(), compute);
        Tensor vs = Attention.Convert(v.Reshape(rows, n, e).Contiguous(), compute);
        float scale = AttentionProblem.ResolveScale(specScale, e);
        bool plain = ReadsWindowsInPlace(shape);
        bool wholeTiles = ws % FlashAttentionCuda.WholeWindowTiles(e) == 0 && (long)windows * ws == n;
        // A segmented launch takes at most 65535 problems (the grid's z); more windows than that are gathered.
        if (plain && (wholeTiles || (long)rows * windows <= 65535))
        {
            // Every query row belongs to one window, so every output row is written.
            Tensor attended = Tensor.Uninitialized(compute, q.Device, rows, 1, n, e);
            var problem = new AttentionProblem(qs.Reshape(rows, 1, n, e), ks.Reshape(rows, 1, n, e), vs.Reshape(rows, 1, n, e), attended, null, null, scale);
            if (wholeTiles)
            {
                // One plain launch over the sequence: each query block's key tiles are a closed-form range, all full.
                FlashAttentionCuda.Forward(problem, causal: false, CudaSpecialization.Windows(e, ws, shape.LookBackward, shape.LookForward));
            }
            else
            {
                var windowLayout = new SegmentLayout(windows, ws, ws, ws, Rate: 1, Group: int.MaxValue, KvShift: -shape.LookBackward * ws, KvLength: span);
                FlashAttentionCuda.ForwardSegments(problem, windowLayout, causal: false);
            }

            return Attention.Convert(attended.Reshape(shape.OutputShape), q.DType);
        }

        Tensor? keepMask = shape.KeyMask?.Tensor.Contiguous();
        int problems = ShapeMath.IntProduct(nameof(q), "windows rows · windows", rows, windows);
        Tensor output = Tensor.Zeros(compute, q.Device, problems, 1, ws, e);
        if (problems == 0 || e == 0)
        {
            // Empty, but still in q's dtype (a float32 q computes in bf16 here), as every other return of this method.
            return Attention.Convert(output.Reshape(shape.OutputShape), q.DType);
        }

        Tensor gq = Tensor.Uninitialized(compute, q.Device, problems, 1, ws, e);
        Tensor gk = Tensor.Uninitialized(compute, q.Device, problems, 1, span, e);
        Tensor gv = Tensor.Uninitialized(compute, q.Device, problems, 1, span, e);
        Tensor keep = Tensor.Uninitialized(DType.Bool, q.Device, problems, span);
        var args = new LocalParams
        {
            Q = qs.DevicePointer, K = ks.DevicePointer, V = vs.DevicePointer, Mask = keepMask?.DevicePointer ?? 0,
            GatheredQ = gq.DevicePointer, GatheredK = gk.DevicePointer, GatheredV = gv.DevicePointer, Keep = keep.DevicePointer,
            Rows = rows, N = n, E = e, WindowSize = ws, Windows = windows, Span = span, LookBackward = shape.LookBackward,
            RowsPerMaskRow = shape.RowsPerMaskRow,
            Rotary = shape.Rotary ? 1 : 0, Xpos = shape.Xpos ? 1 : 0, SharedQk = shape.SharedQk ? 1 : 0,
            IsFp16 = compute == DType.Float16 ? 1 : 0, XposScaleBase = shape.XposScaleBase,
        };
        long warps = ((long)problems * ws) + ((long)problems * span);
        KernelCache.Get(device, GatherTemplate, string.Empty).Launch("ag_local_gather", ((uint)((warps + 7) / 8), 1, 1), 256, 0, args);

        Tensor? attnBias = shape.Bias?.Tensor;
        Tensor? bias = attnBias?.To(DType.Float32).Contiguous();
        var launch = new FlexLaunch(shape.SharedQk || bias is not null, null, bias, (windows, shape.BiasHeads, ws, span));
        FlashAttentionCuda.Forward(new AttentionProblem(gq, gk, gv, output, null, keep, scale), causal: false, Header(shape, e, bias is not null), launch);
        foreach (Tensor temporary in new[] { gq, gk, gv, keep })
        {
            temporary.Dispose();
        }

        // A converted copy of the bias is ours to free; the caller's own tensor is not.
        if (bias is not null && !ReferenceEquals(bias, attnBias))
        {
            bias.Dispose();
        }

        // Windows are consecutive rows of one packed row-set: the first N rows of each are the output.
        Tensor windowed = output.Reshape(rows, windows * ws, e);
        Tensor result = windows * ws == n ? windowed : windowed.Narrow(1, 0, n).Contiguous();
        return Attention.Convert(result.Reshape(shape.OutputShape), q.DType);
    }

    // Without rotation, a causal or exact limit, a shared q/k, a mask or a bias, a window's keys are one contiguous run
    // of tokens clipped to the sequence (the reference masks the slots outside it), so the kernel reads them in place:
    // no gathered copies, and (with windows a multiple of the key tile) no masked tiles.
    private static bool ReadsWindowsInPlace(LocalWindows w) => HasPlainWindows(w) && w.KeyMask is null && w.Bias is null;

    // The configuration's part of ReadsWindowsInPlace: a call without a mask or bias reads its windows in place.
    private static bool HasPlainWindows(LocalWindows w) => !w.Causal && !w.Rotary && !w.SharedQk && w.BackReach is null;

    /// <summary>
    /// The modules <see cref="Forward"/> loads for windows configured as <paramref name="w"/> (its key mask and bias are
    /// ignored: a call may pass either), whichever path a call takes: the float32 conversion, in place over whole tiles or segmented when
    /// the windows are plain, else the gather and the window problems with and without an attention bias. A layer's
    /// GpuKernels lists these so the app's build compiles them ahead (docs/prebuilt-kernels.md).
    /// </summary>
    internal static IEnumerable<KernelRequest> Kernels(LocalWindows w)
    {
        ArgumentNullException.ThrowIfNull(w);
        int e = w.HeadDim;
        var headers = new List<string>();
        if (HasPlainWindows(w))
        {
            if (w.WindowSize % FlashAttentionCuda.WholeWindowTiles(e) == 0)
            {
                headers.Add(CudaSpecialization.Windows(e, w.WindowSize, w.LookBackward, w.LookForward));
            }

            headers.Add(CudaSpecialization.FlashAttention(e, causal: false));
        }

        headers.Add(Header(w, e, biased: false));
        headers.Add(Header(w, e, biased: true));
        yield return new KernelRequest(CudaConvert.Template, string.Empty);
        yield return new KernelRequest(GatherTemplate, string.Empty);
        foreach (KernelRequest forward in headers.Distinct().SelectMany(h => FlashAttentionCuda.ForwardKernels(e, h)))
        {
            yield return forward;
        }
    }

    // The kernel that gathers each window's rows (no specialization).
    private const string GatherTemplate = "local.cu";

    // Query i and slot j of a window are tokens w·ws + i and (w − LookBackward)·ws + j, so every limit on t − u is a
    // limit on j − i: causal j − i ≤ LB·ws; the exact window j − i ≥ LB·ws − BackReach and (non-causal)
    // j − i ≤ LB·ws + ForwardReach (reaches of the configured window, as the reference measures it).
    internal static string Header(LocalWindows w, int e, bool biased)
    {
        long offset = (long)w.LookBackward * w.WindowSize;
        long? low = offset - w.BackReach;
        long? high = w.Causal ? offset : offset + w.ForwardReach;
        string header = KernelDefines.HeadDim(e);
        if (low is not null || high is not null)
        {
            header += CudaSpecialization.Boxes(DiagonalBox.Diagonal(low, high));
        }

        // The shared q/k self score, then the attention bias [Hb, ws, span] of packed row-set g / W, head (g / W) % Hb.
        string self = w.SharedQk ? $"(kv) == (q) + {offset.ToString(CultureInfo.InvariantCulture)} ? -5e4f : " : string.Empty;
        if (biased)
        {
            header += KernelDefines.ScoreTableMod($"({self}(s) + (p).table[((((b) / (p).table_i0) % (p).table_i1) * (p).table_i2 + (q)) * (p).table_i3 + (kv)])");
        }
        else if (w.SharedQk)
        {
            header += KernelDefines.ScoreMod($"{self}s");
        }

        return header;
    }

    /// <summary>Mirrors <c>LocalParams</c> in local.cu field for field.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct LocalParams
    {
        public ulong Q, K, V, Mask;
        public ulong GatheredQ, GatheredK, GatheredV, Keep;
        public int Rows, N, E, WindowSize, Windows, Span, LookBackward, RowsPerMaskRow;
        public int Rotary, Xpos, SharedQk, IsFp16;
        public float XposScaleBase;
    }
}
