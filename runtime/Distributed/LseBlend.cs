using System;
using System.Runtime.InteropServices;
using AttentionGen.Cuda;
using AttentionGen.Execution;

namespace AttentionGen.Distributed;

/// <summary>
/// Joins a branch computed apart (compact rows: output [B, H, rows, W] and LSE [B, H, rows]) into the rows of a result it
/// covers (strided views of the same shapes, the LSE's with a trailing 1): O = (e^lse O + e^lse' O') / (e^lse + e^lse'),
/// LSE = log(e^lse + e^lse'), with BranchMerger's arithmetic; a row whose part has LSE -inf is left as it is, a NaN on either side
/// makes the row NaN. On the CPU for float32, on a GPU for bf16/fp16 (segments.cu's ag_blend_rows).
/// </summary>
internal static class LseBlend
{
    public static void Into(Tensor output, Tensor lse, Tensor partOutput, Tensor partLse)
    {
        if (output.Numel == 0)
        {
            return;
        }

        if (output.Device.Kind == DeviceKind.Cuda)
        {
            OnGpu(output, lse, partOutput, partLse);
            return;
        }

        int batch = output.Size(0), heads = output.Size(1), rows = output.Size(2), width = output.Size(3);
        Span<float> o = output.Float32Storage, l = lse.Float32Storage;
        ReadOnlySpan<float> po = partOutput.Float32Storage, pl = partLse.Float32Storage;
        for (int b = 0; b < batch; b++)
        {
            for (int h = 0; h < heads; h++)
            {
                for (int i = 0; i < rows; i++)
                {
                    long part = (((long)b * heads) + h) * rows + i;
                    float add = pl[(int)(partLse.Offset + part)];
                    if (float.IsNegativeInfinity(add))
                    {
                        continue;
                    }

                    int lseAt = (int)(lse.Offset + (b * lse.Strides[0]) + (h * lse.Strides[1]) + (i * lse.Strides[2]));
                    Span<float> row = o.Slice((int)(output.Offset + (b * output.Strides[0]) + (h * output.Strides[1]) + (i * output.Strides[2])), width);
                    l[lseAt] = BranchMerger.Join(row, l[lseAt], po.Slice((int)(partOutput.Offset + (part * width)), width), add);
                }
            }
        }
    }

    private static void OnGpu(Tensor output, Tensor lse, Tensor partOutput, Tensor partLse)
    {
        var args = new BlendParams
        {
            Out = output.DevicePointer,
            Lse = lse.DevicePointer,
            Src = partOutput.DevicePointer,
            SrcLse = partLse.DevicePointer,
            OutBatch = output.Strides[0],
            OutHead = output.Strides[1],
            OutRow = output.Strides[2],
            LseBatch = lse.Strides[0],
            LseHead = lse.Strides[1],
            LseRow = lse.Strides[2],
            Batch = output.Size(0),
            Heads = output.Size(1),
            Rows = output.Size(2),
            Width = output.Size(3),
            IsFp16 = output.DType == DType.Float16 ? 1 : 0,
        };
        long rows = (long)args.Batch * args.Heads * args.Rows;
        KernelCache.Get(CudaTransfers.Require(output.Device), Execution.CudaExecutor.SegmentsTemplate, string.Empty)
            .Launch("ag_blend_rows", ((uint)Math.Clamp(rows, 1, 65535), 1, 1), 128, 0, args);
    }

    /// <summary>Mirrors <c>BlendParams</c> in segments.cu field for field.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct BlendParams
    {
        public ulong Out;
        public ulong Lse;
        public ulong Src;
        public ulong SrcLse;
        public long OutBatch, OutHead, OutRow, LseBatch, LseHead, LseRow;
        public int Batch, Heads, Rows, Width, IsFp16;
    }
}
