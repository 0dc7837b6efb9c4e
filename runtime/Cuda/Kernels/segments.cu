// The pieces of a segmented launch (dilated and strided variants, SPEC §2, §3) around the FlashAttention kernels,
// which read and write the kept rows in place (ag_segment_view): filling the LSE of rows no branch keeps, and
// merging a mixture's branch outputs by their LSEs.
#include "half_bits.inc"
struct __align__(16) ag_u128 { u32 x, y, z, w; };

#define AG_NEG_INF (-__int_as_float(0x7f800000))
#define AG_MAX_BRANCHES 8

// Mirrored by MergeParams in SegmentedAttentionCuda.cs.
struct MergeParams {
    const u16* o[AG_MAX_BRANCHES];       // branch outputs [B, H, T, E], contiguous; rows a branch skipped hold garbage
    const float* lse[AG_MAX_BRANCHES];   // branch LSEs [B, H, T]; -inf where the branch skipped or masked the row
    u16* out;                            // merged output [B, H, T, E]
    float* out_lse;                      // merged LSE [B, H, T]
    i64 rows;                            // B * H * T
    int count, e, is_fp16;
};

// lse[i] = -inf: a row is -inf until some branch computes it.
extern "C" __global__ void ag_fill_neg_inf(const MergeParams p) {
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < p.rows; i += (i64)gridDim.x * blockDim.x) {
        p.out_lse[i] = AG_NEG_INF;
    }
}

// One warp per row: O = Σ e^(lseᵢ − lse) Oᵢ with lse = log Σ e^lseᵢ, over the branches that computed the row
// (finite lseᵢ; the others' rows are never read). A row no branch computed gets O = 0, LSE = -inf.
// Each lane moves 8 elements (16 bytes) at a time.
extern "C" __global__ void ag_merge_branches(const MergeParams p) {
    const i64 row = (blockIdx.x * (i64)blockDim.x + threadIdx.x) / 32;
    const int lane = threadIdx.x % 32;
    if (row >= p.rows) return;
    float top = AG_NEG_INF;
    for (int i = 0; i < p.count; ++i) top = fmaxf(top, p.lse[i][row]);
    float weight[AG_MAX_BRANCHES], total = 0.f;
#pragma unroll
    for (int i = 0; i < AG_MAX_BRANCHES; ++i) {
        const float l = i < p.count ? p.lse[i][row] : AG_NEG_INF;
        weight[i] = l == AG_NEG_INF ? 0.f : expf(l - top);
        total += weight[i];
    }
    const float inv = total > 0.f ? 1.f / total : 0.f;
    for (int c = lane * 8; c < p.e; c += 256) {
        float sum[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
#pragma unroll
        for (int i = 0; i < AG_MAX_BRANCHES; ++i) {
            if (weight[i] == 0.f) continue;
            const ag_u128 chunk = *reinterpret_cast<const ag_u128*>(p.o[i] + row * p.e + c);
            const u16* x = reinterpret_cast<const u16*>(&chunk);
#pragma unroll
            for (int d = 0; d < 8; ++d) sum[d] += weight[i] * ag_half_load(x[d], p.is_fp16);
        }
        ag_u128 merged;
        u16* y = reinterpret_cast<u16*>(&merged);
#pragma unroll
        for (int d = 0; d < 8; ++d) y[d] = ag_half_store(sum[d] * inv, p.is_fp16);
        *reinterpret_cast<ag_u128*>(p.out + row * p.e + c) = merged;
    }
    if (lane == 0) p.out_lse[row] = total > 0.f ? top + logf(total) : AG_NEG_INF;
}
