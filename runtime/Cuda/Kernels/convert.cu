// Element conversions between float32 and bfloat16 on the GPU, for float32 inputs of bf16 kernels.
// Like every AttentionGen kernel, each takes one by-value argument struct.
typedef unsigned short u16;
typedef unsigned int u32;
typedef long long i64;

struct ConvertArgs { const void* in; void* out; i64 n; };

extern "C" __global__ void ag_f32_to_bf16(const ConvertArgs a) {
    const float* in = (const float*)a.in;
    u16* out = (u16*)a.out;
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < a.n; i += (i64)gridDim.x * blockDim.x) {
        u32 packed;
        asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(packed) : "f"(0.f), "f"(in[i]));
        out[i] = (u16)(packed & 0xffff);
    }
}

extern "C" __global__ void ag_bf16_to_f32(const ConvertArgs a) {
    const u16* in = (const u16*)a.in;
    float* out = (float*)a.out;
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < a.n; i += (i64)gridDim.x * blockDim.x) {
        out[i] = __int_as_float(((u32)in[i]) << 16);
    }
}

// A strided view of up to four dimensions copied into row-major order, on the device (same dtype): what makes
// Contiguous() of a GPU view (MergeHeads, Narrow, Transpose) a kernel instead of a trip through host memory.
struct CopyArgs { const void* in; void* out; i64 n; i64 sizes[4]; i64 strides[4]; int element_bytes; };

extern "C" __global__ void ag_strided_copy(const CopyArgs a) {
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < a.n; i += (i64)gridDim.x * blockDim.x) {
        i64 rest = i, from = 0;
        for (int d = 3; d >= 0; --d) {
            from += (rest % a.sizes[d]) * a.strides[d];
            rest /= a.sizes[d];
        }
        if (a.element_bytes == 4) ((u32*)a.out)[i] = ((const u32*)a.in)[from];
        else if (a.element_bytes == 2) ((u16*)a.out)[i] = ((const u16*)a.in)[from];
        else ((unsigned char*)a.out)[i] = ((const unsigned char*)a.in)[from];
    }
}
