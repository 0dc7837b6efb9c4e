// Gather / merge for the variants that run as many small dense problems (SPEC §2, §3): LongNet's dilated
// segments and the Sparse Transformer's strided residue classes. Row i of gathered problem (b, s, h) is source
// row t = s * seg_stride + off(h) + rate * i, kept while its place in the segment (off + rate * i) is below
// seg_cap and t < n; off(h) = h / group. Dilated: seg_stride = seg_cap = w, group = ceil(H / r). Strided:
// seg_stride = 1, seg_cap = n, rate = stride, one group. Gathered tensors are [B * S * H, 1, rows, E] with a
// key mask [B * S * H, rows] (1 = a real row), so the FlashAttention kernel runs them unchanged.
typedef unsigned short u16;
typedef unsigned int u32;
typedef long long i64;

// Mirrored by GatherParams in GatheredAttentionCuda.cs.
struct GatherParams {
    const u16* q; const u16* k; const u16* v;        // sources [B, H, N, E] (strided)
    u16* gq; u16* gk; u16* gv;                        // gathered [G, 1, rows, E] (contiguous)
    unsigned char* keep;                              // [G, rows]
    const u16* go; const float* glse;                 // a branch's output [G, 1, rows, E] and LSE [G, 1, rows]
    float* acc; float* acc_lse;                       // merged output [B, H, N, E] and LSE [B, H, N], fp32
    i64 q_batch, q_head, q_row, k_batch, k_head, k_row, v_batch, v_head, v_row;
    int batch, heads, n, e, rows, segments, seg_stride, seg_cap, rate, group, is_fp16;
};

// Source row of gathered row i of (s, h), or -1 for padding.
__device__ __forceinline__ int ag_source_row(const GatherParams& p, int s, int h, int i) {
    const int in_seg = h / p.group + p.rate * i;
    const int t = s * p.seg_stride + in_seg;
    return in_seg < p.seg_cap && t < p.n ? t : -1;
}

__device__ __forceinline__ float ag_to_float(u16 x, int is_fp16) {
    if (!is_fp16) return __int_as_float(((u32)x) << 16);
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(x));
    return f;
}

// One warp per gathered row: copies q, k, v (zeros for padding) and sets the row's key-mask byte.
extern "C" __global__ void ag_gather_rows(const GatherParams p) {
    const i64 row = (blockIdx.x * (i64)blockDim.x + threadIdx.x) / 32;
    const int lane = threadIdx.x % 32;
    const i64 total = (i64)p.batch * p.segments * p.heads * p.rows;
    if (row >= total) return;
    const int i = (int)(row % p.rows);
    const i64 g = row / p.rows;
    const int h = (int)(g % p.heads), s = (int)(g / p.heads % p.segments), b = (int)(g / p.heads / p.segments);
    const int t = ag_source_row(p, s, h, i);
    u16* dq = p.gq + row * p.e; u16* dk = p.gk + row * p.e; u16* dv = p.gv + row * p.e;
    const u16* sq = p.q + b * p.q_batch + h * p.q_head + (i64)t * p.q_row;
    const u16* sk = p.k + b * p.k_batch + h * p.k_head + (i64)t * p.k_row;
    const u16* sv = p.v + b * p.v_batch + h * p.v_head + (i64)t * p.v_row;
    for (int d = lane; d < p.e; d += 32) {
        dq[d] = t >= 0 ? sq[d] : 0;
        dk[d] = t >= 0 ? sk[d] : 0;
        dv[d] = t >= 0 ? sv[d] : 0;
    }
    if (lane == 0) p.keep[row] = t >= 0;
}

// Folds one branch into the merged output by LSE weights: O = (O·e^lse + Oᵢ·e^lseᵢ) / (e^lse + e^lseᵢ). A row
// belongs to at most one gathered row of a branch, so there are no races inside one launch.
extern "C" __global__ void ag_merge_rows(const GatherParams p) {
    const i64 row = (blockIdx.x * (i64)blockDim.x + threadIdx.x) / 32;
    const int lane = threadIdx.x % 32;
    const i64 total = (i64)p.batch * p.segments * p.heads * p.rows;
    if (row >= total) return;
    const int i = (int)(row % p.rows);
    const i64 g = row / p.rows;
    const int h = (int)(g % p.heads), s = (int)(g / p.heads % p.segments), b = (int)(g / p.heads / p.segments);
    const int t = ag_source_row(p, s, h, i);
    const float lse = p.glse[row];
    if (t < 0 || lse == -__int_as_float(0x7f800000)) return;
    const i64 dst = ((i64)b * p.heads + h) * p.n + t;
    const float prev = p.acc_lse[dst];
    const bool first = prev == -__int_as_float(0x7f800000);
    const float merged = first ? lse : fmaxf(prev, lse) + log1pf(expf(-fabsf(prev - lse)));
    const float keep = first ? 0.f : expf(prev - merged), add = expf(lse - merged);
    float* out = p.acc + dst * p.e;
    const u16* in = p.go + row * p.e;
    for (int d = lane; d < p.e; d += 32) out[d] = out[d] * keep + ag_to_float(in[d], p.is_fp16) * add;
    __syncwarp();
    if (lane == 0) p.acc_lse[dst] = merged;
}

// acc_lse = -inf before the first branch (acc starts at zero from the allocator's memset).
extern "C" __global__ void ag_fill_lse(const GatherParams p) {
    const i64 total = (i64)p.batch * p.heads * p.n;
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < total; i += (i64)gridDim.x * blockDim.x) {
        p.acc_lse[i] = -__int_as_float(0x7f800000);
    }
}
