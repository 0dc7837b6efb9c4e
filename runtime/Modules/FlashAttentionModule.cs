using System;
using AttentionGen.Cpu;

namespace AttentionGen.Modules;

/// <summary>
/// The module behind <c>[FlashAttention]</c> (SPEC §1): to_q, to_kv and to_out projections without bias
/// around the tiled attention kernel. The generated partial class derives from it and supplies
/// <see cref="Attend"/>, the kernel specialized to the attribute's constants.
/// </summary>
public abstract partial class FlashAttentionModule
{
    /// <summary>Takes the weights in PyTorch's layout: toQ [H·E, Dim], toKv [2·H·E, Dim] (K then V), toOut [Dim, H·E].</summary>
    protected FlashAttentionModule(FlashAttentionConfig config, Tensor toQ, Tensor toKv, Tensor toOut)
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
        ToQ = new Linear(Round(toQ), config.Dim, config.InnerDim, nameof(toQ));
        ToKv = new Linear(Round(toKv), config.Dim, 2 * config.InnerDim, nameof(toKv));
        ToOut = new Linear(Round(toOut), config.InnerDim, config.Dim, nameof(toOut));
    }

    /// <summary>Random weights drawn like PyTorch's default initialisation, reproducible from <paramref name="seed"/>.</summary>
    protected FlashAttentionModule(FlashAttentionConfig config, int seed)
        : this(config, RandomWeights(config, seed))
    {
    }

    private FlashAttentionModule(FlashAttentionConfig config, (Tensor Q, Tensor Kv, Tensor Out) w)
        : this(config, w.Q, w.Kv, w.Out)
    {
    }

    /// <summary>The constants this module was declared with.</summary>
    public FlashAttentionConfig Config { get; }

    /// <summary>Where <see cref="Forward"/> runs: the device of the inputs it accepts.</summary>
    public Device Device { get; private set; } = Device.Cpu;

    /// <summary>
    /// Moves the module to <paramref name="device"/> and returns it, like PyTorch's <c>module.to(device)</c>:
    /// the weights are copied there (in bfloat16 and float16 on first use of each). Inputs must then be on
    /// that device. Moving to a GPU needs CUDA; without it the call throws and the module stays where it was.
    /// </summary>
    public FlashAttentionModule To(Device device)
    {
        if (device.Kind == DeviceKind.Cuda)
        {
            foreach (Linear linear in new[] { ToQ, ToKv, ToOut })
            {
                linear.Prepare(device, DType.BFloat16);
            }
        }

        Device = device;
        return this;
    }

    /// <summary>to_q: Dim → Heads·DimHead.</summary>
    public Linear ToQ { get; private set; }

    /// <summary>to_kv: Dim → 2·Heads·DimHead, keys first.</summary>
    public Linear ToKv { get; private set; }

    /// <summary>to_out: Heads·DimHead → Dim.</summary>
    public Linear ToOut { get; private set; }

    /// <summary>
    /// x [B, N, Dim] attends to <paramref name="context"/> [B, M, Dim] (x itself when null);
    /// <paramref name="mask"/> [B, M] bool keeps the true keys. Per-call buckets override the attribute's.
    /// Returns [B, N, Dim] in the dtype of x.
    /// </summary>
    public Tensor Forward(Tensor x, Tensor? context = null, Tensor? mask = null, int? qBucket = null, int? kBucket = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        CheckInput(x, nameof(x));
        if (context is not null)
        {
            CheckInput(context, nameof(context));
            ShapeCheck.Dim(context, 0, x.Size(0), "batch, as x", nameof(context));
        }

        int qb = qBucket ?? Config.QBucket, kb = kBucket ?? Config.KBucket;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(qb, nameof(qBucket));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kb, nameof(kBucket));
        ShapeCheck.OnDevice(x, Device, nameof(x));
        if (context is not null)
        {
            ShapeCheck.OnDevice(context, Device, nameof(context));
        }

        bool onGpu = Device.Kind == DeviceKind.Cuda;
        DType compute = Attention.ComputeType(x);
        int inner = Config.InnerDim;
        Tensor xc = Attention.Convert(x, compute);
        Tensor q = ToQ.Apply(xc);
        Tensor kv = ToKv.Apply(context is null ? xc : Attention.Convert(context, compute));
        Tensor heads = Tensor.Zeros(compute, Device, x.Size(0), x.Size(1), inner);

        // q, k and v are strided views of the projections; the problem validates the mask against [B, M]
        // before any output is written.
        var problem = new AttentionProblem(
            q.SplitHeads(Config.Heads),
            kv.Narrow(2, 0, inner).SplitHeads(Config.Heads),
            kv.Narrow(2, inner, inner).SplitHeads(Config.Heads),
            heads.SplitHeads(Config.Heads),
            lse: null,
            keyPaddingMask: mask,
            scale: 1f / MathF.Sqrt(Config.DimHead),
            queryTile: qb,
            keyTile: kb);
        if (onGpu)
        {
            Cuda.FlashAttentionCuda.Forward(problem, Config.Causal, CudaHeader);
        }
        else
        {
            Attend(problem);
        }

        return Attention.Convert(ToOut.Apply(heads), x.DType);
    }

    /// <summary>Runs the attention kernel specialized for this module's mask and score.</summary>
    protected abstract void Attend(AttentionProblem problem);

    /// <summary>The specialization header of this module's GPU kernel; the generator writes it for each class.</summary>
    protected virtual string CudaHeader => Cuda.CudaSpecialization.FlashAttention(Config.DimHead, Config.Causal);

    private void CheckInput(Tensor t, string name)
    {
        ShapeCheck.Rank(t, 3, $"[B, N, {Config.Dim}]", name);
        ShapeCheck.FloatingPoint(t, name);
        ShapeCheck.Dim(t, 2, Config.Dim, "Dim", name);
    }

    // Linear reports a null weight by its parameter name.
    private Tensor Round(Tensor w) => Config.MixedPrecision ? w?.To(DType.BFloat16)! : w;

    private static (Tensor, Tensor, Tensor) RandomWeights(FlashAttentionConfig config, int seed)
    {
        ArgumentNullException.ThrowIfNull(config);
        var random = new Random(seed);
        return (
            Linear.RandomWeight(random, config.Dim, config.InnerDim),
            Linear.RandomWeight(random, config.Dim, 2 * config.InnerDim),
            Linear.RandomWeight(random, config.InnerDim, config.Dim));
    }
}
