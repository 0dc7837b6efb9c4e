// FlashAttention forward on Hopper (sm_90a) with wgmma, warp-specialized: for head dims 64 and 128.
// A producer warpgroup streams Q and K/V tiles into shared memory with cp.async and signals "full" mbarriers; the
// consumer warpgroups wait on them and release buffers through "empty" mbarriers, so they never meet at a
// __syncthreads and drift apart: one warpgroup's softmax overlaps the other's GEMMs. Within a warpgroup, a tile's
// softmax overlaps the previous tile's O += P V (see the consumer loop).
// The specialization header defines AG_HEAD_DIM and AG_CAUSAL.
//
// One CTA per SM = 2 consumer warpgroups of 64 query rows each and a producer warpgroup, persistent over query
// blocks of 128 rows (see flash_fwd_sm90 below). K/V tiles of 128 keys stream through shared memory,
// double-buffered with cp.async, in the 128-byte-swizzled layout the tensor cores read through matrix descriptors.
// S = Q K^T is a wgmma with both operands in shared memory; O += P V is a wgmma with P straight from registers and
// V read transposed. The softmax is the same online exp2-domain softmax as flash_fwd.cu, with lazy rescaling;
// fully masked rows give O = 0 and LSE = -inf.

#ifndef AG_HEAD_DIM
#error "the specialization header must define AG_HEAD_DIM"
#endif
#ifndef AG_CAUSAL
#define AG_CAUSAL 0
#endif

#include "flash_common.inc"

struct Traits {
    static constexpr int kHeadDim = AG_HEAD_DIM;
    static constexpr int kWarpGroups = 2;                 // consumer warpgroups, 64 query rows each
    static constexpr int kConsumers = kWarpGroups * 128;
    static constexpr int kProducers = 128;                // one producer warpgroup
    static constexpr int kThreads = kConsumers + kProducers;
    static constexpr int kStages = 2;                    // K/V stages in flight (the launcher sizes shared memory)
    static constexpr int kBlockM = kWarpGroups * 64;     // query rows per CTA
    static constexpr int kBlockN = 128;                  // keys per tile
    static constexpr int kChunks = kHeadDim / 8;         // 16-byte chunks per row
    static constexpr int kKSteps = kHeadDim / 16;        // k-steps of S = Q K^T
    static constexpr int kSRegs = kBlockN / 2;           // S accumulator floats per thread (m64n128)
    static constexpr int kORegs = kHeadDim / 2;          // O accumulator floats per thread (m64nD)
    static constexpr int kQBytes = kBlockM * kHeadDim * 2;
    static constexpr int kTileBytes = kBlockN * kHeadDim * 2;
};
static_assert(Traits::kBlockM == Traits::kBlockN, "the producer copies Q tiles as it copies K/V tiles");
static_assert(AG_HEAD_DIM == 64 || AG_HEAD_DIM == 128, "the wgmma kernel takes head dims 64 and 128");

// Data written through the generic proxy (cp.async) must be fenced before the tensor cores read it.
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
// Waits until at most kPending of this warpgroup's committed wgmma groups are still running (they finish in order).
template <int kPending>
__device__ __forceinline__ void wgmma_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;\n" :: "n"(kPending) : "memory"); }
// Keeps the compiler from moving reads of accumulator registers across a wgmma wait.
__device__ __forceinline__ void fence_regs(float* r, int n) {
#pragma unroll
    for (int i = 0; i < n; ++i) asm volatile("" : "+f"(r[i]) :: "memory");
}
#include "wgmma_ops.inc"

struct BF16 {
    __device__ __forceinline__ static u32 pack(float lo, float hi) { return pack_bf16(lo, hi); }
    __device__ __forceinline__ static void unpack(u32 bits, float& lo, float& hi) { unpack_bf16(bits, lo, hi); }
    __device__ __forceinline__ static void ss(float* d, u64 a, u64 b, int acc) { wgmma_ss_n128_bf16(d, a, b, acc); }
    __device__ __forceinline__ static void rs(float* d, const u32* a, u64 b) {
        if (AG_HEAD_DIM == 64) wgmma_rs_n64_bf16(d, a, b); else wgmma_rs_n128_bf16(d, a, b);
    }
};
struct FP16 {
    __device__ __forceinline__ static u32 pack(float lo, float hi) { return pack_fp16(lo, hi); }
    __device__ __forceinline__ static void unpack(u32 bits, float& lo, float& hi) { unpack_fp16(bits, lo, hi); }
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

// Stores four 8x8 16-bit matrices from the m16n8 fragment layout (stmatrix: a thread's 32-bit register i holds two
// adjacent columns of row lane / 4 of matrix i; lane L gives the shared address of row L % 8 of matrix L / 8).
__device__ __forceinline__ void stmatrix_x4(u32 addr, const u32* r) {
    asm volatile("stmatrix.sync.aligned.m8n8.x4.shared.b16 [%0], {%1, %2, %3, %4};\n"
                 :: "r"(addr), "r"(r[0]), "r"(r[1]), "r"(r[2]), "r"(r[3]) : "memory");
}

// Matrix descriptor: start address, leading and stride byte offsets (all >> 4), 128-byte swizzle mode.
__device__ __forceinline__ u64 descriptor(u32 addr, u32 lbo, u32 sbo) {
    return (u64)((addr & 0x3FFFF) >> 4) | ((u64)((lbo >> 4) & 0x3FFF) << 16) | ((u64)((sbo >> 4) & 0x3FFF) << 32) | (1ull << 62);
}

// ---- mbarriers ----
__device__ __forceinline__ void mbar_init(u32 bar, int count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" :: "r"(bar), "r"(count));
}
__device__ __forceinline__ void mbar_arrive(u32 bar) {
    asm volatile("{\n.reg .b64 state;\nmbarrier.arrive.shared::cta.b64 state, [%0];\n}\n" :: "r"(bar) : "memory");
}
// Arrives when all of this thread's earlier cp.async copies have landed (counted in the barrier's expected arrivals).
__device__ __forceinline__ void mbar_arrive_cp_async(u32 bar) {
    asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" :: "r"(bar) : "memory");
}
__device__ __forceinline__ void mbar_wait(u32 bar, int parity) {
    asm volatile("{\n.reg .pred P1;\nWAIT:\nmbarrier.try_wait.parity.shared::cta.b64 P1, [%0], %1;\n@P1 bra DONE;\nbra WAIT;\nDONE:\n}\n"
                 :: "r"(bar), "r"(parity) : "memory");
}
// A barrier among the producer threads only (named barrier 2; the consumers never meet at a barrier).
__device__ __forceinline__ void producer_sync() { asm volatile("bar.sync 2, %0;\n" :: "n"(Traits::kProducers) : "memory"); }

// The producer warpgroup's copy of one [kBlockN x kHeadDim] tile. A thread's 16-byte chunk column and its rows'
// swizzle phase are the same in every pass (the rows a pass covers, kProducers / kChunks, are a multiple of 8), so
// its addresses are a base plus a fixed step, and only a tile running past the limit checks rows. (Computing each
// copy's row, chunk and swizzle from scratch made the producer issue more instructions than both consumer
// warpgroups together, on the same schedulers.)
__device__ __forceinline__ void produce_tile(u32 smem, const u16* base, i64 row_stride, int row0, int limit, int lane) {
    constexpr int kRowsPerPass = Traits::kProducers / Traits::kChunks;
    constexpr int kPasses = Traits::kBlockN / kRowsPerPass;
    static_assert(kRowsPerPass % 8 == 0, "the swizzle phase must repeat every pass");
    const int r = lane / Traits::kChunks, c = lane % Traits::kChunks;
    const u32 dst = smem + swizzled(Traits::kBlockN, r, c);
    const u16* src = base + (i64)(row0 + r) * row_stride + c * 8;
    const i64 step = kRowsPerPass * row_stride;
    if (row0 + Traits::kBlockN <= limit) {
#pragma unroll
        for (int k = 0; k < kPasses; ++k) cp_async16(dst + k * kRowsPerPass * 128, src + k * step, 16);
    } else {
#pragma unroll
        for (int k = 0; k < kPasses; ++k) {
            const bool valid = row0 + r + k * kRowsPerPass < limit;
            cp_async16(dst + k * kRowsPerPass * 128, valid ? src + k * step : base, valid ? 16 : 0);
        }
    }
}

// The producer's store of one output tile, staged by the consumers in the swizzled layout of a Q buffer: its first
// `rows` rows to o, with the coalesced 16-byte writes of produce_tile's pattern.
__device__ __forceinline__ void store_tile(const unsigned char* tile, u16* o, i64 row_stride, int rows, int lane) {
    constexpr int kRowsPerPass = Traits::kProducers / Traits::kChunks;
    constexpr int kPasses = Traits::kBlockM / kRowsPerPass;
    const int r = lane / Traits::kChunks, c = lane % Traits::kChunks;
#pragma unroll 4
    for (int k = 0; k < kPasses; ++k) {
        const int row = r + k * kRowsPerPass;
        if (row < rows) {
            *reinterpret_cast<ag_u128*>(o + (i64)row * row_stride + c * 8) =
                *reinterpret_cast<const ag_u128*>(tile + swizzled(Traits::kBlockM, row, c));
        }
    }
}

// store_tile for an accumulating launch: each row joins the row already in o with the weights the producer worked out
// (w_new[row], w_old[row]; ag_blend_weights).
template <typename T>
__device__ __forceinline__ void blend_tile(const unsigned char* tile, const float* w_new, const float* w_old, u16* o, i64 row_stride, int rows, int lane) {
    constexpr int kRowsPerPass = Traits::kProducers / Traits::kChunks;
    constexpr int kPasses = Traits::kBlockM / kRowsPerPass;
    const int r = lane / Traits::kChunks, c = lane % Traits::kChunks;
    for (int k = 0; k < kPasses; ++k) {
        const int row = r + k * kRowsPerPass;
        if (row >= rows || w_new[row] == 0.f) continue;
        ag_u128 fresh = *reinterpret_cast<const ag_u128*>(tile + swizzled(Traits::kBlockM, row, c));
        ag_u128* const at = reinterpret_cast<ag_u128*>(o + (i64)row * row_stride + c * 8);
        if (w_old[row] != 0.f) {
            const ag_u128 old = *at;
            u32* const f = &fresh.x;
            const u32* const g = &old.x;
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                float a0, a1, b0, b1;
                T::unpack(f[i], a0, a1);
                T::unpack(g[i], b0, b1);
                f[i] = T::pack(w_new[row] * a0 + w_old[row] * b0, w_new[row] * a1 + w_old[row] * b1);
            }
        }
        *at = fresh;
    }
}

// Where an item is and where it writes, per item parity; producer thread 0 fills it in (the producer divides once
// for all) and q_full publishes it.
struct ItemSlot {
    int ticket, block, head, z;
    int rows;           // the item's query rows (at most kBlockM)
    int n, m;           // its problem's query and key rows (a segmented launch's view, which the consumers so skip)
    int next_ticket;    // the ticket producer 0 took early for the item after this one, or -1
    u16* o;             // the item's first output row
    float* lse;         // its first LSE, or null
};

// The launcher sizes shared memory from the contract's numbers (KernelContract.cs): hold the layout below to them.
static_assert(Traits::kBlockM == AG_CONTRACT_SM90_BLOCK_M && Traits::kBlockN == AG_CONTRACT_SM90_BLOCK_M, "tile rows differ from KernelContract.cs");
static_assert(Traits::kStages == AG_CONTRACT_SM90_STAGES, "K/V stages differ from KernelContract.cs");
static_assert(8 * (4 * Traits::kStages + 4) == AG_CONTRACT_SM90_M_BARRIER_BYTES, "mbarrier bytes differ from KernelContract.cs");
static_assert(2 * sizeof(ItemSlot) + 16 + 4 * 4 * Traits::kBlockM == AG_CONTRACT_SM90_ITEM_STATE_BYTES, "item state bytes differ from KernelContract.cs");

// Persistent: a CTA per SM takes work items (query block, head, problem) from a ticket counter until none are left.
// Tickets run through a head's query blocks heaviest first, head after head: CTAs running at once share K/V in L2,
// and the last items handed out are light ones.
// Items alternate between two Q buffers by the parity of `done` (a CTA's items so far; `it` counts its tiles, across
// items: the stage barriers' phases follow it). The producer runs an item ahead: while the consumers work on item d,
// it takes the next ticket, classifies that item's tiles (a flex plan) and loads its Q into the other buffer, then its
// K/V tiles as stages free up. The consumers stage item d's output in item d's own Q buffer, whose rows each consumer
// warpgroup has finished reading, and go straight on to item d + 1; the producer stores the tile to global memory
// before it loads item d + 2's Q there. A short item's prologue and epilogue so hide under its neighbours' tiles
// (sparse masks visit ~3 tiles per item); a short item of an unsegmented launch asks for the next ticket and stores the
// previous output already at its last tile. The ticket and plan of an item are double-buffered by the same parity.
template <typename T, bool kSegmented>
__device__ __forceinline__ void flash_fwd_sm90(const FlashParams& in) {
    extern __shared__ __align__(1024) unsigned char smem_raw[];
    const u32 base = (smem_addr(smem_raw) + 1023) & ~1023u;
    auto sQ = [&](int done) { return base + (done & 1) * Traits::kQBytes; };   // Q, then the staged O, per item parity
    const u32 sK = base + 2 * Traits::kQBytes;                    // kStages stages
    const u32 sV = sK + Traits::kStages * Traits::kTileBytes;     // kStages stages
    // K and V have barriers of their own: a stage's K is free once S = Q K^T is done, its V only after O += P V, which
    // overlaps the next tile's softmax.
    const u32 bars = sV + Traits::kStages * Traits::kTileBytes;   // full_k, full_v, empty_k, empty_v [kStages]; q_full, o_full [2]
    auto full_k = [&](int s) { return bars + 8 * s; };
    auto full_v = [&](int s) { return bars + 8 * (Traits::kStages + s); };
    auto empty_k = [&](int s) { return bars + 8 * (2 * Traits::kStages + s); };
    auto empty_v = [&](int s) { return bars + 8 * (3 * Traits::kStages + s); };
    auto q_full = [&](int done) { return bars + 8 * (4 * Traits::kStages + (done & 1)); };   // Q (and ticket, plan) loaded
    auto o_full = [&](int done) { return bars + 8 * (4 * Traits::kStages + 2 + (done & 1)); };   // O staged
    // Phase parity of an item's q_full / o_full: each barrier completes once per item of its parity.
    auto phase = [](int done) { return (done >> 1) & 1; };
    // Per item parity: its ItemSlot, the first and last tile a flex plan visits, its rows' LSEs as the consumers
    // computed them (then, in an accumulating launch, the rows' blend weights new and old), and a byte per key tile.
    unsigned char* const slots = smem_raw + (bars + 8 * (4 * Traits::kStages + 4) - smem_addr(smem_raw));
    auto item_slot = [&](int done) { return reinterpret_cast<ItemSlot*>(slots) + (done & 1); };
    auto plan_bounds = [&](int done) { return reinterpret_cast<int*>(slots + 2 * sizeof(ItemSlot)) + 2 * (done & 1); };
    auto row_stats = [&](int done) { return reinterpret_cast<float*>(slots + 2 * sizeof(ItemSlot) + 16) + (done & 1) * 2 * Traits::kBlockM; };
    auto plan_kinds = [&](int done) { return slots + 2 * sizeof(ItemSlot) + 16 + 4 * 4 * Traits::kBlockM + (done & 1) * in.plan_stride; };
    auto generic = [&](u32 addr) { return smem_raw + (addr - smem_addr(smem_raw)); };

    const int tid = threadIdx.x;
    const bool planned = ag_has_plan(in);
    const int items = in.m_blocks * in.q_heads * in.problems;
    if (tid == 0) {
        for (int s = 0; s < Traits::kStages; ++s) {
            mbar_init(full_k(s), Traits::kProducers);
            mbar_init(full_v(s), Traits::kProducers);
            mbar_init(empty_k(s), Traits::kConsumers);
            mbar_init(empty_v(s), Traits::kConsumers);
        }
        for (int d = 0; d < 2; ++d) {
            mbar_init(q_full(d), Traits::kProducers + 1);   // the Q copies, and the ticket and plan published by one producer thread
            mbar_init(o_full(d), Traits::kConsumers);
        }
    }
    __syncthreads();

    if (tid >= Traits::kConsumers) {
        // Producer warpgroup. It needs few registers; setmaxnreg hands them to the consumers, which hold S, P and O.
        asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n" ::: "memory");
        const int producer = tid - Traits::kConsumers;
        // Output rows are a segmented view's kept rows, rate tokens apart (ag_segment_view).
        const i64 o_row = kSegmented ? in.o_row * in.rate : in.o_row, lse_row = kSegmented ? in.lse_row * in.rate : in.lse_row;
        // Stores item d's output once the consumers have staged it (or blends it into the output, in an accumulating
        // launch; thread r works out row r's weights first); its buffer, slot and plan are then free for item d + 2.
        auto store_output = [&](int d) {
            mbar_wait(o_full(d), phase(d));
            const ItemSlot& item = *item_slot(d);
            float* const stats = row_stats(d);
            if (in.accumulate) {
                if (producer < item.rows) {
                    float* const at = item.lse + producer * lse_row;
                    const ag_blend w = ag_blend_weights(*at, stats[producer]);
                    *at = w.lse;
                    stats[producer] = w.w_new;
                    stats[Traits::kBlockM + producer] = w.w_old;
                }
                producer_sync();
                blend_tile<T>(generic(sQ(d)), stats, stats + Traits::kBlockM, item.o, o_row, item.rows, producer);
            } else {
                store_tile(generic(sQ(d)), item.o, o_row, item.rows, producer);
                if (item.lse && producer < item.rows) item.lse[producer * lse_row] = stats[producer];
            }
            producer_sync();   // every producer thread is done with the buffer and the slot before either is refilled
        };
        int done = 0, it = 0, stored = 0;
        if (producer == 0) item_slot(0)->next_ticket = item_slot(1)->next_ticket = -1;
        for (;;) {
            int ticket = 0;
            if (producer == 0 && !kSegmented) {
                // An early ticket lives in the previous item's slot, not in a register: the producer runs on 40.
                ItemSlot* const previous = item_slot(done + 1);
                ticket = previous->next_ticket;
                previous->next_ticket = -1;
                if (ticket < 0) ticket = atomicAdd(in.tickets, 1);
            } else if (producer == 0) {
                ticket = atomicAdd(in.tickets, 1);
            }
            if (stored + 2 <= done) store_output(stored++);
            ItemSlot* const slot = item_slot(done);
            int* const bounds = plan_bounds(done);
            if (producer == 0) {
                slot->ticket = ticket;
                bounds[0] = 0x7fffffff;
                bounds[1] = -1;
            }
            producer_sync();
            const int w = slot->ticket;
            if (w >= items) break;
            const int block = w % in.m_blocks, head = (w / in.m_blocks) % in.q_heads, z = w / (in.m_blocks * in.q_heads);
            const FlashParams p = kSegmented ? ag_segment_view(in, z, head) : in;
            const BlockInfo<Traits::kBlockM, Traits::kBlockN> info(p, AG_CAUSAL, planned, block, in.m_blocks, head, z);
            if (info.q0 >= p.n) {   // a segmented launch's short problem: never handed to the consumers
                producer_sync();    // every producer thread has read the slot before it is refilled
                continue;
            }

            // Q first: its copies land while the plan is classified (a short item's next Q is on the consumers' path).
            produce_tile(sQ(done), info.q, p.q_row, info.q0, p.n, producer);
            int first = info.first_tile, end = info.n_tiles;
            const unsigned char* kinds = plan_kinds(done);
            if (planned) {
                const int q1 = min(info.q0 + Traits::kBlockM, p.n);
                ag_classify_tiles<Traits::kBlockN, Traits::kProducers>(p, info.b, head, info.q0, q1, info.n_tiles, plan_kinds(done), bounds, producer, [] { producer_sync(); }, first, end);
            }
            auto next_tile = [&](int j) {
                while (planned && j < end && kinds[j] == AG_SKIP) ++j;
                return j;
            };

            if (producer == 0) {   // published with Q, by q_full
                slot->block = block;
                slot->head = head;
                slot->z = z;
                slot->rows = min(Traits::kBlockM, p.n - info.q0);
                slot->n = p.n;
                slot->m = p.m;
                slot->o = p.o + info.b * p.o_batch + head * p.o_head + info.q0 * p.o_row;
                slot->lse = p.lse ? p.lse + info.b * p.lse_batch + head * p.lse_head + info.q0 * p.lse_row : 0;
            }
            mbar_arrive_cp_async(q_full(done));
            if (producer == 0) mbar_arrive(q_full(done));
            // Short: up to 8 tiles (sparse masks visit ~3, LocalAttention's windows 6), where the early ticket measured
            // 3-6% faster. Segmented launches keep the plain order: the extra live state made their producer spill
            // twice as much (92 bytes), which cost more than it gained. Predicates rather than counters: the producer
            // runs on 40 registers.
            const bool short_item = !kSegmented && end - first <= 8;
            bool later = false;   // past the item's first tile
            for (int j = next_tile(first); j < end; j = next_tile(j + 1), ++it, later = true) {
                if (short_item && later && next_tile(j + 1) >= end) {
                    // The last tile of a short item with more than one: ask for the next ticket and store the previous
                    // item's output now, while this tile's stage frees, rather than after it (both sit on the path to
                    // the next item's Q, which bounds items of a few tiles).
                    if (producer == 0) item_slot(done)->next_ticket = atomicAdd(in.tickets, 1);
                    if (stored < done) store_output(stored++);
                }
                const int stage = it % Traits::kStages, freed = ((it / Traits::kStages) - 1) & 1;
                if (it >= Traits::kStages) mbar_wait(empty_k(stage), freed);
                produce_tile(sK + stage * Traits::kTileBytes, info.k, p.k_row, j * Traits::kBlockN, p.m, producer);
                mbar_arrive_cp_async(full_k(stage));
                if (it >= Traits::kStages) mbar_wait(empty_v(stage), freed);
                produce_tile(sV + stage * Traits::kTileBytes, info.v, p.v_row, j * Traits::kBlockN, p.m, producer);
                mbar_arrive_cp_async(full_v(stage));
            }
            ++done;
        }
        // No items left: the consumers see the spent ticket and leave, and the last staged outputs go out. The last CTA
        // out resets the counters, so the next launch on the stream starts from zero (every CTA has taken its last
        // ticket before it counts itself out).
        mbar_arrive(q_full(done));
        if (producer == 0) mbar_arrive(q_full(done));
        while (stored < done) store_output(stored++);
        if (producer == 0 && atomicAdd(in.tickets + 1, 1) == (int)gridDim.x - 1) {
            atomicExch(in.tickets, 0);
            atomicExch(in.tickets + 1, 0);
        }
        cp_async_wait_all();   // leave only after the last copies have landed
        return;
    }

    // Consumers: 2 warpgroups of 64 rows.
    asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n" ::: "memory");
    const int wg = tid / 128, warp = (tid % 128) / 32, lane = tid % 32;
    const int g = lane / 4, t = lane % 4;
    int done = 0, it = 0;
    for (;;) {
        mbar_wait(q_full(done), phase(done));
        const ItemSlot& item = *item_slot(done);
        if (item.ticket >= items) break;
        const int block = item.block, head = item.head, z = item.z;
        // The consumers read no pointer or stride of a segmented view, only its lengths, which the producer published.
        FlashParams p = in;
        if (kSegmented) {
            p.n = item.n;
            p.m = item.m;
        }
        const BlockInfo<Traits::kBlockM, Traits::kBlockN> info(p, AG_CAUSAL, planned, block, in.m_blocks, head, z);
        const int b = info.b, q0 = info.q0;
        const int q1 = min(q0 + Traits::kBlockM, p.n);
        const int wg_row0 = q0 + wg * 64;
        const int row_a = wg_row0 + warp * 16 + g, row_b = row_a + 8;
        const u32 tQ = sQ(done);

        fence_proxy_async();   // the producer's cp.async writes of Q, seen by the tensor cores
        int first = info.first_tile, end = info.n_tiles;
        const unsigned char* kinds = plan_kinds(done);
        if (planned) { first = plan_bounds(done)[0]; end = plan_bounds(done)[1] + 1; }
        auto next_tile = [&](int j) {
            while (planned && j < end && kinds[j] == AG_SKIP) ++j;
            return j;
        };

        // Software-pipelined over the item's tiles (FA3's intra-warpgroup overlap): S = Q K^T of tile j is issued
        // together with O += P V of the tile before it, and tile j's mask and softmax run while that P V is still on the
        // tensor cores; then the accumulator takes tile j's rescaling, ready for P_j V_j. The first tile and the last
        // P V are peeled off the loop, so ptxas sees one fixed pattern of wgmma groups and waits.
        float acc[Traits::kORegs];
#pragma unroll
        for (int i = 0; i < Traits::kORegs; ++i) acc[i] = 0.f;
        RowStats st = {{AG_NEG_INF, AG_NEG_INF}, {0.f, 0.f}};
        auto issue_s = [&](float* s, int tile_it) {
            const int stage = tile_it % Traits::kStages;
            mbar_wait(full_k(stage), (tile_it / Traits::kStages) & 1);
            fence_proxy_async();   // the producer's cp.async writes of K, seen by the tensor cores
            const u32 tK = sK + stage * Traits::kTileBytes;
            wgmma_fence();
#pragma unroll
            for (int ks = 0; ks < Traits::kKSteps; ++ks) {
                const u32 col = (ks % 4) * 32;
                u64 da = descriptor(tQ + (ks / 4) * Traits::kBlockM * 128 + wg * 64 * 128 + col, 16, 1024);
                u64 db = descriptor(tK + (ks / 4) * Traits::kBlockN * 128 + col, 16, 1024);
                T::ss(s, da, db, ks > 0);
            }
            wgmma_commit();
        };
        auto issue_pv = [&](const u32 (*pf)[4], int tile_it) {
            const int stage = tile_it % Traits::kStages;
            mbar_wait(full_v(stage), (tile_it / Traits::kStages) & 1);
            fence_proxy_async();   // the producer's cp.async writes of V, seen by the tensor cores
            const u32 tV = sV + stage * Traits::kTileBytes;
            wgmma_fence();   // a fence per group, as CUTLASS issues them: P and the accumulator were last set after S's fence
#pragma unroll
            for (int kk = 0; kk < Traits::kBlockN / 16; ++kk) {
                T::rs(acc, pf[kk], descriptor(tV + kk * 2048, Traits::kBlockN * 128, 1024));
            }
            wgmma_commit();
        };
        // Score mod, mask and softmax of tile j's scores: P in place of them, the accumulator's rescaling returned.
        auto softmax_tile = [&](float* s, int j) {
            const int n0 = j * Traits::kBlockN;
            const int kind = planned ? (int)kinds[j] : ag_tile_kind(p, b, head, q0, q1, 0, 0);
#ifdef AG_HAS_SCORE_MOD
            apply_score_mod<Traits::kSRegs>(p, s, n0, row_a, row_b, b, head, t);
#endif
            if (n0 + Traits::kBlockN > p.m || (AG_CAUSAL && n0 + Traits::kBlockN - 1 > wg_row0) || p.key_mask || kind == AG_PARTIAL) {
                mask_scores<Traits::kSRegs>(p, s, n0, row_a, row_b, b, head, t, AG_CAUSAL, kind == AG_PARTIAL);
            }
            // The accumulator is not free yet (the previous P V runs): the caller rescales it after the wait.
            return softmax_scores<Traits::kSRegs>(p, s, st, [](const Rescale&) {}, [&](int nt, float p0, float p1, float p2, float p3) {
                s[nt * 4 + 0] = p0;
                s[nt * 4 + 1] = p1;
                s[nt * 4 + 2] = p2;
                s[nt * 4 + 3] = p3;
            });
        };

        // P is packed into pf, the registers the P V reads, only once the previous P V is done: ptxas serializes every
        // wgmma when registers of one in flight are written.
        int j = next_tile(first);
        if (j < end) {
            u32 pf[Traits::kBlockN / 16][4];   // P of the tile whose P V is next
            {
                float s[Traits::kSRegs];
                issue_s(s, it);
                wgmma_wait<0>();
                fence_regs(s, Traits::kSRegs);
                mbar_arrive(empty_k(it % Traits::kStages));   // this thread is done with K of this stage
                softmax_tile(s, j);   // the first tile: the accumulator is still zero
                pack_probabilities<Traits::kSRegs, T>(s, pf);
            }
            int pending = it++;   // the tile of pf
            for (j = next_tile(j + 1); j < end; j = next_tile(j + 1), ++it) {
                float s[Traits::kSRegs];
                issue_s(s, it);
                issue_pv(pf, pending);
                wgmma_wait<1>();   // S is done; the P V may still run
                fence_regs(s, Traits::kSRegs);
                mbar_arrive(empty_k(it % Traits::kStages));
                const Rescale rescale = softmax_tile(s, j);
                wgmma_wait<0>();
                fence_regs(acc, Traits::kORegs);
                mbar_arrive(empty_v(pending % Traits::kStages));   // this thread is done with V of that stage
                rescale_acc<Traits::kORegs>(acc, rescale);
                pack_probabilities<Traits::kSRegs, T>(s, pf);
                pending = it;
            }
            issue_pv(pf, pending);
            wgmma_wait<0>();
            fence_regs(acc, Traits::kORegs);
            mbar_arrive(empty_v(pending % Traits::kStages));
        }

        // Epilogue: the normalized O goes into this item's Q buffer, over the warpgroup's own Q rows (its S GEMMs are
        // done), in the same swizzled layout (each 8x8 block's eight 16-byte rows then hit all 32 banks); the producer stores
        // the tile to global memory with coalesced 16-byte writes (the fragments' scattered 4-byte stores would
        // half-fill their sectors) while the consumers go on to the next item.
        fence_proxy_async();   // the tensor cores' reads of Q come before these writes
        u32 packed[Traits::kORegs / 2];
        float lse[2];
        finish_rows<Traits::kORegs, T>(acc, st, packed, lse);
        // stmatrix k writes columns 16k .. 16k + 15 of the warp's 16 rows as four 8x8 blocks (top left, bottom left, top
        // right, bottom right: the order of the packed fragments); lane L addresses row L % 8 of block L / 8.
        const int matrix = lane / 8, staged_row = wg * 64 + warp * 16 + (matrix % 2) * 8 + lane % 8;
#pragma unroll
        for (int k = 0; k < Traits::kORegs / 8; ++k) {
            stmatrix_x4(tQ + swizzled(Traits::kBlockM, staged_row, 2 * k + matrix / 2), &packed[4 * k]);
        }
        if (t == 0) {
            float* const stats = row_stats(done);
            stats[row_a - q0] = lse[0];
            stats[row_b - q0] = lse[1];
        }
        mbar_arrive(o_full(done));
        ++done;
    }
}

// One CTA per SM, so setmaxnreg can move registers from the producer to the consumers; the launcher sizes the grid to
// the SMs (or the items, when fewer).
extern "C" __global__ void __launch_bounds__(Traits::kThreads, 1) ag_flash_fwd_sm90_bf16(const FlashParams p) { flash_fwd_sm90<BF16, false>(p); }
extern "C" __global__ void __launch_bounds__(Traits::kThreads, 1) ag_flash_fwd_sm90_fp16(const FlashParams p) { flash_fwd_sm90<FP16, false>(p); }
// Segmented launches (ag_segment_view per item): dilated, strided and plain windows that are not whole tiles.
extern "C" __global__ void __launch_bounds__(Traits::kThreads, 1) ag_flash_fwd_sm90_bf16_segments(const FlashParams p) { flash_fwd_sm90<BF16, true>(p); }
extern "C" __global__ void __launch_bounds__(Traits::kThreads, 1) ag_flash_fwd_sm90_fp16_segments(const FlashParams p) { flash_fwd_sm90<FP16, true>(p); }
