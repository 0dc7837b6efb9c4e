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

#include "flash_common.inc"

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
#include "wgmma_ops.inc"

struct BF16 {
    __device__ __forceinline__ static u32 pack(float lo, float hi) { return pack_bf16(lo, hi); }
    __device__ __forceinline__ static void ss(float* d, u64 a, u64 b, int acc) { wgmma_ss_n128_bf16(d, a, b, acc); }
    __device__ __forceinline__ static void rs(float* d, const u32* a, u64 b) {
        if (AG_HEAD_DIM == 64) wgmma_rs_n64_bf16(d, a, b); else wgmma_rs_n128_bf16(d, a, b);
    }
};
struct FP16 {
    __device__ __forceinline__ static u32 pack(float lo, float hi) { return pack_fp16(lo, hi); }
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
    const BlockInfo<Traits::kBlockM, Traits::kBlockN> info(p, AG_CAUSAL);
    const int head = info.head, b = info.b, q0 = info.q0, n_tiles = info.n_tiles;
    const u16* q = info.q;
    const u16* k = info.k;
    const u16* v = info.v;
    const int wg_row0 = q0 + wg * 64;

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
    RowStats st = {{AG_NEG_INF, AG_NEG_INF}, {0.f, 0.f}};
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

        // Masks only where a tile needs them: the last tile (keys past M), the diagonal, a padding mask.
        if (n0 + Traits::kBlockN > p.m || (AG_CAUSAL && n0 + Traits::kBlockN - 1 > wg_row0) || p.key_mask) {
            mask_scores<Traits::kSRegs>(p, s, n0, row_a, row_b, b, t, AG_CAUSAL);
        }
        u32 pf[Traits::kBlockN / 16][4];
        softmax_step<Traits::kSRegs, Traits::kORegs, T>(p, s, acc, st, pf);

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

    write_rows<Traits::kORegs, T>(p, acc, st, row_a, row_b, b, head, t);
}

#define AG_MIN_BLOCKS (AG_WARPGROUPS == 1 ? 2 : 1)
extern "C" __global__ void __launch_bounds__(Traits::kThreads, AG_MIN_BLOCKS) ag_flash_fwd_sm90_bf16(const FlashParams p) { flash_fwd_sm90<BF16>(p); }
extern "C" __global__ void __launch_bounds__(Traits::kThreads, AG_MIN_BLOCKS) ag_flash_fwd_sm90_fp16(const FlashParams p) { flash_fwd_sm90<FP16>(p); }
