// FlashAttention-2 forward for AttentionGen, compiled by NVRTC at first use.
// The runtime prepends a specialization header that defines AG_HEAD_DIM and AG_CAUSAL (and, later,
// translated mask/score functions). No includes: bf16/fp16 are handled as raw 16-bit values through PTX.
//
// One CTA = 4 warps of one (batch, head); each warp owns kMTiles blocks of 16 query rows and keeps its O
// accumulator in registers. Every K/V fragment read from shared memory feeds kMTiles MMAs, so with two
// row blocks per warp the shared-memory traffic per FLOP halves (the limit of mma.sync kernels). Q stays in
// registers where it fits (head dim <= 64) and is re-read from shared memory otherwise. K/V tiles of 64 keys
// stream through shared memory, double-buffered with cp.async. S = Q K^T and O += P V run on
// mma.sync.m16n8k16 with fp32 accumulation; the softmax is online, in the exp2 domain, per row.
// Fully masked rows give O = 0 and LSE = -inf.

#ifndef AG_HEAD_DIM
#error "the specialization header must define AG_HEAD_DIM"
#endif
#ifndef AG_CAUSAL
#define AG_CAUSAL 0
#endif

#define AG_NEG_INF (-__int_as_float(0x7f800000))

typedef unsigned short u16;
typedef unsigned int u32;
typedef long long i64;

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
    // XOR-swizzle inside aligned groups of chunks: the largest power of two (at most 8) dividing kChunks.
    static constexpr int kSwizzleGroup = (kChunks % 8 == 0) ? 8 : (kChunks % 4 == 0) ? 4 : (kChunks % 2 == 0) ? 2 : 1;
    static constexpr int kSwizzleMask = kSwizzleGroup - 1;
    static constexpr int kKSteps = kHeadDim / 16;   // k-steps of S = Q K^T
    static constexpr int kNTiles = kBlockN / 8;     // n-tiles of S
    static constexpr int kDTiles = kHeadDim / 8;    // n-tiles of O
    static constexpr int kTileElems = kBlockN * kHeadDim;
    static constexpr int kSmemElems = kBlockM * kHeadDim + 4 * kTileElems;  // Q + 2 stages of K and V
};
static_assert(AG_HEAD_DIM % 16 == 0 && AG_HEAD_DIM <= 256, "head dim must be a multiple of 16, at most 256");

struct FlashParams {
    const u16* q; const u16* k; const u16* v; u16* o;
    float* lse;                       // [B, Hq, N] or null
    const unsigned char* key_mask;    // [B, M] (1 = keep) or null
    i64 q_batch, q_head, q_row;
    i64 k_batch, k_head, k_row;
    i64 v_batch, v_head, v_row;
    i64 o_batch, o_head, o_row;
    i64 lse_batch, lse_head;
    i64 mask_batch, mask_row;
    int batch, q_heads, kv_heads, n, m;
    float scale_log2;                 // softmax scale * log2(e)
};

// ---- PTX wrappers ----
__device__ __forceinline__ u32 smem_addr(const void* p) {
    u32 r;
    asm("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(r) : "l"(p));
    return r;
}
__device__ __forceinline__ void cp_async16(u32 dst, const void* src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" :: "r"(dst), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::); }
__device__ __forceinline__ void ldmatrix_x4(u32& r0, u32& r1, u32& r2, u32& r3, u32 addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(u32& r0, u32& r1, u32& r2, u32& r3, u32 addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(addr));
}
__device__ __forceinline__ float fast_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

// The element type: mma and conversions differ between bf16 and fp16.
struct BF16 {
    __device__ __forceinline__ static void mma(float* d, const u32* a, const u32* b) {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
    __device__ __forceinline__ static u32 pack(float lo, float hi) {
        u32 r;
        asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
        return r;
    }
};
struct FP16 {
    __device__ __forceinline__ static void mma(float* d, const u32* a, const u32* b) {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
    __device__ __forceinline__ static u32 pack(float lo, float hi) {
        u32 r;
        asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
        return r;
    }
};

// Shared-memory element index of (row, chunk): 16-byte chunks XOR-swizzled by row, so the 8 rows an
// ldmatrix reads fall in 8 different bank groups.
__device__ __forceinline__ int swizzled(int row, int chunk) {
    return (row * Traits::kChunks + (chunk ^ (row & Traits::kSwizzleMask))) * 8;
}

// Copies rows [row0, row0 + rows) of a [*, kHeadDim] operand into shared memory; rows >= limit are zero-filled.
__device__ __forceinline__ void load_tile(u16* smem, const u16* base, i64 row_stride, int row0, int rows, int limit, int tid) {
    for (int idx = tid; idx < rows * Traits::kChunks; idx += Traits::kThreads) {
        int r = idx / Traits::kChunks, c = idx % Traits::kChunks;
        bool valid = row0 + r < limit;
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
    // Heaviest query blocks first under a causal mask.
    const int m_block = AG_CAUSAL ? gridDim.x - 1 - blockIdx.x : blockIdx.x;
    const int head = blockIdx.y, b = blockIdx.z;
    const int kv_head = head / (p.q_heads / p.kv_heads);
    const int q0 = m_block * Traits::kBlockM;

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
    __syncthreads();

    const int warp_row0 = warp * 16 * Traits::kMTiles;

    // Q fragments of this warp's rows, ldmatrix'ed from shared memory (kept in registers when they fit).
    u32 qreg[Traits::kQInRegs ? Traits::kMTiles : 1][Traits::kQInRegs ? Traits::kKSteps : 1][4];
    if (Traits::kQInRegs) {
#pragma unroll
        for (int mt = 0; mt < Traits::kMTiles; ++mt) {
#pragma unroll
            for (int ks = 0; ks < Traits::kKSteps; ++ks) {
                const int row = warp_row0 + mt * 16 + (lane % 16);
                u32* f = qreg[Traits::kQInRegs ? mt : 0][Traits::kQInRegs ? ks : 0];
                ldmatrix_x4(f[0], f[1], f[2], f[3], smem_addr(sQ + swizzled(row, ks * 2 + lane / 16)));
            }
        }
    }

    float acc[Traits::kMTiles][Traits::kDTiles][4];
#pragma unroll
    for (int mt = 0; mt < Traits::kMTiles; ++mt) {
#pragma unroll
        for (int d = 0; d < Traits::kDTiles; ++d) { acc[mt][d][0] = acc[mt][d][1] = acc[mt][d][2] = acc[mt][d][3] = 0.f; }
    }
    float row_max[Traits::kMTiles][2], row_sum[Traits::kMTiles][2];   // rows g and g + 8 of each block
#pragma unroll
    for (int mt = 0; mt < Traits::kMTiles; ++mt) { row_max[mt][0] = row_max[mt][1] = AG_NEG_INF; row_sum[mt][0] = row_sum[mt][1] = 0.f; }

    for (int j = 0; j < n_tiles; ++j) {
        const int stage = j & 1;
        const int n0 = j * Traits::kBlockN;
        if (j + 1 < n_tiles) {
            load_tile(sK + (stage ^ 1) * Traits::kTileElems, k, p.k_row, n0 + Traits::kBlockN, Traits::kBlockN, p.m, tid);
            load_tile(sV + (stage ^ 1) * Traits::kTileElems, v, p.v_row, n0 + Traits::kBlockN, Traits::kBlockN, p.m, tid);
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
                    const int row = warp_row0 + mt * 16 + (lane % 16);
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

        // Masks: keys past M, keys after the query (causal), keys the padding mask drops.
        const bool need_bounds = n0 + Traits::kBlockN > p.m;
        const bool need_causal = AG_CAUSAL && n0 + Traits::kBlockN - 1 > q0 + warp_row0;
        const unsigned char* mask_row = p.key_mask ? p.key_mask + b * p.mask_batch : 0;
        if (need_bounds || need_causal || mask_row) {
#pragma unroll
            for (int mt = 0; mt < Traits::kMTiles; ++mt) {
#pragma unroll
                for (int nt = 0; nt < Traits::kNTiles; ++nt) {
#pragma unroll
                    for (int e = 0; e < 4; ++e) {
                        int col = n0 + nt * 8 + 2 * t + (e & 1);
                        int row = q0 + warp_row0 + mt * 16 + g + (e < 2 ? 0 : 8);
                        bool keep = col < p.m && (!AG_CAUSAL || col <= row) && (!mask_row || mask_row[col * p.mask_row]);
                        if (!keep) s[mt][nt][e] = AG_NEG_INF;
                    }
                }
            }
        }

        // Online softmax per row block, then P = exp2(S * scale - max) packed into A fragments of O += P V.
        u32 pf[Traits::kMTiles][Traits::kNTiles / 2][4];
#pragma unroll
        for (int mt = 0; mt < Traits::kMTiles; ++mt) {
            float new_max[2] = {row_max[mt][0], row_max[mt][1]};
#pragma unroll
            for (int nt = 0; nt < Traits::kNTiles; ++nt) {
                new_max[0] = fmaxf(new_max[0], fmaxf(s[mt][nt][0], s[mt][nt][1]) * p.scale_log2);
                new_max[1] = fmaxf(new_max[1], fmaxf(s[mt][nt][2], s[mt][nt][3]) * p.scale_log2);
            }
#pragma unroll
            for (int r = 0; r < 2; ++r) {
                new_max[r] = fmaxf(new_max[r], __shfl_xor_sync(0xffffffff, new_max[r], 1));
                new_max[r] = fmaxf(new_max[r], __shfl_xor_sync(0xffffffff, new_max[r], 2));
            }
            // Rescale O only when some row's maximum grew by more than 8 (a factor 256): until then the stale
            // maximum keeps every p <= 256, and the final division by the row sum makes the result exact.
            const bool grow = new_max[0] > row_max[mt][0] + 8.f || new_max[1] > row_max[mt][1] + 8.f;
            if (__any_sync(0xffffffff, grow)) {
                float correction[2];
#pragma unroll
                for (int r = 0; r < 2; ++r) {
                    // A row with nothing allowed so far keeps max -inf; subtracting 0 keeps every exp2 at 0.
                    correction[r] = fast_exp2(row_max[mt][r] - (new_max[r] == AG_NEG_INF ? 0.f : new_max[r]));
                    row_max[mt][r] = new_max[r];
                    row_sum[mt][r] *= correction[r];
                }
#pragma unroll
                for (int d = 0; d < Traits::kDTiles; ++d) {
                    acc[mt][d][0] *= correction[0]; acc[mt][d][1] *= correction[0];
                    acc[mt][d][2] *= correction[1]; acc[mt][d][3] *= correction[1];
                }
            }
            float base[2];
#pragma unroll
            for (int r = 0; r < 2; ++r) { base[r] = row_max[mt][r] == AG_NEG_INF ? 0.f : row_max[mt][r]; }
#pragma unroll
            for (int nt = 0; nt < Traits::kNTiles; ++nt) {
                float p0 = fast_exp2(s[mt][nt][0] * p.scale_log2 - base[0]);
                float p1 = fast_exp2(s[mt][nt][1] * p.scale_log2 - base[0]);
                float p2 = fast_exp2(s[mt][nt][2] * p.scale_log2 - base[1]);
                float p3 = fast_exp2(s[mt][nt][3] * p.scale_log2 - base[1]);
                row_sum[mt][0] += p0 + p1;
                row_sum[mt][1] += p2 + p3;
                pf[mt][nt / 2][(nt % 2) * 2 + 0] = T::pack(p0, p1);
                pf[mt][nt / 2][(nt % 2) * 2 + 1] = T::pack(p2, p3);
            }
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
    }

    // Row sums are per thread; complete them across the quad, normalize and write.
    u16* o = p.o + b * p.o_batch + head * p.o_head;
    float* lse = p.lse ? p.lse + b * p.lse_batch + head * p.lse_head : 0;
    const float ln2 = 0.6931471805599453f;
#pragma unroll
    for (int mt = 0; mt < Traits::kMTiles; ++mt) {
        float inv[2];
        int rows[2];
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            row_sum[mt][r] += __shfl_xor_sync(0xffffffff, row_sum[mt][r], 1);
            row_sum[mt][r] += __shfl_xor_sync(0xffffffff, row_sum[mt][r], 2);
            inv[r] = row_sum[mt][r] > 0.f ? 1.f / row_sum[mt][r] : 0.f;
            rows[r] = q0 + warp_row0 + mt * 16 + g + 8 * r;
        }
#pragma unroll
        for (int dt = 0; dt < Traits::kDTiles; ++dt) {
            int col = dt * 8 + 2 * t;
            if (rows[0] < p.n) *(u32*)(o + (i64)rows[0] * p.o_row + col) = T::pack(acc[mt][dt][0] * inv[0], acc[mt][dt][1] * inv[0]);
            if (rows[1] < p.n) *(u32*)(o + (i64)rows[1] * p.o_row + col) = T::pack(acc[mt][dt][2] * inv[1], acc[mt][dt][3] * inv[1]);
        }
        if (lse && t == 0) {
#pragma unroll
            for (int r = 0; r < 2; ++r) {
                if (rows[r] < p.n) lse[rows[r]] = row_sum[mt][r] > 0.f ? (row_max[mt][r] + __log2f(row_sum[mt][r])) * ln2 : AG_NEG_INF;
            }
        }
    }
}

extern "C" __global__ void __launch_bounds__(Traits::kThreads) ag_flash_fwd_bf16(const FlashParams p) { flash_fwd<BF16>(p); }
extern "C" __global__ void __launch_bounds__(Traits::kThreads) ag_flash_fwd_fp16(const FlashParams p) { flash_fwd<FP16>(p); }
