// Element-wise steps on the GPU: the bias of a projection, torchscale's XPOS rotation, and a finite-values check.
// Like every AttentionGen kernel, each takes one by-value argument struct.
#include "half_bits.inc"

// y[r, o] += bias[o] for a row-major [rows, out] result of a projection; y is float32 (0), bf16 (1) or fp16 (2).
struct BiasArgs { void* y; const float* bias; i64 n; int out; int dtype; };

extern "C" __global__ void ag_add_bias(const BiasArgs a) {
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < a.n; i += (i64)gridDim.x * blockDim.x) {
        const float b = a.bias[i % a.out];
        if (a.dtype == 0) {
            ((float*)a.y)[i] += b;
        } else {
            u16* y = (u16*)a.y;
            y[i] = ag_half_store(ag_half_load(y[i], a.dtype == 2) + b, a.dtype == 2);
        }
    }
}

// torchscale's XPOS in place on a contiguous [B, H, N, E] bf16/fp16 tensor (is_fp16), one thread per (row, pair):
// pairs (2i, 2i+1) rotate by t·10000^(−2i/E) and scale by ((2i + 0.4E)/(1.4E))^((t + floor(−L/2)) / scale_base),
// divided instead for keys; float32 angles and scales as Variants/Xpos.cs computes them on the CPU. Row r of a head is
// token t = first + r of a sequence of L = length tokens (first 0 and L = N but for a rank's block of a longer sequence).
struct XposArgs { void* x; i64 rows; int n, e, downscale, is_fp16; float scale_base; int first, length; };

extern "C" __global__ void ag_xpos(const XposArgs a) {
    const int half = a.e / 2;
    const int min_pos = -((a.length + 1) / 2);   // floor(-L / 2)
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < a.rows * half; i += (i64)gridDim.x * blockDim.x) {
        const i64 row = i / half;
        const int pair = (int)(i % half), t = a.first + (int)(row % a.n);
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

// flag[0] = 1 when any of the n elements of x (float32 0, bf16 1, fp16 2) is NaN or infinite: its exponent all ones.
// x is read 16 bytes a load when `vector` (16-byte aligned, n a whole number of loads), else an element a load; every
// writer writes the same value.
struct FiniteArgs { const void* x; i64 n; int dtype; int vector; float* flag; };

__device__ __forceinline__ bool ag_word_nonfinite(u32 w, int dtype) {
    if (dtype == 0) return (w & 0x7f800000u) == 0x7f800000u;
    const u32 m = dtype == 1 ? 0x7f80u : 0x7c00u;
    return (w & m) == m || ((w >> 16) & m) == m;
}

extern "C" __global__ void ag_any_nonfinite(const FiniteArgs a) {
    bool bad = false;
    const i64 stride = (i64)gridDim.x * blockDim.x;
    if (a.vector) {
        const uint4* x = (const uint4*)a.x;
        const i64 loads = a.n * (a.dtype == 0 ? 4 : 2) / 16;
        for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < loads; i += stride) {
            const uint4 w = x[i];
            bad |= ag_word_nonfinite(w.x, a.dtype) || ag_word_nonfinite(w.y, a.dtype) || ag_word_nonfinite(w.z, a.dtype) || ag_word_nonfinite(w.w, a.dtype);
        }
    } else {
        for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < a.n; i += stride) {
            bad |= ag_word_nonfinite(a.dtype == 0 ? ((const u32*)a.x)[i] : ((const u16*)a.x)[i], a.dtype);
        }
    }
    if (bad) a.flag[0] = 1.f;
}
