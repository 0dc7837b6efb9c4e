// Builds a BlockMask on the GPU: one CTA per (key block, query block, batch x head) counts the pairs the mask mod
// allows (ag_mask_mod from the specialization header; every pair without one) and stores the block's state:
// 0 none, 1 some, 2 all. Blocks cut by the sequence end are never full, as in PyTorch, which pads with masked pairs.

// Mirrored by BlockMaskParams in BlockMaskCuda.cs.
struct BlockMaskParams {
    unsigned char* states;   // [B, H, Qb, KVb]
    const float* table;      // the mod's capture (AG_MASK_TABLE_MOD reads p.table), or null
    int heads, n, m, q_block, k_block, q_blocks, k_blocks;
};

extern "C" __global__ void ag_build_block_mask(const BlockMaskParams p) {
    __shared__ int allowed;
    unsigned char* states = p.states;
    const int heads = p.heads, n = p.n, m = p.m, q_block = p.q_block, k_block = p.k_block, q_blocks = p.q_blocks, k_blocks = p.k_blocks;
    const int kb = blockIdx.x, qb = blockIdx.y, bh = blockIdx.z;
    const int b = bh / heads, h = bh % heads;
    if (threadIdx.x == 0) allowed = 0;
    __syncthreads();
    int count = 0;
    for (int i = threadIdx.x; i < q_block * k_block; i += blockDim.x) {
        const int q = qb * q_block + i / k_block, kv = kb * k_block + i % k_block;
        if (q < n && kv < m) {
#if defined(AG_MASK_TABLE_MOD)
            count += AG_MASK_TABLE_MOD(p, b, h, q, kv) ? 1 : 0;
#elif defined(AG_HAS_MASK_MOD)
            count += ag_mask_mod(b, h, q, kv) ? 1 : 0;
#else
            count += 1;
#endif
        }
    }
    atomicAdd(&allowed, count);
    __syncthreads();
    if (threadIdx.x == 0) {
        states[((long long)bh * q_blocks + qb) * k_blocks + kb] = allowed == 0 ? 0 : allowed == q_block * k_block ? 2 : 1;
    }
}
