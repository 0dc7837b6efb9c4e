// A piece of a segmented launch (dilated and strided variants, SPEC §2, §3) around the FlashAttention kernels, which
// read and write the kept rows in place (ag_segment_view): the LSE of rows no branch keeps.
typedef long long i64;

// Mirrored by FillParams in SegmentedAttentionCuda.cs.
struct FillParams {
    float* lse;
    i64 count;
};

// lse[i] = -inf: a row is -inf until some branch computes it.
extern "C" __global__ void ag_fill_neg_inf(const FillParams p) {
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < p.count; i += (i64)gridDim.x * blockDim.x) {
        p.lse[i] = -__int_as_float(0x7f800000);
    }
}
