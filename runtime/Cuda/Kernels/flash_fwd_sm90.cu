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

// The pieces, the way FlashAttention-3 splits its own kernel:
//   sm90_primitives.inc     fences, wgmma, swizzle, descriptors, mbarriers, the element types
//   sm90_tiles.inc          the producer's tile copies in and out of shared memory
//   sm90_shared_layout.inc  where everything lives in shared memory (held to KernelContract.cs)
//   sm90_scheduler.inc      the persistent tile scheduler (tickets)
//   sm90_producer.inc       the producer warpgroup: Q, K, V in; staged O out
//   sm90_consumer.inc       the consumer warpgroups: the pipelined mainloop, then the softmax epilogue
#include "sm90_primitives.inc"
#include "sm90_tiles.inc"
#include "sm90_shared_layout.inc"
#include "sm90_scheduler.inc"
#include "sm90_producer.inc"
#include "sm90_consumer.inc"

// Persistent: a CTA per SM takes items from the scheduler until none are left. Items alternate between two Q buffers
// by the parity of `done` (a CTA's items so far), and so do their ticket, plan and staged output: the producer runs an
// item ahead of the consumers (sm90_producer.inc), which never meet it at a barrier.
template <typename T, bool kSegmented>
__device__ __forceinline__ void flash_fwd_sm90(const FlashParams& in) {
    extern __shared__ __align__(1024) unsigned char smem_raw[];
    const SharedLayout sm(smem_raw, in.plan_stride);
    const bool planned = ag_has_plan(in);
    if (threadIdx.x == 0) {
        for (int s = 0; s < Traits::kStages; ++s) {
            mbar_init(sm.full_k(s), Traits::kProducers);
            mbar_init(sm.full_v(s), Traits::kProducers);
            mbar_init(sm.empty_k(s), Traits::kConsumers);
            mbar_init(sm.empty_v(s), Traits::kConsumers);
        }
        for (int d = 0; d < 2; ++d) {
            mbar_init(sm.q_full(d), Traits::kProducers + 1);   // the Q copies, and the ticket and plan published by one producer thread
            mbar_init(sm.o_full(d), Traits::kConsumers);
        }
    }
    __syncthreads();

    if (threadIdx.x >= Traits::kConsumers) {
        producer_warpgroup<T, kSegmented>(in, sm, planned);
    } else {
        consumer_warpgroup<T, kSegmented>(in, sm, planned);
    }
}


// One CTA per SM, so setmaxnreg can move registers from the producer to the consumers; the launcher sizes the grid to
// the SMs (or the items, when fewer).
extern "C" __global__ void __launch_bounds__(Traits::kThreads, 1) ag_flash_fwd_sm90_bf16(const FlashParams p) { flash_fwd_sm90<BF16, false>(p); }
extern "C" __global__ void __launch_bounds__(Traits::kThreads, 1) ag_flash_fwd_sm90_fp16(const FlashParams p) { flash_fwd_sm90<FP16, false>(p); }
// Segmented launches (ag_segment_view per item): dilated, strided and plain windows that are not whole tiles.
extern "C" __global__ void __launch_bounds__(Traits::kThreads, 1) ag_flash_fwd_sm90_bf16_segments(const FlashParams p) { flash_fwd_sm90<BF16, true>(p); }
extern "C" __global__ void __launch_bounds__(Traits::kThreads, 1) ag_flash_fwd_sm90_fp16_segments(const FlashParams p) { flash_fwd_sm90<FP16, true>(p); }
