using System;
using System.Reflection;
using AttentionGen.Cpu;
using ILGPU;

namespace AttentionGen.ILGpu.Kernels;

/// <summary>
/// FlashAttention forward for ILGPU, explicitly grouped: one group per (query tile, head, batch) = grid (x, y, z).
/// The group stages its Q tile once, then walks the keys a tile at a time through shared memory, keeping each row's
/// running max and sum (online softmax, fp32) and its O accumulator in shared memory, and writes O and the natural-log
/// LSE at the end. q, k, v and O are stored as <c>T</c> (float32, or bf16/fp16 bits) and converted by the storage format
/// as they enter and leave shared memory, so 16-bit operands cross to the accelerator at half the bytes; everything
/// in between is fp32. The format and the mask and score mods are struct type parameters, so ILGPU specializes (and
/// inlines) them.
/// </summary>
internal static class FlashForwardKernel
{
    /// <summary>The kernel specialized for its storage and mods, for backends that compile by method.</summary>
    public static MethodInfo MethodFor<T, TFormat, TMask, TScore>()
        where T : unmanaged
        where TFormat : struct, IStorageFormat<T>
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod =>
        typeof(FlashForwardKernel).GetMethod(nameof(Run))!.MakeGenericMethod(typeof(T), typeof(TFormat), typeof(TMask), typeof(TScore));

    /// <summary>
    /// The kernel. Dynamic shared memory holds <see cref="IlgpuTiles.SharedFloats"/> floats. A key the mask, the
    /// key-padding mask or the end of the sequence removes scores -inf; a row with no allowed key gets O = 0 and
    /// LSE = -inf; a NaN score makes its row NaN (the max below keeps NaN, which PTX's max.f32 would drop).
    /// </summary>
    public static void Run<T, TFormat, TMask, TScore>(
        ArrayView<T> q,
        ArrayView<T> k,
        ArrayView<T> v,
        ArrayView<byte> keep,
        ArrayView<T> output,
        ArrayView<float> lse,
        FlashKernelShape shape,
        TFormat format,
        TMask mask,
        TScore score)
        where T : unmanaged
        where TFormat : struct, IStorageFormat<T>
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        int batch = Grid.IdxZ, head = Grid.IdxY;
        int tid = Group.IdxX, threads = Group.DimX;
        int br = shape.QueryRows, bc = shape.KeyRows, e = shape.HeadDim, ev = shape.ValueDim, m = shape.KeyLength;
        int rowStart = Grid.IdxX * br;
        int rows = Min(br, shape.QueryLength - rowStart);
        int kvHead = head / (shape.QueryHeads / shape.KeyHeads);

        long queryHead = ((long)batch * shape.QueryHeads) + head;
        long keyHead = ((long)batch * shape.KeyHeads) + kvHead;
        long qBase = ((queryHead * shape.QueryLength) + rowStart) * e;
        long oBase = ((queryHead * shape.QueryLength) + rowStart) * ev;
        long lseBase = (queryHead * shape.QueryLength) + rowStart;
        long kBase = keyHead * m * e;
        long vBase = keyHead * m * ev;

        ArrayView<float> shared = SharedMemory.GetDynamic<float>();
        ArrayView<float> qs = shared.SubView(0L, (long)br * e);
        ArrayView<float> ks = shared.SubView((long)br * e, (long)bc * e);
        ArrayView<float> vs = shared.SubView((long)(br + bc) * e, (long)bc * ev);
        ArrayView<float> os = shared.SubView(((long)(br + bc) * e) + ((long)bc * ev), (long)br * ev);
        long statsStart = ((long)(br + bc) * e) + ((long)(bc + br) * ev);
        ArrayView<float> ss = shared.SubView(statsStart, (long)br * bc);
        ArrayView<float> rowMax = shared.SubView(statsStart + ((long)br * bc), br);
        ArrayView<float> rowSum = shared.SubView(statsStart + ((long)br * bc) + br, br);
        ArrayView<float> rowScale = shared.SubView(statsStart + ((long)br * bc) + (2L * br), br);

        for (int i = tid; i < br * e; i += threads)
        {
            // Scaled as staged, as the float32 CPU prefill does: a q·k past float32 whose scaled score is not stays finite.
            qs[i] = i / e < rows ? format.Load(q[qBase + i]) * shape.Scale : 0f;
        }

        for (int i = tid; i < br * ev; i += threads)
        {
            os[i] = 0f;
        }

        for (int r = tid; r < br; r += threads)
        {
            rowMax[r] = float.NegativeInfinity;
            rowSum[r] = 0f;
        }

        KeySpan(mask, batch, head, rowStart, rows, m, out int kvFirst, out int kvEnd);
        for (int kvStart = kvFirst; kvStart < kvEnd; kvStart += bc)
        {
            int keys = Min(bc, kvEnd - kvStart);
            Group.Barrier(); // the previous tile's readers are done with ks, vs and ss
            for (int i = tid; i < bc * e; i += threads)
            {
                ks[i] = i / e < keys ? format.Load(k[kBase + ((long)kvStart * e) + i]) : 0f;
            }

            for (int i = tid; i < bc * ev; i += threads)
            {
                vs[i] = i / ev < keys ? format.Load(v[vBase + ((long)kvStart * ev) + i]) : 0f;
            }

            Group.Barrier();
            for (int i = tid; i < br * bc; i += threads)
            {
                int r = i / bc, c = i % bc, qi = rowStart + r, kv = kvStart + c;
                float s = float.NegativeInfinity;
                if (r < rows && c < keys && (shape.HasKeyMask == 0 || keep[((long)batch * m) + kv] != 0) && mask.IsAllowed(batch, head, qi, kv))
                {
                    float dot = 0f;
                    for (int d = 0; d < e; d++)
                    {
                        dot += qs[(r * e) + d] * ks[(c * e) + d];
                    }

                    s = score.Apply(dot, batch, head, qi, kv);
                }

                ss[i] = s;
            }

            Group.Barrier();
            for (int r = tid; r < br; r += threads)
            {
                UpdateRow(ss.SubView((long)r * bc, bc), rowMax, rowSum, rowScale, r);
            }

            Group.Barrier();
            for (int i = tid; i < br * ev; i += threads)
            {
                int r = i / ev, d = i % ev;
                float acc = os[i] * rowScale[r];
                for (int c = 0; c < keys; c++)
                {
                    acc += ss[(r * bc) + c] * vs[(c * ev) + d];
                }

                os[i] = acc;
            }
        }

        Group.Barrier();
        for (int i = tid; i < rows * ev; i += threads)
        {
            float sum = rowSum[i / ev];
            output[oBase + i] = format.Store(OnlineSoftmax.Normalize(os[i], sum));
        }

        for (int r = tid; r < rows; r += threads)
        {
            lse[lseBase + r] = OnlineSoftmax.LogSumExp(rowMax[r], rowSum[r]);
        }
    }

    /// <summary>
    /// The keys [first, end) any of the group's rows may see, from the mask's per-row intervals
    /// (<see cref="IMaskMod.TryGetKeyRange"/>): causal and window masks skip the tiles they remove. Every thread computes
    /// the same span, so the key loop stays uniform across the group. A mask without intervals gives all M keys.
    /// </summary>
    internal static void KeySpan<TMask>(TMask mask, int batch, int head, int rowStart, int rows, int m, out int first, out int end)
        where TMask : struct, IMaskMod
    {
        first = m;
        end = 0;
        for (int r = 0; r < rows; r++)
        {
            if (!mask.TryGetKeyRange(batch, head, rowStart + r, out int start, out int stop))
            {
                first = 0;
                end = m;
                return;
            }

            first = Min(first, start < 0 ? 0 : start);
            end = stop > end ? Min(stop, m) : end;
        }
    }

    /// <summary>
    /// Online softmax for row <paramref name="r"/> over one tile of scores: the new running max, the scores replaced
    /// by exp(s - max), the old sum rescaled and the tile's added, and the factor the O accumulator is rescaled by.
    /// While every score so far is -inf the max stays -inf, the weights 0 and the factor 1 (exp(-inf - -inf) is NaN).
    /// </summary>
    private static void UpdateRow(ArrayView<float> scores, ArrayView<float> rowMax, ArrayView<float> rowSum, ArrayView<float> rowScale, int r)
    {
        float oldMax = rowMax[r];
        float newMax = oldMax;
        for (int c = 0; c < scores.IntLength; c++)
        {
            newMax = OnlineSoftmax.NaNMax(newMax, scores[c]);
        }

        float sum = 0f, factor = 1f;
        if (newMax != float.NegativeInfinity)
        {
            for (int c = 0; c < scores.IntLength; c++)
            {
                float p = MathF.Exp(scores[c] - newMax);
                scores[c] = p;
                sum += p;
            }

            factor = MathF.Exp(oldMax - newMax);
        }
        else
        {
            for (int c = 0; c < scores.IntLength; c++)
            {
                scores[c] = 0f;
            }
        }

        rowMax[r] = newMax;
        rowSum[r] = (rowSum[r] * factor) + sum;
        rowScale[r] = factor;
    }

    private static int Min(int a, int b) => a < b ? a : b;
}
