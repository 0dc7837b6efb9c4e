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

// y[r, o] += bias[o] for a row-major [rows, out] result of a projection; y is float32 (0), bf16 (1) or fp16 (2).
struct BiasArgs { void* y; const float* bias; i64 n; int out; int dtype; };

extern "C" __global__ void ag_add_bias(const BiasArgs a) {
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < a.n; i += (i64)gridDim.x * blockDim.x) {
        const float b = a.bias[i % a.out];
        if (a.dtype == 0) {
            ((float*)a.y)[i] += b;
        } else if (a.dtype == 1) {
            u16* y = (u16*)a.y;
            const float sum = __int_as_float(((u32)y[i]) << 16) + b;
            asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(y[i]) : "f"(sum));
        } else {
            u16* y = (u16*)a.y;
            float f;
            asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(y[i]));
            asm("cvt.rn.f16.f32 %0, %1;" : "=h"(y[i]) : "f"(f + b));
        }
    }
}

// torchscale's XPOS in place on a contiguous [B, H, N, E] bf16/fp16 tensor (is_fp16), one thread per (row, pair):
// pairs (2i, 2i+1) rotate by t·10000^(−2i/E) and scale by ((2i + 0.4E)/(1.4E))^((t + floor(−N/2)) / scale_base),
// divided instead for keys; float32 angles and scales as Variants/Xpos.cs computes them on the CPU.
struct XposArgs { void* x; i64 rows; int n, e, downscale, is_fp16; float scale_base; };

__device__ __forceinline__ float ag_half_load(u16 x, int is_fp16) {
    if (!is_fp16) return __int_as_float(((u32)x) << 16);
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(x));
    return f;
}
__device__ __forceinline__ u16 ag_half_store(float f, int is_fp16) {
    u16 r;
    if (is_fp16) asm("cvt.rn.f16.f32 %0, %1;" : "=h"(r) : "f"(f));
    else asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(r) : "f"(f));
    return r;
}

extern "C" __global__ void ag_xpos(const XposArgs a) {
    const int half = a.e / 2;
    const int min_pos = -((a.n + 1) / 2);   // floor(-N / 2)
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < a.rows * half; i += (i64)gridDim.x * blockDim.x) {
        const i64 row = i / half;
        const int pair = (int)(i % half), t = (int)(row % a.n);
        const float inv_freq = 1.f / powf(10000.f, (float)pair / half);
        const float angle = t * inv_freq;
        float scale = powf((2.f * pair + 0.4f * a.e) / (1.4f * a.e), (float)(t + min_pos) / a.scale_base);
        if (a.downscale) scale = 1.f / scale;
        const float c = (float)cos((double)angle) * scale, s = (float)sin((double)angle) * scale;
        u16* x = (u16*)a.x + row * a.e + 2 * pair;
        const float even = ag_half_load(x[0], a.is_fp16), odd = ag_half_load(x[1], a.is_fp16);
        x[0] = ag_half_store(even * c - odd * s, a.is_fp16);
        x[1] = ag_half_store(odd * c + even * s, a.is_fp16);
    }
}
