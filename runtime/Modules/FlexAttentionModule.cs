using System;
using AttentionGen.Cpu;
using AttentionGen.Masks;

namespace AttentionGen.Modules;

/// <summary>
/// The module behind <c>[Flex]</c> (SPEC §5): attention over q, k and v with the class's <c>[MaskMod]</c> and
/// <c>[ScoreMod]</c> compiled into the kernel. The generated partial class derives from it and supplies
/// <see cref="Attend"/>, which calls the tiled kernel specialized on structs that call the mods, so the JIT/AOT
/// compiler inlines them. This version runs on the CPU; the mods' CUDA translation is the GPU side of SPEC §5.
/// </summary>
public abstract class FlexAttentionModule
{
    /// <summary>The block size of the attribute (rows and keys per block-mask block).</summary>
    protected FlexAttentionModule(int blockSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockSize);
        BlockSize = blockSize;
    }

    /// <summary>Rows and keys per block of the block mask, as the attribute declared.</summary>
    public int BlockSize { get; }

    /// <summary>
    /// flex_attention(q [B, Hq, L, E], k [B, Hkv, S, E], v [B, Hkv, S, Ev]): the score mod applied to each scaled
    /// score, then the mask mod (false = masked), then the softmax. Hq != Hkv needs <paramref name="enableGqa"/>
    /// (query head h reads kv head h / (Hq / Hkv)). Returns the output in q's dtype and the LSE (natural log,
    /// -inf for a row whose keys are all masked, whose output is 0). A <paramref name="blockMask"/> (built from this
    /// class's mask mod, or any coarser one) restricts the visited blocks; its full blocks skip the mask mod.
    /// </summary>
    public AttentionOutput Forward(Tensor q, Tensor k, Tensor v, float? scale = null, bool enableGqa = false, BlockMask? blockMask = null)
    {
        FlexAttention.CheckOperands(q, k, v, enableGqa, blockMask, "[Flex] modules");
        return Attention.Run(q, k, v, keyPaddingMask: null, scale, BlockSize, BlockSize, problem => Attend(problem, blockMask));
    }

    /// <summary>True when the generator recognised the mask mod and compiled its tile plan in closed form (no block mask needed).</summary>
    public virtual bool HasClosedFormPlan => false;

    /// <summary>Runs the kernel specialized on this class's mods, following <paramref name="blockMask"/>'s blocks when given.</summary>
    protected abstract void Attend(AttentionProblem problem, BlockMask? blockMask);
}
