// Gathers lucidrains' local attention (SPEC §4) into dense window problems for the FlashAttention kernel: problem
// g = p * W + w holds the window's queries [ws, E] and its look-around span of keys and values [span, E]; a key
// mask [G, span] drops slots outside the sequence and keys the caller's mask drops. Rotary (rotate_half pairing)
// and xpos use the reference's span positions: key slot j at j, query i at span - ws + i; angles in float32.
#include "half_bits.inc"

// Mirrored by LocalParams in LocalAttentionCuda.cs.
struct LocalParams {
    const u16* q; const u16* k; const u16* v;       // [P, N, E] contiguous
    const unsigned char* mask;                      // [Bm, N] (1 = keep) or null
    u16* gq; u16* gk; u16* gv;                      // [G, 1, ws, E], [G, 1, span, E], [G, 1, span, E]
    unsigned char* keep;                            // [G, span]
    int rows, n, e, ws, windows, span, look_backward, rows_per_mask_row;
    int rotary, xpos, shared_qk, is_fp16;
    float xpos_scale_base;
};

// Copies one row (scaled by `norm`), rotating the pairs (d, d + E/2) to position pos when rotary is on.
__device__ __forceinline__ void ag_row(const LocalParams& p, const u16* src, u16* dst, int pos, bool key, float norm, int lane) {
    const int half = p.e / 2;
    if (!p.rotary) {
        for (int d = lane; d < p.e; d += 32) dst[d] = ag_half_store(ag_half_load(src[d], p.is_fp16) * norm, p.is_fp16);
        return;
    }
    for (int i = lane; i < half; i += 32) {
        const float inv_freq = 1.f / powf(10000.f, (2.f * i) / p.e);
        const float angle = (float)pos * inv_freq;
        float scale = 1.f;
        if (p.xpos) {
            const float power = (float)(pos - p.span / 2) / p.xpos_scale_base;
            scale = powf((2.f * i + 0.4f * p.e) / (1.4f * p.e), power);
            if (key) scale = 1.f / scale;
        }
        const float c = (float)cos((double)angle), s = (float)sin((double)angle);
        const float a = ag_half_load(src[i], p.is_fp16) * norm, b = ag_half_load(src[i + half], p.is_fp16) * norm;
        dst[i] = ag_half_store(a * c * scale - b * s * scale, p.is_fp16);
        dst[i + half] = ag_half_store(b * c * scale + a * s * scale, p.is_fp16);
    }
}

// One warp per gathered row: first the G·ws query rows, then the G·span key/value rows.
extern "C" __global__ void ag_local_gather(const LocalParams p) {
    const i64 warp = (blockIdx.x * (i64)blockDim.x + threadIdx.x) / 32;
    const int lane = threadIdx.x % 32;
    const i64 problems = (i64)p.rows * p.windows, query_rows = problems * p.ws;
    if (warp < query_rows) {
        const i64 g = warp / p.ws;
        const int i = (int)(warp % p.ws), w = (int)(g % p.windows), prow = (int)(g / p.windows);
        const int t = w * p.ws + i;
        u16* dst = p.gq + warp * p.e;
        if (t < p.n) ag_row(p, p.q + ((i64)prow * p.n + t) * p.e, dst, p.span - p.ws + i, false, 1.f, lane);
        else for (int d = lane; d < p.e; d += 32) dst[d] = 0;
        return;
    }
    const i64 slot = warp - query_rows;
    if (slot >= problems * p.span) return;
    const i64 g = slot / p.span;
    const int j = (int)(slot % p.span), w = (int)(g % p.windows), prow = (int)(g / p.windows);
    const int u = (w - p.look_backward) * p.ws + j;
    bool valid = u >= 0 && u < p.n;
    if (valid && p.mask) valid = p.mask[(i64)(prow / p.rows_per_mask_row) * p.n + u] != 0;
    u16* dk = p.gk + slot * p.e;
    u16* dv = p.gv + slot * p.e;
    if (lane == 0) p.keep[slot] = valid;
    if (!valid) {
        for (int d = lane; d < p.e; d += 32) { dk[d] = 0; dv[d] = 0; }
        return;
    }
    const u16* sk = p.k + ((i64)prow * p.n + u) * p.e;
    const u16* sv = p.v + ((i64)prow * p.n + u) * p.e;
    float norm = 1.f;
    if (p.shared_qk) {
        // F.normalize: k / max(|k|, 1e-12), the sum of squares reduced across the warp.
        float sum = 0.f;
        for (int d = lane; d < p.e; d += 32) { const float x = ag_half_load(sk[d], p.is_fp16); sum += x * x; }
        for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffff, sum, o);
        norm = 1.f / fmaxf(sqrtf(sum), 1e-12f);
    }
    ag_row(p, sk, dk, j, true, norm, lane);
    for (int d = lane; d < p.e; d += 32) dv[d] = sv[d];
}
