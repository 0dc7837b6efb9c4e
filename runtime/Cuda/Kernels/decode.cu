// Decode over a KV cache (DecodeAttention on a GPU): a few new queries per sequence against the keys and values the
// cache holds, contiguous or paged. Bound by reading the cache once, so each CTA streams one (sequence, kv head, key
// range) and serves every query row of that kv head's group from the same K/V tile (GQA: the group's query heads read
// K/V once). Long caches are split into key ranges run side by side (flash-decoding); ag_decode_combine merges the
// ranges' partial rows by their log-sum-exps. Storage is bf16 or fp16; arithmetic float32, exp2-based.
#include "half_bits.inc"

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
};

__device__ __forceinline__ const u16* ag_kv_row(const DecodeParams& p, const u16* base, int b, int g, int t, int width) {
    const int logical = t / p.block_tokens, within = t - logical * p.block_tokens;
    const long long block = p.block_table ? p.block_table[(long long)b * p.blocks_per_seq + logical] : b;
    return base + ((block * p.kv_heads + g) * (long long)p.block_tokens + within) * width;
}

// Row `row` of kv head g's group is query head g * group + row / Tq, new query row % Tq: its index in q, O and the LSE
// ([B, Hq, Tq] rows); the query sits at position length - Tq + row % Tq of its sequence.
__device__ __forceinline__ long long ag_query_row(const DecodeParams& p, int b, int g, int group, int row) {
    return ((long long)b * p.q_heads + g * group + row / p.queries) * p.queries + row % p.queries;
}

// Copies `count` rows of `width` halves from the cache into smem rows of width + pad; rows past `count` are zero.
__device__ __forceinline__ void ag_load_tile(const DecodeParams& p, const u16* base, u16* tile, int b, int g, int first, int count, int width) {
    const int stride = width + AG_DECODE_PAD;
    if ((width & 7) == 0) {
        const int chunks = width >> 3;   // 16-byte chunks per row
        for (int i = threadIdx.x; i < AG_DECODE_TILE * chunks; i += AG_DECODE_THREADS) {
            const int j = i / chunks, c = i - j * chunks;
            uint4 value = make_uint4(0, 0, 0, 0);
            if (j < count) value = *reinterpret_cast<const uint4*>(ag_kv_row(p, base, b, g, first + j, width) + c * 8);
            *reinterpret_cast<uint4*>(tile + j * stride + c * 8) = value;
        }
    } else {
        for (int i = threadIdx.x; i < AG_DECODE_TILE * width; i += AG_DECODE_THREADS) {
            const int j = i / width, d = i - j * width;
            tile[j * stride + d] = j < count ? ag_kv_row(p, base, b, g, first + j, width)[d] : (u16)0;
        }
    }
}

// grid (B * Hkv, splits, row chunks of AG_DECODE_ROWS); dynamic smem: q rows, K and V tiles, scores.
extern "C" __global__ void __launch_bounds__(AG_DECODE_THREADS) ag_decode_split(const DecodeParams p) {
    extern __shared__ __align__(16) unsigned char smem[];
    const int split = blockIdx.y, b = blockIdx.x / p.kv_heads, g = blockIdx.x - b * p.kv_heads;
    const int group = p.q_heads / p.kv_heads, rows_total = group * p.queries;
    const int row0 = blockIdx.z * AG_DECODE_ROWS, rows = min(AG_DECODE_ROWS, rows_total - row0);
    const int kstride = p.e + AG_DECODE_PAD, vstride = p.ev + AG_DECODE_PAD;
    float* qs = reinterpret_cast<float*>(smem);                                   // [ROWS][E], scaled
    u16* ks = reinterpret_cast<u16*>(qs + AG_DECODE_ROWS * p.e);                  // [TILE][E + PAD]
    u16* vs = ks + AG_DECODE_TILE * kstride;                                      // [TILE][Ev + PAD]
    float* scores = reinterpret_cast<float*>(vs + AG_DECODE_TILE * vstride);       // [ROWS][TILE]
    float* row_max = scores + AG_DECODE_ROWS * AG_DECODE_TILE;                    // [ROWS] running max (log2 units)
    float* row_sum = row_max + AG_DECODE_ROWS;                                    // [ROWS]
    float* row_alpha = row_sum + AG_DECODE_ROWS;                                  // [ROWS] this tile's rescale

    const int length = p.lengths[b];
    const int from = split * p.split_tokens, to = min(length, from + p.split_tokens);
    for (int i = threadIdx.x; i < AG_DECODE_ROWS * p.e; i += AG_DECODE_THREADS) {
        const int r = i / p.e, d = i - r * p.e, row = row0 + r;
        float x = 0.f;
        if (r < rows) x = ag_half_load(p.q[ag_query_row(p, b, g, group, row) * p.e + d], p.is_fp16) * p.scale;
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
        ag_load_tile(p, p.k, ks, b, g, first, count, p.e);
        ag_load_tile(p, p.v, vs, b, g, first, count, p.ev);
        __syncthreads();

        // Scores: thread (key j = tid % 64, row parity tid / 64) over its rows; each key element is read once (16-byte
        // smem loads when E allows: 8 threads a phase, rows 4 banks apart) and q is broadcast from smem.
        {
            const int j = threadIdx.x % AG_DECODE_TILE, parity = threadIdx.x / AG_DECODE_TILE;
            constexpr int step = AG_DECODE_THREADS / AG_DECODE_TILE, mine = AG_DECODE_ROWS / step;
            const u16* key = ks + j * kstride;
            float s[mine];
#pragma unroll
            for (int i = 0; i < mine; ++i) s[i] = 0.f;
            if ((p.e & 7) == 0) {
                for (int d = 0; d < p.e; d += 8) {
                    const uint4 packed = *reinterpret_cast<const uint4*>(key + d);
                    const u32 words[4] = {packed.x, packed.y, packed.z, packed.w};
#pragma unroll
                    for (int c = 0; c < 8; ++c) {
                        const float kd = ag_half_load((u16)(words[c >> 1] >> ((c & 1) * 16)), p.is_fp16);
#pragma unroll
                        for (int i = 0; i < mine; ++i) {
                            const int r = parity + i * step;
                            if (r < rows) s[i] = fmaf(qs[r * p.e + d + c], kd, s[i]);
                        }
                    }
                }
            } else {
                for (int d = 0; d < p.e; ++d) {
                    const float kd = ag_half_load(key[d], p.is_fp16);
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
                const int row = row0 + r, position = length - p.queries + row % p.queries, t = first + j;
                bool allowed = j < count && (!p.causal || t <= position);
                float score = s[i];
#if defined(AG_DECODE_MASK) || defined(AG_DECODE_SCORE)
                const int head = g * group + row / p.queries;
#endif
#ifdef AG_DECODE_MASK
                if (allowed) allowed = AG_DECODE_MASK(p, b, head, position, t);
#endif
#ifdef AG_DECODE_SCORE
                if (allowed) score = AG_DECODE_SCORE(p, score, b, head, position, t);
#endif
                scores[r * AG_DECODE_TILE + j] = allowed ? score * AG_LOG2E : -__int_as_float(0x7f800000);
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
                const float value = ag_half_load(vs[j * vstride + d], p.is_fp16);
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
            const long long out_row = ag_query_row(p, b, g, group, row0 + r);
            const float sum = row_sum[r], value = sum > 0.f || sum != sum ? acc[r][half] / sum : 0.f;
            if (p.splits == 1) p.out[out_row * p.ev + d] = ag_half_store(value, p.is_fp16);
            else p.part_out[(out_row * p.splits + split) * p.ev + d] = value;
        }
    }
    if (threadIdx.x < rows) {
        const int r = threadIdx.x;
        const long long out_row = ag_query_row(p, b, g, group, row0 + r);
        const float sum = row_sum[r];
        const float lse = sum > 0.f || sum != sum ? (row_max[r] + log2f(sum)) / AG_LOG2E : -__int_as_float(0x7f800000);
        if (p.splits == 1) p.lse[out_row] = lse;
        else p.part_lse[out_row * p.splits + split] = lse;
    }
}

// grid (B * Hq * Tq): one CTA per output row merges its splits' partial rows by their LSEs.
extern "C" __global__ void __launch_bounds__(AG_DECODE_THREADS) ag_decode_combine(const DecodeParams p) {
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
    for (int d = threadIdx.x; d < p.ev; d += AG_DECODE_THREADS) {
        float value = 0.f;
        for (int s = 0; s < p.splits; ++s) {
            if (lses[s] == -__int_as_float(0x7f800000)) continue;
            value += __expf(lses[s] - top) / total * p.part_out[(row * p.splits + s) * p.ev + d];
        }
        p.out[row * p.ev + d] = ag_half_store(nan ? __int_as_float(0x7fc00000) : value, p.is_fp16);
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
};

// Writes each sequence's new rows after its current length, one element per thread.
extern "C" __global__ void ag_kv_append(const AppendParams p) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < p.elements; i += (long long)gridDim.x * blockDim.x) {
        const long long row = i / p.width;
        const int d = (int)(i - row * p.width), t = (int)(row % p.tokens);
        const long long bg = row / p.tokens;
        const int b = (int)(bg / p.kv_heads), g = (int)(bg - (long long)b * p.kv_heads);
        if (t >= p.counts[b]) continue;
        const int position = p.lengths[b] + t, logical = position / p.block_tokens, within = position - logical * p.block_tokens;
        const long long block = p.block_table ? p.block_table[(long long)b * p.blocks_per_seq + logical] : b;
        p.dst[((block * p.kv_heads + g) * (long long)p.block_tokens + within) * p.width + d] = p.src[i];
    }
}
