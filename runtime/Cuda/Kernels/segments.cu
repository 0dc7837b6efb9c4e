// Pieces of a segmented launch (dilated and strided variants, SPEC §2, §3) around the FlashAttention kernels, which
// read and write the kept rows in place (ag_segment_view): the LSE of rows no branch keeps, and the blend of a branch
// computed elsewhere (a distributed dilated branch's compact rows) into the rows it covers.
#include "half_bits.inc"
#include "lse_blend.inc"

// Mirrored by FillParams in SegmentedAttentionCuda.cs.
struct FillParams {
    float* lse;
    i64 count;
};

// lse[i] = -inf: a row is -inf until some branch computes it.
extern "C" __global__ void ag_fill_neg_inf(const FillParams p) {
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < p.count; i += (i64)gridDim.x * blockDim.x) {
        p.lse[i] = AG_NEG_INF;
    }
}

// Mirrored by BlendParams in LseBlend.cs. Row (b, h, i) of the compact part (src, [B, H, rows, E] and [B, H, rows])
// joins row (b, h, i) of the strided target by the two LSEs; target strides in elements, 16-bit values (is_fp16).
struct BlendParams {
    u16* out;
    float* lse;
    const u16* src;
    const float* src_lse;
    i64 out_batch, out_head, out_row, lse_batch, lse_head, lse_row;
    int batch, heads, rows, width, is_fp16;
};

// One block per row: every thread reads the row's old LSE before thread 0 writes the new one.
extern "C" __global__ void ag_blend_rows(const BlendParams p) {
    const i64 count = (i64)p.batch * p.heads * p.rows;
    for (i64 r = blockIdx.x; r < count; r += gridDim.x) {
        const int i = (int)(r % p.rows), h = (int)((r / p.rows) % p.heads), b = (int)(r / ((i64)p.rows * p.heads));
        float* lse = p.lse + b * p.lse_batch + h * p.lse_head + i * p.lse_row;
        const float add_lse = p.src_lse[r];
        if (add_lse != AG_NEG_INF) {
            const ag_blend w = ag_blend_weights(*lse, add_lse);
            u16* out = p.out + b * p.out_batch + h * p.out_head + i * p.out_row;
            const u16* src = p.src + r * p.width;
            for (int d = threadIdx.x; d < p.width; d += blockDim.x) {
                out[d] = ag_half_store(ag_half_load(out[d], p.is_fp16) * w.w_old + ag_half_load(src[d], p.is_fp16) * w.w_new, p.is_fp16);
            }

            __syncthreads();
            if (threadIdx.x == 0) *lse = w.lse;
        }
    }
}
