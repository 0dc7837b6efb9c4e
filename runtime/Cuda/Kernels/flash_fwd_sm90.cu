// FlashAttention forward on Hopper (sm_90a) with wgmma, for head dims 64 and 128.
// The specialization header defines AG_HEAD_DIM and AG_CAUSAL.
//
// One CTA = AG_WARPGROUPS warpgroups of 64 query rows each, of one (batch, head). K/V tiles of
// 128 keys stream through shared memory, double-buffered with cp.async, in the 128-byte-swizzled layout the
// tensor cores read through matrix descriptors. S = Q K^T is a wgmma with both operands in shared memory;
// O += P V is a wgmma with P straight from registers and V read transposed. The softmax is the same online
// exp2-domain softmax as flash_fwd.cu, with lazy rescaling; fully masked rows give O = 0 and LSE = -inf.

#ifndef AG_HEAD_DIM
#error "the specialization header must define AG_HEAD_DIM"
#endif
#ifndef AG_CAUSAL
#define AG_CAUSAL 0
#endif
#ifndef AG_WARPGROUPS
#define AG_WARPGROUPS 2
#endif
#define AG_NEG_INF (-__int_as_float(0x7f800000))

typedef unsigned short u16;
typedef unsigned int u32;
typedef long long i64;
typedef unsigned long long u64;

struct Traits {
    static constexpr int kHeadDim = AG_HEAD_DIM;
    // Warpgroups per CTA. One per CTA lets two CTAs share an SM without running in lockstep.
    static constexpr int kWarpGroups = AG_WARPGROUPS;
    static constexpr int kThreads = kWarpGroups * 128;
    static constexpr int kBlockM = kWarpGroups * 64;     // query rows per CTA
    static constexpr int kBlockN = 128;                  // keys per tile
    static constexpr int kChunks = kHeadDim / 8;         // 16-byte chunks per row
    static constexpr int kKSteps = kHeadDim / 16;        // k-steps of S = Q K^T
    static constexpr int kSRegs = kBlockN / 2;           // S accumulator floats per thread (m64n128)
    static constexpr int kORegs = kHeadDim / 2;          // O accumulator floats per thread (m64nD)
    static constexpr int kQBytes = kBlockM * kHeadDim * 2;
    static constexpr int kTileBytes = kBlockN * kHeadDim * 2;
    static constexpr int kSmemBytes = kQBytes + 4 * kTileBytes + 1024;   // + slack to align to 1024
};
static_assert(AG_HEAD_DIM == 64 || AG_HEAD_DIM == 128, "the wgmma kernel takes head dims 64 and 128");

struct FlashParams {
    const u16* q; const u16* k; const u16* v; u16* o;
    float* lse;
    const unsigned char* key_mask;
    i64 q_batch, q_head, q_row;
    i64 k_batch, k_head, k_row;
    i64 v_batch, v_head, v_row;
    i64 o_batch, o_head, o_row;
    i64 lse_batch, lse_head;
    i64 mask_batch, mask_row;
    int batch, q_heads, kv_heads, n, m;
    float scale_log2;
};

__device__ __forceinline__ u32 smem_addr(const void* p) {
    u32 r;
    asm("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(r) : "l"(p));
    return r;
}
__device__ __forceinline__ void cp_async16(u32 dst, const void* src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" :: "r"(dst), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::: "memory"); }
// Data written through the generic proxy (cp.async) must be fenced before the tensor cores read it.
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_wait() { asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory"); }
// Keeps the compiler from moving reads of accumulator registers across a wgmma wait.
__device__ __forceinline__ void fence_regs(float* r, int n) {
#pragma unroll
    for (int i = 0; i < n; ++i) asm volatile("" : "+f"(r[i]) :: "memory");
}
__device__ __forceinline__ float fast_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

#include "wgmma_ops.inc"

struct BF16 {
    __device__ __forceinline__ static u32 pack(float lo, float hi) {
        u32 r;
        asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
        return r;
    }
    __device__ __forceinline__ static void ss(float* d, u64 a, u64 b, int acc) { wgmma_ss_n128_bf16(d, a, b, acc); }
    __device__ __forceinline__ static void rs(float* d, const u32* a, u64 b) {
        if (AG_HEAD_DIM == 64) wgmma_rs_n64_bf16(d, a, b); else wgmma_rs_n128_bf16(d, a, b);
    }
};
struct FP16 {
    __device__ __forceinline__ static u32 pack(float lo, float hi) {
        u32 r;
        asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
        return r;
    }
    __device__ __forceinline__ static void ss(float* d, u64 a, u64 b, int acc) { wgmma_ss_n128_f16(d, a, b, acc); }
    __device__ __forceinline__ static void rs(float* d, const u32* a, u64 b) {
        if (AG_HEAD_DIM == 64) wgmma_rs_n64_f16(d, a, b); else wgmma_rs_n128_f16(d, a, b);
    }
};

// 128-byte swizzle: a [rows x kHeadDim] tile is stored as kHeadDim/64 column blocks of rows x 128 bytes; in
// each 128-byte row the 16-byte chunk c sits at c ^ (row % 8). This is the layout wgmma's SW128 mode reads.
__device__ __forceinline__ u32 swizzled(int rows, int row, int chunk) {
    return (chunk >> 3) * rows * 128 + row * 128 + (((chunk & 7) ^ (row & 7)) << 4);
}

// Matrix descriptor: start address, leading and stride byte offsets (all >> 4), 128-byte swizzle mode.
__device__ __forceinline__ u64 descriptor(u32 addr, u32 lbo, u32 sbo) {
    return (u64)((addr & 0x3FFFF) >> 4) | ((u64)((lbo >> 4) & 0x3FFF) << 16) | ((u64)((sbo >> 4) & 0x3FFF) << 32) | (1ull << 62);
}

__device__ __forceinline__ void load_tile(u32 smem, const u16* base, i64 row_stride, int row0, int rows, int limit, int tid) {
    for (int idx = tid; idx < rows * Traits::kChunks; idx += Traits::kThreads) {
        int r = idx / Traits::kChunks, c = idx % Traits::kChunks;
        bool valid = row0 + r < limit;
        const u16* src = valid ? base + (i64)(row0 + r) * row_stride + c * 8 : base;
        cp_async16(smem + swizzled(rows, r, c), src, valid ? 16 : 0);
    }
}

template <typename T>
__device__ __forceinline__ void flash_fwd_sm90(const FlashParams& p) {
    extern __shared__ __align__(1024) unsigned char smem_raw[];
    // Swizzle atoms are 1024 bytes: align the tiles to that.
    const u32 base = (smem_addr(smem_raw) + 1023) & ~1023u;
    const u32 sQ = base;
    const u32 sK = sQ + Traits::kQBytes;               // 2 stages
    const u32 sV = sK + 2 * Traits::kTileBytes;         // 2 stages

    const int tid = threadIdx.x, wg = tid / 128, warp = (tid % 128) / 32, lane = tid % 32;
    const int g = lane / 4, t = lane % 4;
    const int m_block = AG_CAUSAL ? gridDim.x - 1 - blockIdx.x : blockIdx.x;
    const int head = blockIdx.y, b = blockIdx.z;
    const int kv_head = head / (p.q_heads / p.kv_heads);
    const int q0 = m_block * Traits::kBlockM;
    const int wg_row0 = q0 + wg * 64;

    const u16* q = p.q + b * p.q_batch + head * p.q_head;
    const u16* k = p.k + b * p.k_batch + kv_head * p.k_head;
    const u16* v = p.v + b * p.v_batch + kv_head * p.v_head;

    int n_tiles = (p.m + Traits::kBlockN - 1) / Traits::kBlockN;
    if (AG_CAUSAL) {
        int last_row = min(q0 + Traits::kBlockM, p.n) - 1;
        n_tiles = min(n_tiles, last_row / Traits::kBlockN + 1);
    }

    load_tile(sQ, q, p.q_row, q0, Traits::kBlockM, p.n, tid);
    if (n_tiles > 0) {
        load_tile(sK, k, p.k_row, 0, Traits::kBlockN, p.m, tid);
        load_tile(sV, v, p.v_row, 0, Traits::kBlockN, p.m, tid);
    }
    cp_async_commit();
    cp_async_wait_all();
    fence_proxy_async();
    __syncthreads();

    float acc[Traits::kORegs];
#pragma unroll
    for (int i = 0; i < Traits::kORegs; ++i) acc[i] = 0.f;
    float row_max[2] = {AG_NEG_INF, AG_NEG_INF}, row_sum[2] = {0.f, 0.f};
    const int row_a = wg_row0 + warp * 16 + g, row_b = row_a + 8;

    for (int j = 0; j < n_tiles; ++j) {
        const int stage = j & 1;
        const int n0 = j * Traits::kBlockN;
        if (j + 1 < n_tiles) {
            load_tile(sK + (stage ^ 1) * Traits::kTileBytes, k, p.k_row, n0 + Traits::kBlockN, Traits::kBlockN, p.m, tid);
            load_tile(sV + (stage ^ 1) * Traits::kTileBytes, v, p.v_row, n0 + Traits::kBlockN, Traits::kBlockN, p.m, tid);
        }
        cp_async_commit();
        const u32 tK = sK + stage * Traits::kTileBytes;
        const u32 tV = sV + stage * Traits::kTileBytes;

        // S = Q K^T for this warpgroup's 64 rows: k-steps of 16 along the head dim. Within a 64-wide column
        // block a k-step advances the descriptor's start by 32 bytes; the hardware applies the swizzle.
        float s[Traits::kSRegs];
        wgmma_fence();
#pragma unroll
        for (int ks = 0; ks < Traits::kKSteps; ++ks) {
            const u32 col = (ks % 4) * 32;
            u64 da = descriptor(sQ + (ks / 4) * Traits::kBlockM * 128 + wg * 64 * 128 + col, 16, 1024);
            u64 db = descriptor(tK + (ks / 4) * Traits::kBlockN * 128 + col, 16, 1024);
            T::ss(s, da, db, ks > 0);
        }
        wgmma_commit();
        wgmma_wait();
        fence_regs(s, Traits::kSRegs);

        // Masks: keys past M, keys after the query (causal), keys the padding mask drops.
        const bool need_bounds = n0 + Traits::kBlockN > p.m;
        const bool need_causal = AG_CAUSAL && n0 + Traits::kBlockN - 1 > wg_row0;
        const unsigned char* mask_row = p.key_mask ? p.key_mask + b * p.mask_batch : 0;
        if (need_bounds || need_causal || mask_row) {
#pragma unroll
            for (int i = 0; i < Traits::kSRegs; ++i) {
                int col = n0 + (i / 4) * 8 + 2 * t + (i & 1);
                int row = (i % 4) < 2 ? row_a : row_b;
                bool keep = col < p.m && (!AG_CAUSAL || col <= row) && (!mask_row || mask_row[col * p.mask_row]);
                if (!keep) s[i] = AG_NEG_INF;
            }
        }

        float new_max[2] = {row_max[0], row_max[1]};
#pragma unroll
        for (int i = 0; i < Traits::kSRegs; i += 4) {
            new_max[0] = fmaxf(new_max[0], fmaxf(s[i], s[i + 1]) * p.scale_log2);
            new_max[1] = fmaxf(new_max[1], fmaxf(s[i + 2], s[i + 3]) * p.scale_log2);
        }
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            new_max[r] = fmaxf(new_max[r], __shfl_xor_sync(0xffffffff, new_max[r], 1));
            new_max[r] = fmaxf(new_max[r], __shfl_xor_sync(0xffffffff, new_max[r], 2));
        }
        // Lazy rescaling, exact: see flash_fwd.cu.
        const bool grow = new_max[0] > row_max[0] + 8.f || new_max[1] > row_max[1] + 8.f;
        if (__any_sync(0xffffffff, grow)) {
            float correction[2];
#pragma unroll
            for (int r = 0; r < 2; ++r) {
                correction[r] = fast_exp2(row_max[r] - (new_max[r] == AG_NEG_INF ? 0.f : new_max[r]));
                row_max[r] = new_max[r];
                row_sum[r] *= correction[r];
            }
#pragma unroll
            for (int i = 0; i < Traits::kORegs; ++i) acc[i] *= correction[(i % 4) < 2 ? 0 : 1];
        }
        const float base0 = row_max[0] == AG_NEG_INF ? 0.f : row_max[0];
        const float base1 = row_max[1] == AG_NEG_INF ? 0.f : row_max[1];

        // P in registers as the A operand of O += P V: k-step kk covers keys 16kk .. 16kk + 15.
        u32 pf[Traits::kBlockN / 16][4];
#pragma unroll
        for (int nt = 0; nt < Traits::kBlockN / 8; ++nt) {
            float p0 = fast_exp2(s[nt * 4 + 0] * p.scale_log2 - base0);
            float p1 = fast_exp2(s[nt * 4 + 1] * p.scale_log2 - base0);
            float p2 = fast_exp2(s[nt * 4 + 2] * p.scale_log2 - base1);
            float p3 = fast_exp2(s[nt * 4 + 3] * p.scale_log2 - base1);
            row_sum[0] += p0 + p1;
            row_sum[1] += p2 + p3;
            pf[nt / 2][(nt % 2) * 2 + 0] = T::pack(p0, p1);
            pf[nt / 2][(nt % 2) * 2 + 1] = T::pack(p2, p3);
        }

        // O += P V. V is stored like K ([key][head dim], swizzled) and read transposed: its descriptor steps
        // 16 keys (2048 bytes) per k-step; LBO is the distance to the next 64 columns (one column block),
        // SBO to the next 8 keys. (The swapped assignment was tried on the device and reads garbage.)
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < Traits::kBlockN / 16; ++kk) {
            T::rs(acc, pf[kk], descriptor(tV + kk * 2048, Traits::kBlockN * 128, 1024));
        }
        wgmma_commit();
        wgmma_wait();
        fence_regs(acc, Traits::kORegs);

        cp_async_wait_all();
        fence_proxy_async();
        __syncthreads();
    }

#pragma unroll
    for (int r = 0; r < 2; ++r) {
        row_sum[r] += __shfl_xor_sync(0xffffffff, row_sum[r], 1);
        row_sum[r] += __shfl_xor_sync(0xffffffff, row_sum[r], 2);
    }
    const float inv0 = row_sum[0] > 0.f ? 1.f / row_sum[0] : 0.f;
    const float inv1 = row_sum[1] > 0.f ? 1.f / row_sum[1] : 0.f;
    u16* o = p.o + b * p.o_batch + head * p.o_head;
#pragma unroll
    for (int dt = 0; dt < Traits::kHeadDim / 8; ++dt) {
        int col = dt * 8 + 2 * t;
        if (row_a < p.n) *(u32*)(o + (i64)row_a * p.o_row + col) = T::pack(acc[dt * 4 + 0] * inv0, acc[dt * 4 + 1] * inv0);
        if (row_b < p.n) *(u32*)(o + (i64)row_b * p.o_row + col) = T::pack(acc[dt * 4 + 2] * inv1, acc[dt * 4 + 3] * inv1);
    }
    if (p.lse && t == 0) {
        float* lse = p.lse + b * p.lse_batch + head * p.lse_head;
        const float ln2 = 0.6931471805599453f;
        if (row_a < p.n) lse[row_a] = row_sum[0] > 0.f ? (row_max[0] + __log2f(row_sum[0])) * ln2 : AG_NEG_INF;
        if (row_b < p.n) lse[row_b] = row_sum[1] > 0.f ? (row_max[1] + __log2f(row_sum[1])) * ln2 : AG_NEG_INF;
    }
}

#define AG_MIN_BLOCKS (AG_WARPGROUPS == 1 ? 2 : 1)
extern "C" __global__ void __launch_bounds__(Traits::kThreads, AG_MIN_BLOCKS) ag_flash_fwd_sm90_bf16(const FlashParams p) { flash_fwd_sm90<BF16>(p); }
extern "C" __global__ void __launch_bounds__(Traits::kThreads, AG_MIN_BLOCKS) ag_flash_fwd_sm90_fp16(const FlashParams p) { flash_fwd_sm90<FP16>(p); }
