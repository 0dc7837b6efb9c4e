// The q/k RMSNorm and rotary embedding of a decoder layer on a GPU (DecoderAttentionModule), in place on bf16/fp16 rows:
// the CPU's HeadRmsNorm and Rope, in float32 with rotate_half pairing (element i turns with i + D/2), each angle's cosine
// and sine taken in double as Math.Cos and Math.Sin take them (positions reach thousands of radians).
#include "half_bits.inc"

// Mirrored by RotaryParams in DecoderAttentionModule.Gpu.cs.
struct RotaryParams {
    u16* x;                    // [tokens, heads, dim]
    const float* norm;         // [dim] q_norm or k_norm weight, or null (no q/k norm)
    const float* inv_freq;     // [dim / 2]
    const int* positions;      // [tokens], or [length] for every batch row
    int tokens, length, heads, dim, per_token_positions, is_fp16;
    float eps, weight_offset;
};

// A warp per (token, head): the row's mean square (with a norm), then each lane its pairs (i, i + D/2).
extern "C" __global__ void ag_norm_rope(const RotaryParams p) {
    const long long row = (long long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    const int lane = threadIdx.x & 31;
    if (row >= (long long)p.tokens * p.heads) return;
    const int token = (int)(row / p.heads), half = p.dim / 2;
    u16* x = p.x + row * p.dim;
    float inverse_rms = 1.f;
    if (p.norm) {
        double squares = 0.0;
        for (int d = lane; d < p.dim; d += 32) {
            const double value = ag_half_load(x[d], p.is_fp16);
            squares += value * value;
        }
        for (int o = 16; o > 0; o >>= 1) squares += __shfl_xor_sync(0xffffffffu, squares, o);
        const float variance = (float)(squares / p.dim);
        inverse_rms = (float)(1.0 / sqrt((double)(variance + p.eps)));
    }
    const float position = (float)p.positions[p.per_token_positions ? token : token % p.length];
    for (int i = lane; i < half; i += 32) {
        float a = ag_half_load(x[i], p.is_fp16), b = ag_half_load(x[i + half], p.is_fp16);
        if (p.norm) {
            a = a * inverse_rms * (p.weight_offset + p.norm[i]);
            b = b * inverse_rms * (p.weight_offset + p.norm[i + half]);
        }
        const float angle = p.inv_freq[i] * position;
        const float c = (float)cos((double)angle), s = (float)sin((double)angle);
        x[i] = ag_half_store(a * c - b * s, p.is_fp16);
        x[i + half] = ag_half_store(b * c + a * s, p.is_fp16);
    }
}
