// FlashAttention-2 forward for AttentionGen (sm_80+), compiled by NVRTC at first use.
// The runtime prepends a specialization header that defines AG_HEAD_DIM and AG_CAUSAL and, for [Flex] classes,
// the mods translated from C# (ag_mask_mod, ag_score_mod) and a closed-form plan (AG_BOXES). No CUDA includes: bf16/fp16 are handled as raw 16-bit values through PTX.
//
// One CTA = 4 warps of one (batch, head); each warp owns kMTiles blocks of 16 query rows and keeps its O
// accumulator in registers. Every K/V fragment read from shared memory feeds kMTiles MMAs, so with two
// row blocks per warp the shared-memory traffic per FLOP halves (the limit of mma.sync kernels). Q stays in
// registers where it fits (head dim <= 64) and is re-read from shared memory otherwise. K/V tiles of 64 or 32 keys
// stream through shared memory, double-buffered with cp.async. S = Q K^T and O += P V run on
// mma.sync.m16n8k16 with fp32 accumulation; the softmax is online, in the exp2 domain, per row
// (flash_common.inc). Fully masked rows give O = 0 and LSE = -inf.

#ifndef AG_HEAD_DIM
#error "the specialization header must define AG_HEAD_DIM"
#endif
#ifndef AG_CAUSAL
#define AG_CAUSAL 0
#endif

#include "flash_common.inc"

// ---- Traits: every tile constant in one place ----
struct Traits {
    static constexpr int kHeadDim = AG_HEAD_DIM;
    static constexpr int kMTiles = kHeadDim <= 128 ? 2 : 1;   // 16-row blocks per warp
    static constexpr bool kQInRegs = kHeadDim <= 64;
    static constexpr int kWarps = 4;
    static constexpr int kThreads = kWarps * 32;
    static constexpr int kBlockM = kWarps * 16 * kMTiles;     // query rows per CTA
    // Keys per tile: 32 above head dim 64 keeps S and P small enough that O stays in registers unspilled.
    static constexpr int kBlockN = kHeadDim <= 64 ? 64 : 32;
    static constexpr int kChunks = kHeadDim / 8;               // 16-byte chunks per row
    static constexpr int kRealChunks = AG_REAL_HEAD_DIM / 8;   // the chunks global memory holds; the rest are zero
    // XOR-swizzle inside aligned groups of chunks: the largest power of two (at most 8) dividing kChunks.
    static constexpr int kSwizzleGroup = (kChunks % 8 == 0) ? 8 : (kChunks % 4 == 0) ? 4 : (kChunks % 2 == 0) ? 2 : 1;
    static constexpr int kSwizzleMask = kSwizzleGroup - 1;
    static constexpr int kKSteps = kHeadDim / 16;   // k-steps of S = Q K^T
    static constexpr int kNTiles = kBlockN / 8;     // n-tiles of S
    static constexpr int kDTiles = kHeadDim / 8;    // n-tiles of O
    static constexpr int kTileElems = kBlockN * kHeadDim;
};
static_assert(AG_HEAD_DIM % 16 == 0 && AG_HEAD_DIM <= 256, "head dim must be a multiple of 16, at most 256");

__device__ __forceinline__ void ldmatrix_x4(u32& r0, u32& r1, u32& r2, u32& r3, u32 addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(u32& r0, u32& r1, u32& r2, u32& r3, u32 addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(addr));
}

// The element type: mma and conversions differ between bf16 and fp16.
struct BF16 {
    __device__ __forceinline__ static void mma(float* d, const u32* a, const u32* b) {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
    __device__ __forceinline__ static u32 pack(float lo, float hi) { return pack_bf16(lo, hi); }
    __device__ __forceinline__ static void unpack(u32 bits, float& lo, float& hi) { unpack_bf16(bits, lo, hi); }
};
struct FP16 {
    __device__ __forceinline__ static void mma(float* d, const u32* a, const u32* b) {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
    __device__ __forceinline__ static u32 pack(float lo, float hi) { return pack_fp16(lo, hi); }
    __device__ __forceinline__ static void unpack(u32 bits, float& lo, float& hi) { unpack_fp16(bits, lo, hi); }
};

// Shared-memory element index of (row, chunk): 16-byte chunks XOR-swizzled by row, so the 8 rows an
// ldmatrix reads fall in 8 different bank groups.
__device__ __forceinline__ int swizzled(int row, int chunk) {
    return (row * Traits::kChunks + (chunk ^ (row & Traits::kSwizzleMask))) * 8;
}

// Copies rows [row0, row0 + kRows) of a [*, kHeadDim] operand into shared memory; rows >= limit, and the padding
// chunks past kRealChunks, are zero-filled.
// Where a thread's chunk column and swizzle phase repeat every pass (most head dims), its addresses are a base plus a
// fixed step and only a tile running past the limit checks rows: the copies then cost a few instructions each
// instead of a division, a swizzle and a select, on the same threads that do the math.
template <int kRows>
__device__ __forceinline__ void load_tile(u16* smem, const u16* base, i64 row_stride, int row0, int limit, int tid) {
    constexpr int kRowsPerPass = Traits::kThreads / Traits::kChunks;
    constexpr bool kFixedPhase = Traits::kThreads % Traits::kChunks == 0 && kRowsPerPass % Traits::kSwizzleGroup == 0 && kRows % kRowsPerPass == 0;
    if (kFixedPhase) {
        const int r = tid / Traits::kChunks, c = tid % Traits::kChunks;
        const u32 dst = smem_addr(smem + swizzled(r, c));
        const u16* src = base + (i64)(row0 + r) * row_stride + c * 8;
        const i64 step = kRowsPerPass * row_stride;
        constexpr u32 kPassBytes = kRowsPerPass * Traits::kChunks * 16;
        const bool real = c < Traits::kRealChunks;   // a constant true unless the head dim is padded
        if (row0 + kRows <= limit) {
#pragma unroll
            for (int k = 0; k < kRows / kRowsPerPass; ++k) cp_async16(dst + k * kPassBytes, real ? src + k * step : base, real ? 16 : 0);
        } else {
#pragma unroll
            for (int k = 0; k < kRows / kRowsPerPass; ++k) {
                const bool valid = real && row0 + r + k * kRowsPerPass < limit;
                cp_async16(dst + k * kPassBytes, valid ? src + k * step : base, valid ? 16 : 0);
            }
        }
        return;
    }
    for (int idx = tid; idx < kRows * Traits::kChunks; idx += Traits::kThreads) {
        int r = idx / Traits::kChunks, c = idx % Traits::kChunks;
        bool valid = c < Traits::kRealChunks && row0 + r < limit;
        const u16* src = valid ? base + (i64)(row0 + r) * row_stride + c * 8 : base;
        cp_async16(smem_addr(smem + swizzled(r, c)), src, valid ? 16 : 0);
    }
}

template <typename T>
__device__ __forceinline__ void flash_fwd(const FlashParams& p) {
    extern __shared__ __align__(128) u16 smem[];
    u16* sQ = smem;
    u16* sK = smem + Traits::kBlockM * Traits::kHeadDim;   // 2 stages
    u16* sV = sK + 2 * Traits::kTileElems;                   // 2 stages

    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int g = lane / 4, t = lane % 4;
    const bool planned = ag_has_plan(p);
    const BlockInfo<Traits::kBlockM, Traits::kBlockN> info(p, AG_CAUSAL, planned, blockIdx.x, gridDim.x, blockIdx.y, blockIdx.z);
    const int head = info.head, b = info.b, q0 = info.q0, n_tiles = info.n_tiles;
    if (q0 >= p.n) return;   // a segmented launch's short problem: the whole CTA leaves before any barrier
    const u16* q = info.q;
    const u16* k = info.k;
    const u16* v = info.v;
    const int warp_row0 = q0 + warp * 16 * Traits::kMTiles;

    // The kind of every key tile for this CTA's rows, classified by all threads at once into shared memory
    // (after the K/V stages, behind two ints: the first and last visited tile) when a plan exists. The loop then
    // runs from the first to the last visited tile and next_tile skips the others inside, so neither the walk nor
    // the prefetch touches tiles outside the plan.
    const int q1 = min(q0 + Traits::kBlockM, p.n);
    int* bounds = reinterpret_cast<int*>(smem + Traits::kBlockM * Traits::kHeadDim + 4 * Traits::kTileElems);
    unsigned char* kinds = reinterpret_cast<unsigned char*>(bounds + 4);
    int first = info.first_tile, end = n_tiles;
    if (planned) {
        if (tid == 0) { bounds[0] = n_tiles; bounds[1] = -1; }
        __syncthreads();
        ag_classify_tiles<Traits::kBlockN, Traits::kThreads>(p, b, head, q0, q1, n_tiles, kinds, bounds, tid, [] { __syncthreads(); }, first, end);
    }
    // Without a plan every tile has the kind of the mods alone (the range arguments do not matter then).
    auto tile_kind = [&](int j) { return planned ? (int)kinds[j] : ag_tile_kind(p, b, head, q0, q1, 0, 0); };
    auto next_tile = [&](int j) {
        while (planned && j < end && kinds[j] == AG_SKIP) ++j;
        return j;
    };

    load_tile<Traits::kBlockM>(sQ, q, p.q_row, q0, p.n, tid);
    if (first < end) {
        load_tile<Traits::kBlockN>(sK, k, p.k_row, first * Traits::kBlockN, p.m, tid);
        load_tile<Traits::kBlockN>(sV, v, p.v_row, first * Traits::kBlockN, p.m, tid);
    }
    cp_async_commit();
    cp_async_wait_all();
    __syncthreads();

    // Q fragments of this warp's rows, ldmatrix'ed from shared memory (kept in registers when they fit).
    const int smem_row0 = warp_row0 - q0;
    u32 qreg[Traits::kQInRegs ? Traits::kMTiles : 1][Traits::kQInRegs ? Traits::kKSteps : 1][4];
    if (Traits::kQInRegs) {
#pragma unroll
        for (int mt = 0; mt < Traits::kMTiles; ++mt) {
#pragma unroll
            for (int ks = 0; ks < Traits::kKSteps; ++ks) {
                const int row = smem_row0 + mt * 16 + (lane % 16);
                u32* f = qreg[Traits::kQInRegs ? mt : 0][Traits::kQInRegs ? ks : 0];
                ldmatrix_x4(f[0], f[1], f[2], f[3], smem_addr(sQ + swizzled(row, ks * 2 + lane / 16)));
            }
        }
    }

    float acc[Traits::kMTiles][Traits::kDTiles][4];
    RowStats st[Traits::kMTiles];
#pragma unroll
    for (int mt = 0; mt < Traits::kMTiles; ++mt) {
#pragma unroll
        for (int d = 0; d < Traits::kDTiles; ++d) { acc[mt][d][0] = acc[mt][d][1] = acc[mt][d][2] = acc[mt][d][3] = 0.f; }
        st[mt].max[0] = st[mt].max[1] = AG_NEG_INF;
        st[mt].sum[0] = st[mt].sum[1] = 0.f;
    }

    for (int j = first, stage = 0; j < end; stage ^= 1) {
        const int n0 = j * Traits::kBlockN;
        const int kind = tile_kind(j);
        const int next = next_tile(j + 1);
        if (next < end) {
            load_tile<Traits::kBlockN>(sK + (stage ^ 1) * Traits::kTileElems, k, p.k_row, next * Traits::kBlockN, p.m, tid);
            load_tile<Traits::kBlockN>(sV + (stage ^ 1) * Traits::kTileElems, v, p.v_row, next * Traits::kBlockN, p.m, tid);
        }
        cp_async_commit();
        const u16* tK = sK + stage * Traits::kTileElems;
        const u16* tV = sV + stage * Traits::kTileElems;

        // S = Q K^T: per row block, kNTiles fragments of 16 x 8. Each K fragment feeds kMTiles MMAs.
        float s[Traits::kMTiles][Traits::kNTiles][4];
#pragma unroll
        for (int mt = 0; mt < Traits::kMTiles; ++mt) {
#pragma unroll
            for (int nt = 0; nt < Traits::kNTiles; ++nt) { s[mt][nt][0] = s[mt][nt][1] = s[mt][nt][2] = s[mt][nt][3] = 0.f; }
        }
#pragma unroll
        for (int ks = 0; ks < Traits::kKSteps; ++ks) {
            u32 qf[Traits::kMTiles][4];
#pragma unroll
            for (int mt = 0; mt < Traits::kMTiles; ++mt) {
                if (Traits::kQInRegs) {
#pragma unroll
                    for (int r = 0; r < 4; ++r) qf[mt][r] = qreg[Traits::kQInRegs ? mt : 0][Traits::kQInRegs ? ks : 0][r];
                } else {
                    const int row = smem_row0 + mt * 16 + (lane % 16);
                    ldmatrix_x4(qf[mt][0], qf[mt][1], qf[mt][2], qf[mt][3], smem_addr(sQ + swizzled(row, ks * 2 + lane / 16)));
                }
            }
#pragma unroll
            for (int nt = 0; nt < Traits::kNTiles; nt += 2) {
                u32 kf[4];
                int key = nt * 8 + (lane % 8) + (lane / 16) * 8;
                int chunk = ks * 2 + (lane / 8) % 2;
                ldmatrix_x4(kf[0], kf[1], kf[2], kf[3], smem_addr(tK + swizzled(key, chunk)));
#pragma unroll
                for (int mt = 0; mt < Traits::kMTiles; ++mt) {
                    T::mma(s[mt][nt], qf[mt], kf);
                    T::mma(s[mt][nt + 1], qf[mt], kf + 2);
                }
            }
        }

        // Masks only where a tile needs them: the last tile (keys past M), the diagonal, a padding mask, a
        // partial tile of the plan (the mask mod). A score mod first changes the scaled scores, as flex does.
        const bool need_mask = n0 + Traits::kBlockN > p.m || (AG_CAUSAL && n0 + Traits::kBlockN - 1 > warp_row0) || p.key_mask || kind == AG_PARTIAL;
        u32 pf[Traits::kMTiles][Traits::kNTiles / 2][4];
#pragma unroll
        for (int mt = 0; mt < Traits::kMTiles; ++mt) {
            const int row_a = warp_row0 + mt * 16 + g;
#ifdef AG_HAS_SCORE_MOD
            apply_score_mod<Traits::kNTiles * 4>(p, &s[mt][0][0], n0, row_a, row_a + 8, b, head, t);
#endif
            if (need_mask) mask_scores<Traits::kNTiles * 4>(p, &s[mt][0][0], n0, row_a, row_a + 8, b, head, t, AG_CAUSAL, kind == AG_PARTIAL);
            softmax_step<Traits::kNTiles * 4, Traits::kDTiles * 4, T>(p, &s[mt][0][0], &acc[mt][0][0], st[mt], pf[mt]);
        }

        // O += P V: k runs over the tile's keys in steps of 16, n over the head dim in pairs of 8.
#pragma unroll
        for (int ks = 0; ks < Traits::kNTiles / 2; ++ks) {
#pragma unroll
            for (int dt = 0; dt < Traits::kDTiles; dt += 2) {
                u32 vf[4];
                int key = ks * 16 + (lane % 8) + ((lane / 8) % 2) * 8;
                int chunk = dt + lane / 16;
                ldmatrix_x4_trans(vf[0], vf[1], vf[2], vf[3], smem_addr(tV + swizzled(key, chunk)));
#pragma unroll
                for (int mt = 0; mt < Traits::kMTiles; ++mt) {
                    T::mma(acc[mt][dt], pf[mt][ks], vf);
                    T::mma(acc[mt][dt + 1], pf[mt][ks], vf + 2);
                }
            }
        }

        cp_async_wait_all();
        __syncthreads();
        j = next;
    }

#pragma unroll
    for (int mt = 0; mt < Traits::kMTiles; ++mt) {
        const int row_a = warp_row0 + mt * 16 + g;
        write_rows<Traits::kRealChunks * 4, T>(p, &acc[mt][0][0], st[mt], row_a, row_a + 8, b, head, t);   // the real columns only
    }
}

extern "C" __global__ void __launch_bounds__(Traits::kThreads) ag_flash_fwd_bf16(const FlashParams p) { flash_fwd<BF16>(p); }
extern "C" __global__ void __launch_bounds__(Traits::kThreads) ag_flash_fwd_fp16(const FlashParams p) { flash_fwd<FP16>(p); }
// Segmented launches (ag_segment_view): dilated, strided and plain windows that are not whole tiles.
extern "C" __global__ void __launch_bounds__(Traits::kThreads) ag_flash_fwd_bf16_segments(const FlashParams p) { flash_fwd<BF16>(ag_segment_view(p, blockIdx.z, blockIdx.y)); }
extern "C" __global__ void __launch_bounds__(Traits::kThreads) ag_flash_fwd_fp16_segments(const FlashParams p) { flash_fwd<FP16>(ag_segment_view(p, blockIdx.z, blockIdx.y)); }
