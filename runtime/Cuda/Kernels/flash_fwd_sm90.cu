// FlashAttention forward on Hopper (sm_90a) with wgmma, warp-specialized: five tile shapes, for head dims up to 64, 96,
// 128, 192 and 256 (Traits below).
// A producer warpgroup streams Q and K/V tiles into shared memory with cp.async and signals "full" mbarriers; the
// consumer warpgroups wait on them and release buffers through "empty" mbarriers, so they never meet at a
// __syncthreads and drift apart: one warpgroup's softmax overlaps the other's GEMMs. Within a warpgroup, a tile's
// softmax overlaps the previous tile's O += P V (see the consumer loop).
// The specialization header defines AG_HEAD_DIM and AG_CAUSAL. AG_HEAD_DIM is a multiple of 16 (the GEMMs' k-step);
// a head dim that is a multiple of 8 only comes as AG_HEAD_DIM 16 above it plus AG_REAL_HEAD_DIM, and the columns past
// the real ones are zeros in shared memory (never read from global memory) that are never stored.
//
// One CTA per SM = 2 (3 at head dim 64) consumer warpgroups of 64 query rows each and a producer warpgroup, persistent
// over query blocks of 128 (192) rows (see flash_fwd_sm90 below). K/V tiles of 128 keys (96 at 192, 64 at 256) stream
// through shared memory, double-buffered with cp.async, in the 128-byte-swizzled layout the tensor cores read through
// matrix descriptors.
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

static_assert(AG_HEAD_DIM % 16 == 0 && AG_HEAD_DIM >= 16 && AG_HEAD_DIM <= 256, "the wgmma kernel takes tile head dims that are multiples of 16 up to 256");

// The launcher sizes the grid and shared memory from the contract's numbers for each shape (KernelContract.cs's
// Sm90Shapes, generated into sm90_contract.inc as AG_CONTRACT_SM90_D<shape>_*), and the header also picks the shape a
// tile head dim runs, AG_SM90_SHAPE: the first at or above it (KernelContract.Sm90). Every tile head dim of a shape has
// the shape's columns in shared memory (whole 64-column blocks), so the contract's numbers for the shape hold for all
// of them; sm90_shared_layout.inc holds the layout to them.
#include "sm90_contract.inc"

// The tile shape per head dim (and for the tile head dims below it, down to the next shape's), after
// FlashAttention-3's choices: consumer warpgroups of 64 query rows each, keys per tile, K/V stages, Q buffers, the
// registers setmaxnreg gives the producer and each consumer thread (one CTA per SM: at most 65536 in all), and how
// many of the softmax's score fragments take one exponential on the FMA pipes (poly_exp2) for each fragment's worth
// on the multi-function unit (0: none). Enumerators, not static members: NVRTC 11 emits a global for each static
// member, and the head-dim-128 kernel's PTX stays byte for byte what it was before shapes per head dim.
//   64   3 consumer warpgroups (192 query rows), which read each K/V tile for 1.5 times the rows; S, P and O (64 + 32
//        + 32 registers) fit in 160. Key tiles stay at 128: FA3 takes 192 without a causal mask, but passes P through
//        shared memory to fit its registers, and P stays in registers here.
//   96   head dim 128's shape: its rows sit in shared memory padded to 128 columns (the swizzle's 64-column blocks), of
//        which S = Q K^T reads 96 (6 k-steps) and O += P V writes 96 (an m64n96 wgmma); the padding is never copied.
//   192  three 64-column blocks; 96-key tiles (FA3: 112) and a single Q buffer (48 KB) beside two K/V stages (144 KB):
//        the other head dims' 192 KB, so a flex plan may cover as many key tiles.
//   256  O is 128 registers; 64-key tiles (FA3: 80) and a single Q buffer (64 KB) leave two K/V stages in 227 KB. With
//        one Q buffer (192 too) the producer loads an item's Q only once the item before it is stored.
template <int kHeadDim>
struct Sm90Shape;
template <>
struct Sm90Shape<64> {
    enum : int { kWarpGroups = 3, kBlockN = 128, kStages = 2, kQBuffers = 2, kProducerRegisters = 32, kConsumerRegisters = 160, kPolyExp2Every = 0 };
};
template <>
struct Sm90Shape<96> {
    enum : int { kWarpGroups = 2, kBlockN = 128, kStages = 2, kQBuffers = 2, kProducerRegisters = 40, kConsumerRegisters = 232, kPolyExp2Every = 0 };
};
template <>
struct Sm90Shape<128> {
    enum : int { kWarpGroups = 2, kBlockN = 128, kStages = 2, kQBuffers = 2, kProducerRegisters = 40, kConsumerRegisters = 232, kPolyExp2Every = 0 };
};
template <>
struct Sm90Shape<192> {
    enum : int { kWarpGroups = 2, kBlockN = 96, kStages = 2, kQBuffers = 1, kProducerRegisters = 40, kConsumerRegisters = 232, kPolyExp2Every = 0 };
};
template <>
struct Sm90Shape<256> {
    enum : int { kWarpGroups = 2, kBlockN = 64, kStages = 2, kQBuffers = 1, kProducerRegisters = 40, kConsumerRegisters = 232, kPolyExp2Every = 0 };
};

struct Traits {
    using Shape = Sm90Shape<AG_SM90_SHAPE>;
    static constexpr int kHeadDim = AG_HEAD_DIM;         // the tile head dim: the GEMMs' width
    static constexpr int kWarpGroups = Shape::kWarpGroups;   // consumer warpgroups, 64 query rows each
    static constexpr int kConsumers = kWarpGroups * 128;
    static constexpr int kProducers = 128;                // one producer warpgroup
    static constexpr int kThreads = kConsumers + kProducers;
    static constexpr int kStages = Shape::kStages;       // K/V stages in flight (the launcher sizes shared memory)
    static constexpr int kBlockM = kWarpGroups * 64;     // query rows per CTA
    static constexpr int kBlockN = Shape::kBlockN;       // keys per tile
    static constexpr int kSharedDim = (kHeadDim + 63) / 64 * 64;   // a row's columns in shared memory: whole 64-column blocks
    static constexpr int kChunks = kHeadDim / 8;         // 16-byte chunks per row
    static constexpr int kRealChunks = AG_REAL_HEAD_DIM / 8;   // the chunks global memory holds; the rest are zeros
    // The chunks per row a copy pass assigns threads to: kChunks rounded up to a power of two, so that a pass covers
    // whole rows (threads past kChunks idle: 96 and 192).
    static constexpr int kPassChunks = kChunks <= 8 ? 8 : kChunks <= 16 ? 16 : 32;
    static constexpr int kKSteps = kHeadDim / 16;        // k-steps of S = Q K^T
    static constexpr int kSRegs = kBlockN / 2;           // S accumulator floats per thread (m64nN)
    static constexpr int kORegs = kHeadDim / 2;          // O accumulator floats per thread (m64nD)
    static constexpr int kQBytes = kBlockM * kSharedDim * 2;
    static constexpr int kTileBytes = kBlockN * kSharedDim * 2;
};
static_assert(Traits::kBlockN == 64 || Traits::kBlockN == 96 || Traits::kBlockN == 128, "S = Q K^T is one m64n64, m64n96 or m64n128 wgmma per k-step");
static_assert(Traits::Shape::kQBuffers == 1 || Traits::Shape::kQBuffers == 2, "one or two Q buffers");
// setmaxnreg takes multiples of 8 from 24 to 256, and one CTA's threads share the SM's 65536 registers.
static_assert(Traits::Shape::kProducerRegisters % 8 == 0 && Traits::Shape::kConsumerRegisters % 8 == 0 && Traits::Shape::kProducerRegisters >= 24 && Traits::Shape::kConsumerRegisters <= 256, "setmaxnreg takes multiples of 8 from 24 to 256");
static_assert(Traits::Shape::kProducerRegisters * Traits::kProducers + Traits::Shape::kConsumerRegisters * Traits::kConsumers <= 65536, "the register split exceeds the SM's 65536 registers");

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
// (but at head dims 192 and 256, one) by the parity of `done` (a CTA's items so far), and so do their ticket, plan and staged
// output: the producer runs an item ahead of the consumers (sm90_producer.inc), which never meet it at a barrier.
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
