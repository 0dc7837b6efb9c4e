// Decode over a KV cache (DecodeAttention on a GPU): a few new queries per sequence against the keys and values the
// cache holds, contiguous or paged. Bound by reading the cache once, so each CTA streams one (sequence, kv head, key
// range) and serves every query row of that kv head's group from the same K/V tile (GQA: the group's query heads read
// K/V once). Long caches are split into key ranges run side by side (flash-decoding); ag_decode_combine merges the
// ranges' partial rows by their log-sum-exps. Storage is bf16 or fp16, or fp8 e4m3 codes with a key and a value scale
// per kv head (the scalar kernel's _fp8 entry); arithmetic float32, exp2-based.
#include "half_bits.inc"
#include "fp8_e4m3.inc"

#define AG_DECODE_THREADS 128
#define AG_DECODE_ROWS 16          // query rows (group heads x new queries) one CTA serves
#define AG_DECODE_TILE 64          // keys per shared-memory tile
#define AG_DECODE_PAD 8            // halves of padding per smem row: consecutive rows start 4 banks apart
#define AG_LOG2E 1.4426950408889634f

// A [Flex] layer's header (its translated mods and closed-form plan) comes before this source; decode applies the mods at
// absolute positions. A plan given as boxes without a mod is the mask itself: the box test of flash_common.inc's
// ag_mask_mod, kept apart so that the prebuilt flash images keep their sources.
#if defined(AG_MASK_TABLE_MOD)
#define AG_DECODE_MASK(p, b, h, q, kv) AG_MASK_TABLE_MOD(p, b, h, q, kv)
#elif defined(AG_HAS_MASK_MOD)
#define AG_DECODE_MASK(p, b, h, q, kv) ag_mask_mod(b, h, q, kv)
#elif defined(AG_BOX_COUNT)
struct ag_box { i64 dlo, dhi, klo, khi, qlo, qhi; };
__device__ __forceinline__ bool ag_decode_boxes(int q, int kv) {
    const ag_box boxes[AG_BOX_COUNT] = AG_BOXES;
    const i64 d = (i64)kv - q;
#pragma unroll
    for (int i = 0; i < AG_BOX_COUNT; ++i) {
        const ag_box& x = boxes[i];
        if (q >= x.qlo && q <= x.qhi && kv >= x.klo && kv <= x.khi && d >= x.dlo && d <= x.dhi) return true;
    }
    return false;
}
#define AG_DECODE_MASK(p, b, h, q, kv) ag_decode_boxes(q, kv)
#endif
#if defined(AG_SCORE_TABLE_MOD)
#define AG_DECODE_SCORE(p, s, b, h, q, kv) AG_SCORE_TABLE_MOD(p, s, b, h, q, kv)
#elif defined(AG_HAS_SCORE_MOD)
#define AG_DECODE_SCORE(p, s, b, h, q, kv) ag_score_mod(s, b, h, q, kv)
#endif

// Mirrored by DecodeParams in DecodeCuda.cs.
struct DecodeParams {
    const u16* q;                  // [B, Hq, Tq, E]
    const u16* k; const u16* v;    // blocks [blocks, Hkv, block_tokens, E] / [.., Ev]: the contiguous cache is block b = sequence b
    const int* lengths;            // [B] tokens held per sequence
    const int* block_table;        // [B, blocks_per_seq] physical block of each logical block, or null (contiguous)
    u16* out;                      // [B, Hq, Tq, Ev], written when splits == 1
    float* lse;                    // [B, Hq, Tq], written when splits == 1
    float* part_out;               // [B, Hq, Tq, splits, Ev] partial rows (normalized) when splits > 1
    float* part_lse;               // [B, Hq, Tq, splits]
    int batch, q_heads, kv_heads, queries, e, ev;
    int block_tokens, blocks_per_seq, split_tokens, splits, causal, is_fp16;
    float scale;                   // the softmax scale
    const float* table;            // what a [Flex] layer's mods read (their capture), or null
    int table_i0, table_i1, table_i2, table_i3;
    const float* k_scales;         // [Hkv] an fp8 cache's key scales (the scores are multiplied by them), else null
    const float* v_scales;         // [Hkv] its value scales (the output rows are multiplied by them), else null
};

// What the scalar kernel reads a stored K/V element as: bf16/fp16 halves (is_fp16 picks), or fp8 e4m3 codes that are
// widened exactly and scaled per head outside the loops. Rows are copied and read 16 bytes (one chunk) at a time.
template <bool kFp8> struct ag_kv_storage;
template <> struct ag_kv_storage<false> {
    typedef u16 code;
    static constexpr int kChunkShift = 3;   // 8 halves a chunk
    static __device__ __forceinline__ float load(u32 c, int is_fp16) { return ag_half_load((u16)c, is_fp16); }
    static __device__ __forceinline__ u32 at(const u32* words, int c) { return words[c >> 1] >> ((c & 1) * 16); }
};
template <> struct ag_kv_storage<true> {
    typedef u8 code;
    static constexpr int kChunkShift = 4;   // 16 codes a chunk
    static __device__ __forceinline__ float load(u32 c, int) { return ag_fp8_e4m3_load(c & 0xffu); }
    static __device__ __forceinline__ u32 at(const u32* words, int c) { return words[c >> 2] >> ((c & 3) * 8); }
};

template <typename T>
__device__ __forceinline__ const T* ag_kv_row(const DecodeParams& p, const T* base, int b, int g, int t, int width) {
    const int logical = t / p.block_tokens, within = t - logical * p.block_tokens;
    const long long block = p.block_table ? p.block_table[(long long)b * p.blocks_per_seq + logical] : b;
    return base + ((block * p.kv_heads + g) * (long long)p.block_tokens + within) * width;
}

// Row `row` of kv head g's group is query head g * group + row / Tq, new query row % Tq: its index in q, O and the LSE
// ([B, Hq, Tq] rows); the query sits at position length - Tq + row % Tq of its sequence.
__device__ __forceinline__ long long ag_query_row(const DecodeParams& p, int b, int g, int group, int row) {
    return ((long long)b * p.q_heads + g * group + row / p.queries) * p.queries + row % p.queries;
}

// A scaled score of query row at `position` (query head `head`) for key t, in log2 units, or -inf when the key is not
// allowed: outside the range, after the row's position (causal), or refused by the layer's mask; then its score mod.
__device__ __forceinline__ float ag_decode_log2_score(const DecodeParams& p, float score, bool in_range, int b, int head, int position, int t) {
    bool allowed = in_range && (!p.causal || t <= position);
#ifdef AG_DECODE_MASK
    if (allowed) allowed = AG_DECODE_MASK(p, b, head, position, t);
#endif
#ifdef AG_DECODE_SCORE
    if (allowed) score = AG_DECODE_SCORE(p, score, b, head, position, t);
#endif
    return allowed ? score * AG_LOG2E : -__int_as_float(0x7f800000);
}

// Element d of row `out_row` from this split: O / sum (a NaN sum stays NaN), into O when the keys were not split, else
// into the split's partial row. A row without probability (sum 0) is 0 in O; a partial row keeps O itself, which is 0,
// or NaN where a key of probability 0 (scored -inf, or masked) met a NaN or infinite value (0 · NaN): ag_decode_combine
// adds it times 0, so that NaN reaches the merged row as it does in one pass.
__device__ __forceinline__ void ag_store_value(const DecodeParams& p, long long out_row, int split, int d, float acc, float sum) {
    const bool weighed = sum > 0.f || sum != sum;
    if (p.splits == 1) p.out[out_row * p.ev + d] = ag_half_store(weighed ? acc / sum : 0.f, p.is_fp16);
    else p.part_out[(out_row * p.splits + split) * p.ev + d] = weighed ? acc / sum : acc;
}

// The natural-log LSE of row `out_row` from its running max (log2 units) and sum; -inf for a row with no key.
__device__ __forceinline__ void ag_store_lse(const DecodeParams& p, long long out_row, int split, float max_log2, float sum) {
    const float lse = sum > 0.f || sum != sum ? (max_log2 + log2f(sum)) / AG_LOG2E : -__int_as_float(0x7f800000);
    if (p.splits == 1) p.lse[out_row] = lse;
    else p.part_lse[out_row * p.splits + split] = lse;
}

// Copies `count` rows of `width` elements from the cache into smem rows of width + one chunk of padding (rows 4 banks
// apart); rows past `count` are zero.
template <class S>
__device__ __forceinline__ void ag_load_tile(const DecodeParams& p, const typename S::code* base, typename S::code* tile, int b, int g, int first, int count, int width) {
    constexpr int kChunk = 1 << S::kChunkShift;
    const int stride = width + kChunk;
    if ((width & (kChunk - 1)) == 0) {
        const int chunks = width >> S::kChunkShift;   // 16-byte chunks per row
        for (int i = threadIdx.x; i < AG_DECODE_TILE * chunks; i += AG_DECODE_THREADS) {
            const int j = i / chunks, c = i - j * chunks;
            uint4 value = make_uint4(0, 0, 0, 0);
            if (j < count) value = *reinterpret_cast<const uint4*>(ag_kv_row(p, base, b, g, first + j, width) + c * kChunk);
            *reinterpret_cast<uint4*>(tile + j * stride + c * kChunk) = value;
        }
    } else {
        for (int i = threadIdx.x; i < AG_DECODE_TILE * width; i += AG_DECODE_THREADS) {
            const int j = i / width, d = i - j * width;
            tile[j * stride + d] = j < count ? ag_kv_row(p, base, b, g, first + j, width)[d] : (typename S::code)0;
        }
    }
}

// The scalar kernel over storage kFp8 (ag_kv_storage). An fp8 cache's key scale joins the softmax scale on q and its
// value scale multiplies the normalized rows, so the loops read the codes' exact values; the CPU multiplies each element
// by its scale instead, which differs by float32 rounding only.
template <bool kFp8>
__device__ __forceinline__ void ag_decode_split_body(const DecodeParams& p) {
    typedef ag_kv_storage<kFp8> S;
    typedef typename S::code code;
    constexpr int kChunk = 1 << S::kChunkShift;
    extern __shared__ __align__(16) unsigned char smem[];
    const int split = blockIdx.y, b = blockIdx.x / p.kv_heads, g = blockIdx.x - b * p.kv_heads;
    const int group = p.q_heads / p.kv_heads, rows_total = group * p.queries;
    const int row0 = blockIdx.z * AG_DECODE_ROWS, rows = min(AG_DECODE_ROWS, rows_total - row0);
    const int kstride = p.e + kChunk, vstride = p.ev + kChunk;
    float q_scale = p.scale, v_scale = 1.f;
    if constexpr (kFp8) {
        q_scale *= p.k_scales[g];
        v_scale = p.v_scales[g];
    }
    const code* k_rows = reinterpret_cast<const code*>(p.k);
    const code* v_rows = reinterpret_cast<const code*>(p.v);
    float* qs = reinterpret_cast<float*>(smem);                                   // [ROWS][E], scaled
    code* ks = reinterpret_cast<code*>(qs + AG_DECODE_ROWS * p.e);                // [TILE][E + chunk]
    code* vs = ks + AG_DECODE_TILE * kstride;                                     // [TILE][Ev + chunk]
    float* scores = reinterpret_cast<float*>(vs + AG_DECODE_TILE * vstride);       // [ROWS][TILE]
    float* row_max = scores + AG_DECODE_ROWS * AG_DECODE_TILE;                    // [ROWS] running max (log2 units)
    float* row_sum = row_max + AG_DECODE_ROWS;                                    // [ROWS]
    float* row_alpha = row_sum + AG_DECODE_ROWS;                                  // [ROWS] this tile's rescale

    const int length = p.lengths[b];
    const int from = split * p.split_tokens, to = min(length, from + p.split_tokens);
    for (int i = threadIdx.x; i < AG_DECODE_ROWS * p.e; i += AG_DECODE_THREADS) {
        const int r = i / p.e, d = i - r * p.e, row = row0 + r;
        float x = 0.f;
        if (r < rows) x = ag_half_load(p.q[ag_query_row(p, b, g, group, row) * p.e + d], p.is_fp16) * q_scale;
        qs[i] = x;
    }
    if (threadIdx.x < AG_DECODE_ROWS) {
        row_max[threadIdx.x] = -__int_as_float(0x7f800000);
        row_sum[threadIdx.x] = 0.f;
    }

    // Each thread accumulates output dims threadIdx.x and threadIdx.x + 128 (Ev <= 256) of every row.
    float acc[AG_DECODE_ROWS][2];
#pragma unroll
    for (int r = 0; r < AG_DECODE_ROWS; ++r) acc[r][0] = acc[r][1] = 0.f;

    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    for (int first = from; first < to; first += AG_DECODE_TILE) {
        const int count = min(AG_DECODE_TILE, to - first);
        __syncthreads();   // the previous tile's readers are done
        ag_load_tile<S>(p, k_rows, ks, b, g, first, count, p.e);
        ag_load_tile<S>(p, v_rows, vs, b, g, first, count, p.ev);
        __syncthreads();

        // Scores: thread (key j = tid % 64, row parity tid / 64) over its rows; each key element is read once (16-byte
        // smem loads when E allows: 8 threads a phase, rows 4 banks apart) and q is broadcast from smem.
        {
            const int j = threadIdx.x % AG_DECODE_TILE, parity = threadIdx.x / AG_DECODE_TILE;
            constexpr int step = AG_DECODE_THREADS / AG_DECODE_TILE, mine = AG_DECODE_ROWS / step;
            const code* key = ks + j * kstride;
            float s[mine];
#pragma unroll
            for (int i = 0; i < mine; ++i) s[i] = 0.f;
            if ((p.e & (kChunk - 1)) == 0) {
                for (int d = 0; d < p.e; d += kChunk) {
                    const uint4 packed = *reinterpret_cast<const uint4*>(key + d);
                    const u32 words[4] = {packed.x, packed.y, packed.z, packed.w};
#pragma unroll
                    for (int c = 0; c < kChunk; ++c) {
                        const float kd = S::load(S::at(words, c), p.is_fp16);
#pragma unroll
                        for (int i = 0; i < mine; ++i) {
                            const int r = parity + i * step;
                            if (r < rows) s[i] = fmaf(qs[r * p.e + d + c], kd, s[i]);
                        }
                    }
                }
            } else {
                for (int d = 0; d < p.e; ++d) {
                    const float kd = S::load(key[d], p.is_fp16);
#pragma unroll
                    for (int i = 0; i < mine; ++i) {
                        const int r = parity + i * step;
                        if (r < rows) s[i] = fmaf(qs[r * p.e + d], kd, s[i]);
                    }
                }
            }
#pragma unroll
            for (int i = 0; i < mine; ++i) {
                const int r = parity + i * step;
                if (r >= rows) continue;
                const int row = row0 + r, position = length - p.queries + row % p.queries;
                scores[r * AG_DECODE_TILE + j] = ag_decode_log2_score(p, s[i], j < count, b, g * group + row / p.queries, position, first + j);
            }
        }
        __syncthreads();

        // Online softmax per row: a warp per row, two keys per lane.
        for (int r = warp; r < rows; r += AG_DECODE_THREADS / 32) {
            float* sr = scores + r * AG_DECODE_TILE;
            const float s0 = sr[lane], s1 = sr[lane + 32];
            float tile_max = fmaxf(s0, s1);
            for (int o = 16; o > 0; o >>= 1) tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, o));
            // A NaN score is no maximum (fmaxf drops it) but reaches the row through its exp below, as in PyTorch.
            const float old_max = row_max[r], new_max = fmaxf(old_max, tile_max);
            // With no finite score yet a NaN score still reaches the row (every score NaN: a NaN query).
            const bool empty = new_max == -__int_as_float(0x7f800000);
            const float p0 = empty ? (s0 != s0 ? s0 : 0.f) : exp2f(s0 - new_max), p1 = empty ? (s1 != s1 ? s1 : 0.f) : exp2f(s1 - new_max);
            float tile_sum = p0 + p1;
            for (int o = 16; o > 0; o >>= 1) tile_sum += __shfl_xor_sync(0xffffffffu, tile_sum, o);
            sr[lane] = p0;
            sr[lane + 32] = p1;
            if (lane == 0) {
                const float alpha = empty ? 1.f : exp2f(old_max - new_max);
                row_alpha[r] = alpha;
                row_sum[r] = row_sum[r] * alpha + tile_sum;
                row_max[r] = new_max;
            }
        }
        __syncthreads();

        // O = alpha O + P V: each thread its dims of every row, P broadcast, V rows read across the threads' dims.
#pragma unroll
        for (int half = 0; half < 2; ++half) {
            const int d = threadIdx.x + half * AG_DECODE_THREADS;
            if (d >= p.ev) continue;
#pragma unroll
            for (int r = 0; r < AG_DECODE_ROWS; ++r) {
                if (r < rows) acc[r][half] *= row_alpha[r];
            }
            for (int j = 0; j < count; ++j) {
                const float value = S::load(vs[j * vstride + d], p.is_fp16);
#pragma unroll
                for (int r = 0; r < AG_DECODE_ROWS; ++r) {
                    if (r < rows) acc[r][half] = fmaf(scores[r * AG_DECODE_TILE + j], value, acc[r][half]);
                }
            }
        }
    }
    __syncthreads();

    // Normalized rows and their LSE (natural log); a row with no key is 0 with LSE -inf.
#pragma unroll
    for (int half = 0; half < 2; ++half) {
        const int d = threadIdx.x + half * AG_DECODE_THREADS;
        if (d >= p.ev) continue;
#pragma unroll
        for (int r = 0; r < AG_DECODE_ROWS; ++r) {
            if (r >= rows) continue;
            ag_store_value(p, ag_query_row(p, b, g, group, row0 + r), split, d, kFp8 ? acc[r][half] * v_scale : acc[r][half], row_sum[r]);
        }
    }
    if (threadIdx.x < rows) {
        ag_store_lse(p, ag_query_row(p, b, g, group, row0 + threadIdx.x), split, row_max[threadIdx.x], row_sum[threadIdx.x]);
    }
}

// grid (B * Hkv, splits, row chunks of AG_DECODE_ROWS); dynamic smem: q rows, K and V tiles, scores.
extern "C" __global__ void __launch_bounds__(AG_DECODE_THREADS) ag_decode_split(const DecodeParams p) { ag_decode_split_body<false>(p); }

// The same over an fp8 cache (any E and Ev; the tensor-core kernel reads bf16/fp16 only).
extern "C" __global__ void __launch_bounds__(AG_DECODE_THREADS) ag_decode_split_fp8(const DecodeParams p) { ag_decode_split_body<true>(p); }

// ---- The tensor-core path (E and Ev multiples of 16): mma.sync m16n8k16 with fp32 accumulation ----
// A CTA of 4 warps streams its key range in 64-key tiles through a 3-stage cp.async pipeline (the cache is read once,
// with two tiles in flight while one is used; the fp8 entry's 2 stages at E <= 128 keep one, its CTAs being twice as
// many an SM). Each warp owns 16 keys of every tile and keeps its own online softmax and O for the CTA's 16 query rows;
// the warps' partial rows are merged once at the end. The wrappers below are the decode kernel's own: the flash
// templates' text is pinned by the hashes of the shipped images (docs/prebuilt-kernels.md).
#ifndef AG_DECODE_STAGES
#define AG_DECODE_STAGES 3        // a tuning run's header may set 2..4 (DecodeCuda.TunedStages)
#endif
#ifndef AG_DECODE_FP8_STAGES
#define AG_DECODE_FP8_STAGES 2    // the fp8 entry's at E <= 128 (DecodeCuda.DefaultFp8Stages)
#endif
#define AG_DECODE_WARP_KEYS 16

__device__ __forceinline__ u32 ag_smem_addr(const void* ptr) {
    u32 r;
    asm("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(r) : "l"(ptr));
    return r;
}
// 16 bytes from global to shared; src_bytes 0 writes zeros (keys past the range: no garbage reaches P·V). The cache is
// read once: L2 may evict these lines first and fetches 256 bytes a miss (together 1.5-3.7% faster on an H100, session
// 25; asking L2 for tiles ahead of their copies made it up to 1.7x slower).
__device__ __forceinline__ void ag_copy16(u32 dst, const void* src, int src_bytes) {
    unsigned long long policy;
    asm("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(policy));
    asm volatile("cp.async.cg.shared.global.L2::cache_hint.L2::256B [%0], [%1], 16, %2, %3;\n" :: "r"(dst), "l"(src), "r"(src_bytes), "l"(policy));
}
__device__ __forceinline__ void ag_copy_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int kPending>
__device__ __forceinline__ void ag_copy_wait() { asm volatile("cp.async.wait_group %0;\n" :: "n"(kPending) : "memory"); }
__device__ __forceinline__ void ag_ldsm_x4(u32* r, u32 addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n" : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}
__device__ __forceinline__ void ag_ldsm_x4_trans(u32* r, u32 addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n" : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}
template <bool kFp16>
__device__ __forceinline__ void ag_mma(float* d, const u32* a, const u32* b) {
    if (kFp16)
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]) : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    else
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]) : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
template <bool kFp16>
__device__ __forceinline__ u32 ag_pack2(float lo, float hi) {
    u32 r;
    if (kFp16) asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    else asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}
__device__ __forceinline__ float ag_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

// A paged cache's rows for one tile: thread i (below AG_DECODE_TILE) works out the pool row of key first + i (its
// block from the table, one division) into a register one issue ahead and stores it to shared memory after the current
// tile's compute, so the table's latency and the division hide behind the compute, and a copy's address is one
// shared load and a multiply (per-row divisions and table loads in the copies made paged decode half as fast as
// contiguous on an H100; per-tile block ids walked by each copy, 0.70-0.77).
__device__ __forceinline__ long long ag_load_tile_row(const DecodeParams& p, int b, int g, int first, int count) {
    if ((int)threadIdx.x >= count) return 0;
    const int t = first + threadIdx.x, logical = t / p.block_tokens;
    const long long block = p.block_table[(long long)b * p.blocks_per_seq + logical];
    return (block * p.kv_heads + g) * p.block_tokens + (t - logical * p.block_tokens);
}

// Row first + j of a tile: from the tile's pool rows `rows` (a paged cache), or the contiguous cache's sequence b.
__device__ __forceinline__ const u16* ag_tile_row(const DecodeParams& p, const u16* base, const long long* rows, int b, int g, int first, int j, int width) {
    if (p.block_table) return base + rows[j] * width;
    return base + (((long long)b * p.kv_heads + g) * p.block_tokens + first + j) * width;
}

// Issues the copies of one tile (keys first .. first + 63 of the range, zeros past `count`) into a stage; `rows` is
// the tile's pool rows in shared memory when the cache is paged. When the threads divide the row's 16-byte chunks
// evenly (E a power of two), a thread always copies the same chunk of every step-th row.
__device__ __forceinline__ void ag_issue_tile(const DecodeParams& p, const u16* base, const long long* rows, u16* tile, int b, int g, int first, int count, int width) {
    const int chunks = width >> 3, stride = width + AG_DECODE_PAD;
    if (AG_DECODE_THREADS % chunks == 0) {
        const int c = threadIdx.x % chunks, step = AG_DECODE_THREADS / chunks;
        for (int j = threadIdx.x / chunks; j < AG_DECODE_TILE; j += step) {
            const u16* src = j < count ? ag_tile_row(p, base, rows, b, g, first, j, width) + c * 8 : base;
            ag_copy16(ag_smem_addr(tile + j * stride + c * 8), src, j < count ? 16 : 0);
        }
        return;
    }
    for (int i = threadIdx.x; i < AG_DECODE_TILE * chunks; i += AG_DECODE_THREADS) {
        const int j = i / chunks, c = i - j * chunks;
        const u16* src = j < count ? ag_tile_row(p, base, rows, b, g, first, j, width) + c * 8 : base;
        ag_copy16(ag_smem_addr(tile + j * stride + c * 8), src, j < count ? 16 : 0);
    }
}

// K and V of a tile whose rows are both kWidth wide: a thread copies the same 16-byte chunk of every kStep-th row of
// both, the V copy at the K copy's offset (the general copies' per-copy row arithmetic, ~25 instructions a copy, took
// most of the loop's issue slots: ncu, session 24). A paged cache's rows come from the tile's pool rows in shared
// memory, a contiguous cache's follow row0 at constant strides. As in CUTLASS's zero-fill copies, a row past `count`
// keeps a valid address and reads 0 bytes.
template <int kWidth>
__device__ __forceinline__ void ag_issue_fixed_tile(const DecodeParams& p, const long long* rows, long long row0, u32 k_tile, int count) {
    constexpr int kChunks = kWidth / 8, kStep = AG_DECODE_THREADS / kChunks, kStride = kWidth + AG_DECODE_PAD;
    static_assert(AG_DECODE_THREADS % kChunks == 0, "every thread copies one chunk column");
    constexpr u32 kValueTile = 2 * AG_DECODE_TILE * kStride;   // bytes from the K tile to the V tile
    const int j0 = threadIdx.x / kChunks, c = threadIdx.x % kChunks;
    const u32 dst = k_tile + 2 * (j0 * kStride + c * 8);
    if (rows) {
#pragma unroll
        for (int i = 0; i < AG_DECODE_TILE / kStep; ++i) {
            const int j = j0 + i * kStep, bytes = j < count ? 16 : 0;
            const long long offset = rows[j] * kWidth + c * 8;
            ag_copy16(dst + 2 * i * kStep * kStride, p.k + offset, bytes);
            ag_copy16(dst + kValueTile + 2 * i * kStep * kStride, p.v + offset, bytes);
        }
        return;
    }
    const long long offset = (row0 + j0) * kWidth + c * 8;
    const u16 *k_src = p.k + offset, *v_src = p.v + offset;
#pragma unroll
    for (int i = 0; i < AG_DECODE_TILE / kStep; ++i) {
        const int bytes = j0 + i * kStep < count ? 16 : 0;
        ag_copy16(dst + 2 * i * kStep * kStride, k_src + i * kStep * kWidth, bytes);
        ag_copy16(dst + kValueTile + 2 * i * kStep * kStride, v_src + i * kStep * kWidth, bytes);
    }
}

// Issues tile keys first .. first + 63 (zeros past `count`) of K and V into a stage; `rows` is the tile's pool rows in
// shared memory when the cache is paged. Rows E = Ev = kEv wide take the fixed-stride copies, others the general ones.
// An fp8 cache's rows (kFp8) are copied as 2-byte units of half their width: a row of E codes padded by 16 bytes.
template <int kEv, bool kFp8>
__device__ __forceinline__ void ag_issue_kv(const DecodeParams& p, const long long* rows, u16* stage, int b, int g, int first, int count) {
    constexpr int kUnits = kFp8 ? 2 : 1;   // codes per 2-byte unit
    if (p.e == kEv && p.ev == kEv) {
        const long long row0 = ((long long)b * p.kv_heads + g) * p.block_tokens + first;
        ag_issue_fixed_tile<kEv / kUnits>(p, p.block_table ? rows : nullptr, row0, ag_smem_addr(stage), count);
        return;
    }
    ag_issue_tile(p, p.k, rows, stage, b, g, first, count, p.e / kUnits);
    ag_issue_tile(p, p.v, rows, stage + AG_DECODE_TILE * (p.e / kUnits + AG_DECODE_PAD), b, g, first, count, p.ev / kUnits);
}

// Four e4m3 codes (the first in the lowest byte) as two f16 pairs, exactly: every e4m3 value is an f16 value.
__device__ __forceinline__ void ag_fp8x4_to_f16(u32 codes, u32& low, u32& high) {
#if __CUDA_ARCH__ >= 900   // (PTX 7.8 has it for sm_90 only; sm_89 from PTX 8.1)
    asm("{ .reg .b16 l, h; mov.b32 {l, h}, %2; cvt.rn.f16x2.e4m3x2 %0, l; cvt.rn.f16x2.e4m3x2 %1, h; }" : "=r"(low), "=r"(high) : "r"(codes));
#else
    // Through float32 (exact both ways).
    low = ag_pack2<true>(ag_fp8_e4m3_load(codes & 0xffu), ag_fp8_e4m3_load((codes >> 8) & 0xffu));
    high = ag_pack2<true>(ag_fp8_e4m3_load((codes >> 16) & 0xffu), ag_fp8_e4m3_load(codes >> 24));
#endif
}

// The column of q's shared-memory row that holds dim d under an fp8 cache: QK's B fragments are read straight from the
// key codes, a lane (column t4 of its quad) holding dims [t4 E/4, (t4 + 1) E/4) of its key, 4 a step of 16 dims, which
// the m16n8k16 fragment places at the step's columns 2 t4, 2 t4 + 1, 2 t4 + 8, 2 t4 + 9; q's dims are permuted alike (a
// dot product does not care about the order of its terms).
__device__ __forceinline__ int ag_fp8_query_column(int d, int e) {
    const int quarter = e >> 2, t4 = d / quarter, within = d - t4 * quarter, step = within >> 2, k = within & 3;
    return step * 16 + 2 * t4 + (k & 1) + (k >> 1) * 8;
}

// An fp8 cache's queries as f16 in shared memory (columns permuted by ag_fp8_query_column), scaled by a power of two
// that brings the CTA's largest finite |q| just under 2^15 (bf16 queries can pass f16's 65504; a power of two keeps every
// bit); returns that factor, which the scores divide out. Rows past the CTA's are zeros.
__device__ __forceinline__ float ag_fp8_queries(const DecodeParams& p, u16* qs, int b, int g, int group, int row0, int rows, int kstride, float* scratch) {
    float largest = 0.f;
    for (int i = threadIdx.x; i < rows * p.e; i += AG_DECODE_THREADS) {
        const int r = i / p.e, d = i - r * p.e;
        const float x = fabsf(ag_half_load(p.q[ag_query_row(p, b, g, group, row0 + r) * p.e + d], p.is_fp16));
        if (x != __int_as_float(0x7f800000)) largest = fmaxf(largest, x);   // NaN (fmaxf drops it) and infinities stay as they are
    }
    for (int o = 16; o > 0; o >>= 1) largest = fmaxf(largest, __shfl_xor_sync(0xffffffffu, largest, o));
    if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = largest;
    __syncthreads();
    largest = fmaxf(fmaxf(scratch[0], scratch[1]), fmaxf(scratch[2], scratch[3]));
    int exponent = 0;
    if (largest > 0.f) frexpf(largest, &exponent);   // largest < 2^exponent
    const int shift = min(15 - exponent, 127);
    const float factor = __int_as_float((127 + max(shift, -126)) << 23);
    for (int i = threadIdx.x; i < AG_DECODE_ROWS * p.e; i += AG_DECODE_THREADS) {
        const int r = i / p.e, d = i - r * p.e;
        const float x = r < rows ? ag_half_load(p.q[ag_query_row(p, b, g, group, row0 + r) * p.e + d], p.is_fp16) * factor : 0.f;
        u16 h;
        asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(x));
        qs[r * kstride + ag_fp8_query_column(d, p.e)] = h;
    }
    return factor;
}

// The CTA's rows (r = 16 at most) and keys [from, to) of one (sequence, kv head, split); kEv: Ev rounded up to 64, 128
// or 256 (the O accumulator's registers); kFp16: the MMAs' type. Shared memory: q [16][E + PAD], then the stages' K
// [64][E + PAD] and V [64][Ev + PAD], which the final merge reuses, then two tiles' pool rows [2][64] (a paged cache).
// kFp8 (an fp8 cache, E = Ev = kEv, f16 MMAs): the stages hold codes, rows of E + 16 bytes, which QK and P V read
// straight into their fragments, widened in registers (q's columns and O's dims permuted to match); the key scale joins
// the softmax scale on the scores and the value scale multiplies the output rows, as in the scalar kernel.
template <bool kFp16, int kEv, bool kFp8, int kStages>
__device__ __forceinline__ void ag_decode_mma_body(const DecodeParams& p) {
    static_assert(!kFp8 || kFp16, "an fp8 cache's codes widen to f16");
    extern __shared__ __align__(16) unsigned char mma_smem[];
    const int split = blockIdx.y, b = blockIdx.x / p.kv_heads, g = blockIdx.x - b * p.kv_heads;
    const int group = p.q_heads / p.kv_heads, rows_total = group * p.queries;
    const int row0 = blockIdx.z * AG_DECODE_ROWS, rows = min(AG_DECODE_ROWS, rows_total - row0);
    const int kstride = p.e + AG_DECODE_PAD, vstride = p.ev + AG_DECODE_PAD;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, quad_row = lane >> 2, quad_col = lane & 3;
    u16* qs = reinterpret_cast<u16*>(mma_smem);
    u16* stages = qs + AG_DECODE_ROWS * kstride;
    constexpr int kUnits = kFp8 ? 2 : 1;   // codes per 2-byte unit of a stage
    const int stage_kstride = p.e / kUnits + AG_DECODE_PAD, stage_elems = AG_DECODE_TILE * (stage_kstride + p.ev / kUnits + AG_DECODE_PAD);
    long long* tile_rows = reinterpret_cast<long long*>(stages + kStages * stage_elems);   // [2][TILE]: tile n's in n & 1

    const int length = p.lengths[b];
    const int from = split * p.split_tokens, to = min(length, from + p.split_tokens);
    const int tiles = to > from ? (to - from + AG_DECODE_TILE - 1) / AG_DECODE_TILE : 0;

    // q rows as stored (the scale is applied to the fp32 scores); rows past the CTA's are zeros. An fp8 cache's are
    // widened to f16 first, and its key scale joins the softmax scale.
    float score_scale = p.scale, value_scale = 1.f;
    if constexpr (kFp8) {
        score_scale *= p.k_scales[g] / ag_fp8_queries(p, qs, b, g, group, row0, rows, kstride, reinterpret_cast<float*>(tile_rows));
        value_scale = p.v_scales[g];
        __syncthreads();   // the scratch (the pool rows' slots) is read by all before the prologue writes them
    } else {
        for (int i = threadIdx.x; i < AG_DECODE_ROWS * (p.e >> 3); i += AG_DECODE_THREADS) {
            const int r = i / (p.e >> 3), c = i - r * (p.e >> 3);
            const u16* src = r < rows ? p.q + ag_query_row(p, b, g, group, row0 + r) * p.e + c * 8 : p.q;
            ag_copy16(ag_smem_addr(qs + r * kstride + c * 8), src, r < rows ? 16 : 0);
        }
    }
    // A paged cache's pool rows for the prologue's tiles and the loop's first issue are worked out here, waited for;
    // the loop works out each later tile's while the tile before it computes.
#pragma unroll
    for (int s = 0; s < kStages; ++s) {
        const int first = from + s * AG_DECODE_TILE, count = min(AG_DECODE_TILE, to - first);
        if (p.block_table && s < tiles && threadIdx.x < AG_DECODE_TILE)
            tile_rows[(s & 1) * AG_DECODE_TILE + threadIdx.x] = ag_load_tile_row(p, b, g, first, count);
        if (s == kStages - 1) break;   // ready at the loop's first barrier
        __syncthreads();   // tile s's rows are every thread's
        if (s < tiles) {
            ag_issue_kv<kEv, kFp8>(p, tile_rows + (s & 1) * AG_DECODE_TILE, stages + s * stage_elems, b, g, first, count);
        }
        ag_copy_commit();
        __syncthreads();   // every thread has read slot s & 1 before tile s + 2's rows replace them
    }

    // This thread's two rows (quad_row and quad_row + 8): their query head and position, for the masks and mods.
    int position[2], head[2];
    bool row_in_block[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        const int row = row0 + quad_row + 8 * h;
        position[h] = length - p.queries + row % p.queries;
        head[h] = g * group + row / p.queries;
        row_in_block[h] = quad_row + 8 * h < rows;
    }

    constexpr int kDTiles = kEv / 8;
    const int d_tiles = p.ev >> 3;
    float acc[kDTiles][4];
#pragma unroll
    for (int n = 0; n < kDTiles; ++n) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.f;
    float row_max[2] = {-__int_as_float(0x7f800000), -__int_as_float(0x7f800000)}, row_sum[2] = {0.f, 0.f};

    for (int tile = 0; tile < tiles; ++tile) {
        ag_copy_wait<kStages - 2>();
        __syncthreads();   // this tile has landed for every thread, and the stage refilled next was read by all
        // Tile `next` is issued; tile next + 1's pool rows (paged) are worked out now and stored after this tile's compute.
        const int next = tile + kStages - 1;
        if (next < tiles) {
            const int first = from + next * AG_DECODE_TILE, count = min(AG_DECODE_TILE, to - first);
            ag_issue_kv<kEv, kFp8>(p, tile_rows + (next & 1) * AG_DECODE_TILE, stages + (next % kStages) * stage_elems, b, g, first, count);
        }
        ag_copy_commit();
        const bool load_rows = p.block_table && next + 1 < tiles && threadIdx.x < AG_DECODE_TILE;
        const int after_first = from + (next + 1) * AG_DECODE_TILE;
        const long long after_row = load_rows ? ag_load_tile_row(p, b, g, after_first, min(AG_DECODE_TILE, to - after_first)) : 0;
        const u16* tile_base = stages + (tile % kStages) * stage_elems;
        const int key0 = from + tile * AG_DECODE_TILE + warp * AG_DECODE_WARP_KEYS;

        // S = q K^T over this warp's 16 keys: two n-tiles of 8 keys. With E = kEv the steps of 16 dims unroll into two
        // accumulator pairs (even and odd steps, folded after), halving the MMAs' dependency chain.
        float s[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}}, odd[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
        const int m = lane >> 3, r8 = lane & 7;
        const u32 q_at = ag_smem_addr(qs + ((m & 1) * 8 + r8) * kstride + (m >> 1) * 8);
        if constexpr (kFp8) {
            // K's codes straight into B fragments: this lane's key quad_row (and + 8) of the warp's 16, its quarter of the
            // dims, 16 codes a shared load, each 4-code word one step's two f16 pairs (q's columns permuted to match).
            const u8* key = reinterpret_cast<const u8*>(tile_base) + (warp * AG_DECODE_WARP_KEYS + quad_row) * (kEv + 16) + quad_col * (kEv / 4);
#pragma unroll
            for (int step = 0; step < kEv / 16; step += 4) {
                const uint4 near = *reinterpret_cast<const uint4*>(key + 4 * step);
                const uint4 far = *reinterpret_cast<const uint4*>(key + 8 * (kEv + 16) + 4 * step);
                const u32 words[2][4] = {{near.x, near.y, near.z, near.w}, {far.x, far.y, far.z, far.w}};
#pragma unroll
                for (int w = 0; w < 4; ++w) {
                    u32 a[4], kb[2][2];
                    ag_ldsm_x4(a, q_at + 2 * 16 * (step + w));
                    ag_fp8x4_to_f16(words[0][w], kb[0][0], kb[0][1]);
                    ag_fp8x4_to_f16(words[1][w], kb[1][0], kb[1][1]);
                    float (&acc)[2][4] = (w & 1) ? odd : s;
                    ag_mma<true>(acc[0], a, kb[0]);
                    ag_mma<true>(acc[1], a, kb[1]);
                }
            }
        } else {
            const u32 k_at = ag_smem_addr(tile_base + (warp * AG_DECODE_WARP_KEYS + (m >> 1) * 8 + r8) * kstride + (m & 1) * 8);
            auto qk_step = [&](int d, float (&acc)[2][4]) {
                u32 a[4], kb[4];
                ag_ldsm_x4(a, q_at + 2 * d);
                ag_ldsm_x4(kb, k_at + 2 * d);
                ag_mma<kFp16>(acc[0], a, kb);
                ag_mma<kFp16>(acc[1], a, kb + 2);
            };
            if (p.e == kEv) {
#pragma unroll
                for (int d = 0; d < kEv; d += 32) {
                    qk_step(d, s);
                    qk_step(d + 16, odd);
                }
            } else {
                for (int d = 0; d < p.e; d += 16) qk_step(d, s);
            }
        }
#pragma unroll
        for (int n = 0; n < 2; ++n) {
#pragma unroll
            for (int e = 0; e < 4; ++e) s[n][e] += odd[n][e];
        }

        // Scores in log2 units; a key outside the range, after the row's position (causal) or refused by the mask is -inf.
        // Without mods, a warp whose 16 keys are all in range and before every row's position (causal) only scales them:
        // the same products, without the ~100 instructions of per-key tests (the fp8 entry's warps wait on their own
        // latencies, so each instruction counts).
        bool all_allowed = false;
#if !defined(AG_DECODE_MASK) && !defined(AG_DECODE_SCORE)
        all_allowed = key0 + AG_DECODE_WARP_KEYS <= to && (!p.causal || key0 + AG_DECODE_WARP_KEYS - 1 <= length - p.queries);
#endif
        if (all_allowed) {
#pragma unroll
            for (int n = 0; n < 2; ++n) {
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    // Rows past the block's (padding of the m16 tile) are -inf, as below.
                    s[n][e] = row_in_block[e >> 1] ? s[n][e] * score_scale * AG_LOG2E : -__int_as_float(0x7f800000);
                }
            }
        } else {
#pragma unroll
            for (int n = 0; n < 2; ++n) {
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    const int h = e >> 1, t = key0 + n * 8 + quad_col * 2 + (e & 1);
                    // Rows past the block's (padding of the m16 tile) never reach the mods: their head is out of range.
                    s[n][e] = ag_decode_log2_score(p, s[n][e] * score_scale, row_in_block[h] && t < to, b, head[h], position[h], t);
                }
            }
        }

        // Online softmax per row over the quad's 16 scores; a NaN score is no maximum (fmaxf drops it) but reaches the
        // row through its exp, and with no finite score yet it reaches the row as itself (as in the scalar path).
        u32 pa[4];
        float alphas[2];
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            float tile_max = fmaxf(fmaxf(s[0][2 * h], s[0][2 * h + 1]), fmaxf(s[1][2 * h], s[1][2 * h + 1]));
            tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
            tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
            const float new_max = fmaxf(row_max[h], tile_max);
            const bool empty = new_max == -__int_as_float(0x7f800000);
            const float alpha = empty ? 1.f : ag_exp2(row_max[h] - new_max);
            row_max[h] = new_max;
            float sum = 0.f;
#pragma unroll
            for (int n = 0; n < 2; ++n) {
#pragma unroll
                for (int c = 0; c < 2; ++c) {
                    const float x = s[n][2 * h + c];
                    const float prob = empty ? (x != x ? x : 0.f) : ag_exp2(x - new_max);
                    s[n][2 * h + c] = prob;
                    sum += prob;
                }
            }
            row_sum[h] = row_sum[h] * alpha + sum;
            alphas[h] = alpha;
        }
        // O scaled by 1 is O (NaN and infinities included): skipped unless a row of the warp moved its max, which after
        // the first tiles is rare (64 multiplies a thread a tile).
        if (__any_sync(0xffffffffu, alphas[0] != 1.f || alphas[1] != 1.f)) {
#pragma unroll
            for (int dt = 0; dt < kDTiles; ++dt) {
                acc[dt][0] *= alphas[0];
                acc[dt][1] *= alphas[0];
                acc[dt][2] *= alphas[1];
                acc[dt][3] *= alphas[1];
            }
        }
        pa[0] = ag_pack2<kFp16>(s[0][0], s[0][1]);
        pa[1] = ag_pack2<kFp16>(s[0][2], s[0][3]);
        pa[2] = ag_pack2<kFp16>(s[1][0], s[1][1]);
        pa[3] = ag_pack2<kFp16>(s[1][2], s[1][3]);

        // O += P V: V's rows are this warp's keys, two 8-wide n-tiles of value dims per ldmatrix.
        if constexpr (kFp8) {
            // V's codes straight into B fragments: per group u of four n-tiles (32 dims), this lane's dims 32u + 4 quad_row
            // .. + 3 of its B rows, keys 2 quad_col, + 1, + 8, + 9 (a 4-byte load each); byte i of a key pair (byte_perm)
            // widens to n-tile 4u + i's pair. O's dims come out permuted, n-tile 4u + i's column n being dim 32u + 4n + i
            // (undone where the warps' rows are merged).
            const u8* values = reinterpret_cast<const u8*>(tile_base) + (AG_DECODE_TILE + warp * AG_DECODE_WARP_KEYS + 2 * quad_col) * (kEv + 16) + 4 * quad_row;
#pragma unroll
            for (int u = 0; u < kEv / 32; ++u) {
                const u8* at = values + 32 * u;
                const u32 k0 = *reinterpret_cast<const u32*>(at), k1 = *reinterpret_cast<const u32*>(at + (kEv + 16));
                const u32 k8 = *reinterpret_cast<const u32*>(at + 8 * (kEv + 16)), k9 = *reinterpret_cast<const u32*>(at + 9 * (kEv + 16));
                u32 vb[4][2];
                ag_fp8x4_to_f16(__byte_perm(k0, k1, 0x5140), vb[0][0], vb[1][0]);   // dims i = 0, 1 of keys 2 t4, 2 t4 + 1
                ag_fp8x4_to_f16(__byte_perm(k0, k1, 0x7362), vb[2][0], vb[3][0]);   // dims 2, 3
                ag_fp8x4_to_f16(__byte_perm(k8, k9, 0x5140), vb[0][1], vb[1][1]);   // the same of keys + 8, + 9
                ag_fp8x4_to_f16(__byte_perm(k8, k9, 0x7362), vb[2][1], vb[3][1]);
#pragma unroll
                for (int i = 0; i < 4; ++i) ag_mma<true>(acc[4 * u + i], pa, vb[i]);
            }
        } else {
            const u16* vs = tile_base + AG_DECODE_TILE * kstride + warp * AG_DECODE_WARP_KEYS * vstride;
#pragma unroll
            for (int dt = 0; dt < kDTiles; dt += 2) {
                if (dt >= d_tiles) break;
                u32 vb[4];
                ag_ldsm_x4_trans(vb, ag_smem_addr(vs + ((m & 1) * 8 + r8) * vstride + dt * 8 + (m >> 1) * 8));
                ag_mma<kFp16>(acc[dt], pa, vb);
                ag_mma<kFp16>(acc[dt + 1], pa, vb + 2);
            }
        }
        // Slot (next + 1) & 1 last held tile next - 1's rows, which every thread read before this iteration's barrier.
        if (load_rows) tile_rows[((next + 1) & 1) * AG_DECODE_TILE + threadIdx.x] = after_row;
    }
    ag_copy_wait<0>();
    __syncthreads();   // every warp is done with the stages, which now take the merge

    // The warps' partial rows: row max, sum (the quad's), and O, merged by their maxima.
    float* merge_o = reinterpret_cast<float*>(stages);                    // [4][16][Ev]
    float* merge_max = merge_o + 4 * AG_DECODE_ROWS * p.ev;                 // [4][16]
    float* merge_sum = merge_max + 4 * AG_DECODE_ROWS;                      // [4][16]
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        row_sum[h] += __shfl_xor_sync(0xffffffffu, row_sum[h], 1);
        row_sum[h] += __shfl_xor_sync(0xffffffffu, row_sum[h], 2);
        const int r = quad_row + 8 * h;
        if (quad_col == 0) {
            merge_max[warp * AG_DECODE_ROWS + r] = row_max[h];
            merge_sum[warp * AG_DECODE_ROWS + r] = row_sum[h];
        }
#pragma unroll
        for (int dt = 0; dt < kDTiles; ++dt) {
            if (dt < d_tiles) {
                float* o = merge_o + (warp * AG_DECODE_ROWS + r) * p.ev;
                // An fp8 cache's O columns n = 2 quad_col, + 1 of n-tile dt hold dims 32 (dt / 4) + 4n + dt % 4.
                const int d0 = kFp8 ? 32 * (dt >> 2) + 8 * quad_col + (dt & 3) : dt * 8 + quad_col * 2, step = kFp8 ? 4 : 1;
                o[d0] = acc[dt][2 * h];
                o[d0 + step] = acc[dt][2 * h + 1];
            }
        }
    }
    __syncthreads();

    // Per row: the warps' weights (a warp that saw no finite score weighs 0, or 1 when no warp did, so NaN sums carry).
    float* weights = merge_sum + 4 * AG_DECODE_ROWS;                          // [4][16]
    float* totals = weights + 4 * AG_DECODE_ROWS;                             // [16] sum, [16] max
    if (threadIdx.x < AG_DECODE_ROWS) {
        const int r = threadIdx.x;
        float top = -__int_as_float(0x7f800000);
        for (int w = 0; w < 4; ++w) top = fmaxf(top, merge_max[w * AG_DECODE_ROWS + r]);
        float total = 0.f;
        for (int w = 0; w < 4; ++w) {
            const float mw = merge_max[w * AG_DECODE_ROWS + r];
            const float weight = mw == -__int_as_float(0x7f800000) ? (top == mw ? 1.f : 0.f) : ag_exp2(mw - top);
            weights[w * AG_DECODE_ROWS + r] = weight;
            total += weight * merge_sum[w * AG_DECODE_ROWS + r];
        }
        totals[r] = total;
        totals[AG_DECODE_ROWS + r] = top;
    }
    __syncthreads();

    // Normalized rows and their LSE (natural log); a row with no key is 0 with LSE -inf.
    for (int i = threadIdx.x; i < rows * p.ev; i += AG_DECODE_THREADS) {
        const int r = i / p.ev, d = i - r * p.ev;
        float value = 0.f;
        for (int w = 0; w < 4; ++w) value += weights[w * AG_DECODE_ROWS + r] * merge_o[(w * AG_DECODE_ROWS + r) * p.ev + d];
        ag_store_value(p, ag_query_row(p, b, g, group, row0 + r), split, d, value * value_scale, totals[r]);
    }
    if (threadIdx.x < rows) {
        const int r = threadIdx.x;
        ag_store_lse(p, ag_query_row(p, b, g, group, row0 + r), split, totals[AG_DECODE_ROWS + r], totals[r]);
    }
}

// grid (B * Hkv, splits, row chunks of AG_DECODE_ROWS); E and Ev multiples of 16; the suffix bounds Ev.
#define AG_DECODE_MMA_ENTRY(kEv) \
    extern "C" __global__ void __launch_bounds__(AG_DECODE_THREADS) ag_decode_mma_##kEv(const DecodeParams p) { \
        if (p.is_fp16) ag_decode_mma_body<true, kEv, false, AG_DECODE_STAGES>(p); \
        else ag_decode_mma_body<false, kEv, false, AG_DECODE_STAGES>(p); \
    }
AG_DECODE_MMA_ENTRY(64)
AG_DECODE_MMA_ENTRY(128)
AG_DECODE_MMA_ENTRY(256)

// An fp8 cache with E = Ev = kE: its codes widened to f16 per tile, f16 MMAs whatever q's half type. Its warps wait on
// their own latencies, so at E <= 128 the registers are capped at 128 and the pipeline is 2 stages, for four CTAs an SM
// (ptxas left 151-178 registers and two or three); at 256 the cap would spill, and it keeps the 3 stages.
#define AG_DECODE_MMA_FP8_ENTRY(kE) \
    extern "C" __global__ void __launch_bounds__(AG_DECODE_THREADS, (kE) <= 128 ? 4 : 1) ag_decode_mma_fp8_##kE(const DecodeParams p) { \
        ag_decode_mma_body<true, kE, true, (kE) <= 128 ? AG_DECODE_FP8_STAGES : AG_DECODE_STAGES>(p); \
    }
AG_DECODE_MMA_FP8_ENTRY(64)
AG_DECODE_MMA_FP8_ENTRY(128)
AG_DECODE_MMA_FP8_ENTRY(256)

// grid (B * Hq * Tq): one CTA per output row merges its splits' partial rows by their LSEs. The splits' weights go to
// shared memory a chunk at a time, so that each thread's partial values (one per split) are loaded several at once
// rather than one load's latency per split (a 1 x 131072 decode has 33 splits); the sums keep the splits' order.
// A split without probability (LSE -inf) weighs 0 but is still added: its partial row is 0 (a range with no key, past
// the sequence's end, adds +0, which changes no sum) or NaN where one pass keeps a NaN too (ag_store_value). A row that
// no split gives probability is 0 with LSE -inf, as in one pass.
#define AG_DECODE_COMBINE_CHUNK 256
extern "C" __global__ void __launch_bounds__(AG_DECODE_THREADS) ag_decode_combine(const DecodeParams p) {
    __shared__ float weights[AG_DECODE_COMBINE_CHUNK];
    const long long row = blockIdx.x;
    const float* lses = p.part_lse + row * p.splits;
    float top = -__int_as_float(0x7f800000);
    bool nan = false;
    for (int s = 0; s < p.splits; ++s) {
        top = fmaxf(top, lses[s]);
        nan |= lses[s] != lses[s];
    }
    float total = 0.f;
    for (int s = 0; s < p.splits; ++s) total += lses[s] == -__int_as_float(0x7f800000) ? 0.f : __expf(lses[s] - top);
    float value[2] = {0.f, 0.f};   // dims threadIdx.x and threadIdx.x + 128 (Ev <= 256)
    for (int first = 0; first < p.splits; first += AG_DECODE_COMBINE_CHUNK) {
        const int count = min(AG_DECODE_COMBINE_CHUNK, p.splits - first);
        __syncthreads();   // the last chunk's weights are read by all
        for (int i = threadIdx.x; i < count; i += AG_DECODE_THREADS) {
            const float lse = lses[first + i];
            weights[i] = lse == -__int_as_float(0x7f800000) ? 0.f : __expf(lse - top) / total;
        }
        __syncthreads();
#pragma unroll
        for (int half = 0; half < 2; ++half) {
            const int d = threadIdx.x + half * AG_DECODE_THREADS;
            if (d >= p.ev) break;
            const float* part = p.part_out + (row * p.splits + first) * p.ev + d;
#pragma unroll 8
            for (int i = 0; i < count; ++i) value[half] += weights[i] * part[(long long)i * p.ev];
        }
    }
#pragma unroll
    for (int half = 0; half < 2; ++half) {
        const int d = threadIdx.x + half * AG_DECODE_THREADS;
        const float merged = nan ? __int_as_float(0x7fc00000) : top == -__int_as_float(0x7f800000) ? 0.f : value[half];
        if (d < p.ev) p.out[row * p.ev + d] = ag_half_store(merged, p.is_fp16);
    }
    if (threadIdx.x == 0) {
        p.lse[row] = nan ? __int_as_float(0x7fc00000) : top == -__int_as_float(0x7f800000) ? top : top + __logf(total);
    }
}

// Mirrored by AppendParams in DecodeCuda.cs.
struct AppendParams {
    const u16* src;                // [B, Hkv, T, width] new rows
    u16* dst;                      // the cache's blocks
    const int* lengths;            // [B] tokens held before this append
    const int* counts;             // [B] new tokens each sequence takes (the rest of its T rows are padding)
    const int* block_table;        // as DecodeParams
    int kv_heads, tokens, width, block_tokens, blocks_per_seq;
    long long elements;            // B * Hkv * T * width
    const float* scales;           // ag_kv_append_fp8: [Hkv] the scales of these rows (keys' or values'); else null
    int src_format;                // ag_kv_append_fp8: src holds 0 float32, 1 bf16, 2 fp16 rows
};

// Where element i of the new rows goes: its index in the cache's blocks, or -1 for a padding row (t >= counts[b]);
// *head is its kv head.
__device__ __forceinline__ long long ag_kv_append_slot(const AppendParams& p, long long i, int* head) {
    const long long row = i / p.width;
    const int d = (int)(i - row * p.width), t = (int)(row % p.tokens);
    const long long bg = row / p.tokens;
    const int b = (int)(bg / p.kv_heads), g = (int)(bg - (long long)b * p.kv_heads);
    *head = g;
    if (t >= p.counts[b]) return -1;
    const int position = p.lengths[b] + t, logical = position / p.block_tokens, within = position - logical * p.block_tokens;
    const long long block = p.block_table ? p.block_table[(long long)b * p.blocks_per_seq + logical] : b;
    return ((block * p.kv_heads + g) * (long long)p.block_tokens + within) * p.width + d;
}

// Writes each sequence's new rows after its current length, one element per thread.
extern "C" __global__ void ag_kv_append(const AppendParams p) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < p.elements; i += (long long)gridDim.x * blockDim.x) {
        int g;
        const long long slot = ag_kv_append_slot(p, i, &g);
        if (slot >= 0) p.dst[slot] = p.src[i];
    }
}

// The same into an fp8 cache: each element stored as e4m3(x / scale of its kv head), saturated (the CPU's codes).
extern "C" __global__ void ag_kv_append_fp8(const AppendParams p) {
    u8* dst = reinterpret_cast<u8*>(p.dst);
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < p.elements; i += (long long)gridDim.x * blockDim.x) {
        int g;
        const long long slot = ag_kv_append_slot(p, i, &g);
        if (slot < 0) continue;
        float x = p.src_format == 0 ? reinterpret_cast<const float*>(p.src)[i] : ag_half_load(p.src[i], p.src_format == 2);
        // cvt.f32.f16 makes every NaN the positive canonical one; the CPU's widening keeps the sign, which the code keeps.
        if (p.src_format == 2 && (p.src[i] & 0x7fffu) > 0x7c00u) x = __uint_as_float(((u32)(p.src[i] & 0x8000u) << 16) | 0x7fc00000u);
        dst[slot] = ag_fp8_e4m3_quantize(x, p.scales[g]);
    }
}
