using System;
using AttentionGen.Cpu;
using AttentionGen.Inference;

namespace AttentionGen.Modules;

/// <summary>
/// The module behind <c>[FlashAttention]</c> (SPEC §1): to_q, to_kv and to_out projections without bias
/// around the tiled attention kernel. The generated partial class derives from it and supplies
/// <see cref="Attend"/>, the kernel specialized to the attribute's constants.
/// </summary>
/// <remarks>
/// Dispose releases the three projections with the weights this module made (random ones, bfloat16 roundings, GPU
/// copies); weight tensors passed to the constructor stay the caller's. Afterwards <see cref="Forward(Tensor, Tensor?, Tensor?, int?, int?)"/>,
/// <see cref="To"/> and the projection properties throw <see cref="ObjectDisposedException"/>; a Forward already running
/// on another thread finishes first (see <see cref="DisposableModule"/>).
/// </remarks>
public abstract partial class FlashAttentionModule : WeightedModule
{
    // Replaced whole by Load.
    private Linear _toQ, _toKv, _toOut;

    /// <summary>Takes the weights in PyTorch's layout: toQ [H·E, Dim], toKv [2·H·E, Dim] (K then V), toOut [Dim, H·E]; they stay the caller's.</summary>
    protected FlashAttentionModule(FlashAttentionConfig config, Tensor toQ, Tensor toKv, Tensor toOut)
        : this(config, toQ, toKv, toOut, ownsWeights: false)
    {
    }

    /// <summary>Random weights drawn like PyTorch's default initialisation, reproducible from <paramref name="seed"/>.</summary>
    protected FlashAttentionModule(FlashAttentionConfig config, int seed)
        : this(config, RandomWeights(config, seed))
    {
    }

    private FlashAttentionModule(FlashAttentionConfig config, (Tensor Q, Tensor Kv, Tensor Out) w)
        : this(config, w.Q, w.Kv, w.Out, ownsWeights: true)
    {
    }

    private FlashAttentionModule(FlashAttentionConfig config, Tensor toQ, Tensor toKv, Tensor toOut, bool ownsWeights)
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
        _toQ = Projection(toQ, config.Dim, config.InnerDim, nameof(toQ), ownsWeights);
        _toKv = Projection(toKv, config.Dim, 2 * config.InnerDim, nameof(toKv), ownsWeights);
        _toOut = Projection(toOut, config.InnerDim, config.Dim, nameof(toOut), ownsWeights);
    }

    /// <summary>The constants this module was declared with.</summary>
    public FlashAttentionConfig Config { get; }

    /// <summary>Where <see cref="Forward(Tensor, Tensor?, Tensor?, int?, int?)"/> runs: the device of the inputs it accepts.</summary>
    public Device Device { get; private set; } = Device.Cpu;

    /// <summary>
    /// Moves the module to <paramref name="device"/> and returns it, like PyTorch's <c>module.to(device)</c>:
    /// the weights are copied there (in bfloat16 and float16 on first use of each). Inputs must then be on
    /// that device. Moving to a GPU needs CUDA; without it the call throws and the module stays where it was.
    /// </summary>
    public FlashAttentionModule To(Device device)
    {
        using Call call = BeginCall();
        if (device.Kind == DeviceKind.Cuda)
        {
            foreach (Linear linear in new[] { _toQ, _toKv, _toOut })
            {
                linear.Prepare(device, DType.BFloat16);
            }
        }

        Device = device;
        return this;
    }

    /// <summary>to_q: Dim → Heads·DimHead. The module disposes it.</summary>
    public Linear ToQ => NotDisposed(_toQ);

    /// <summary>to_kv: Dim → 2·Heads·DimHead, keys first. The module disposes it.</summary>
    public Linear ToKv => NotDisposed(_toKv);

    /// <summary>to_out: Heads·DimHead → Dim. The module disposes it.</summary>
    public Linear ToOut => NotDisposed(_toOut);

    /// <summary>
    /// x [B, N, Dim] attends to <paramref name="context"/> [B, M, Dim] (x itself when null);
    /// <paramref name="mask"/> [B, M] bool keeps the true keys. Per-call buckets override the attribute's.
    /// Returns [B, N, Dim] in the dtype of x.
    /// </summary>
    public Tensor Forward(Tensor x, Tensor? context = null, Tensor? mask = null, int? qBucket = null, int? kBucket = null)
    {
        using Call call = BeginCall();
        (int qb, int kb) = CheckForward(x, context, mask, qBucket, kBucket);
        return Run(x, context, mask, qb, kb, comm: null);
    }

    /// <summary>
    /// The head-parallel Forward of a layer declared with <c>Parallel = true</c>: every rank of <paramref name="comm"/> (one
    /// per GPU, or threads on the CPU) calls it with the same x, context and mask; rank p attends with heads p·H/P to
    /// (p + 1)·H/P − 1 (Heads must be a multiple of P), the ranks gather the heads, and each returns what
    /// <see cref="Forward(Tensor, Tensor?, Tensor?, int?, int?)"/> returns. The projections run whole on every rank; the
    /// attention, quadratic in the length, is what is split.
    /// </summary>
    public Tensor Forward(Tensor x, Distributed.Communicator comm, Tensor? context = null, Tensor? mask = null, int? qBucket = null, int? kBucket = null)
    {
        using Call call = BeginCall();
        ArgumentNullException.ThrowIfNull(comm);
        (int qb, int kb) = (0, 0);
        Distributed.RankAgreement.Check(
            comm,
            () =>
            {
                if (!Config.Parallel)
                {
                    throw new ArgumentException("Forward(x, comm) is the head-parallel path of a layer declared with Parallel = true; this one was declared without it.", nameof(comm));
                }

                if (Config.Heads % comm.Size != 0)
                {
                    throw new ArgumentException($"Heads ({Config.Heads}) must be a multiple of the ranks ({comm.Size}): each rank attends with as many.", nameof(comm));
                }

                (qb, kb) = CheckForward(x, context, mask, qBucket, kBucket);
                ShapeCheck.OnDevice(x, comm.Device, nameof(x), $"rank {comm.Rank}'s communicator");
            },
            [
                Distributed.AgreedSetting.Of(nameof(qBucket), qBucket ?? 0),
                Distributed.AgreedSetting.Of(nameof(kBucket), kBucket ?? 0),
                Distributed.AgreedSetting.Given(nameof(context), context is not null),
                Distributed.AgreedSetting.Given(nameof(mask), mask is not null),
            ],
            (x, nameof(x)),
            (context, nameof(context)),
            (mask, nameof(mask)));
        return Run(x, context, mask, qb, kb, comm);
    }

    // Everything Forward checks before it projects: the inputs, their device, the mask, the buckets.
    private (int QBucket, int KBucket) CheckForward(Tensor x, Tensor? context, Tensor? mask, int? qBucket, int? kBucket)
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

        if (mask is not null)
        {
            ShapeCheck.KeyPaddingMask(mask, x.Size(0), (context ?? x).Size(1), x, nameof(mask));
        }

        if (Device.Kind == DeviceKind.Cpu)
        {
            // The projections' sizes, under the caller's names: Linear's own check named its "shape".
            DType compute = Attention.ComputeType(x);
            int inner = Config.InnerDim;
            ShapeMath.HostByteCount([x.Size(0), x.Size(1), inner], compute, nameof(x));
            ShapeMath.HostByteCount([x.Size(0), (context ?? x).Size(1), 2 * inner], compute, context is null ? nameof(x) : nameof(context));
        }

        return (qb, kb);
    }

    // Projects, attends with every head (comm null) or this rank's share of them, gathered, and projects out.
    private Tensor Run(Tensor x, Tensor? context, Tensor? mask, int qb, int kb, Distributed.Communicator? comm)
    {
        bool onGpu = Device.Kind == DeviceKind.Cuda;
        DType compute = Attention.ComputeType(x);
        int inner = Config.InnerDim;
        Tensor xc = ComputeInput(x, compute);
        Tensor q = _toQ.Apply(xc);
        Tensor kv = _toKv.Apply(context is null ? xc : ComputeInput(context, compute));
        Tensor heads = Tensor.Zeros(compute, Device, x.Size(0), x.Size(1), inner);
        int share = Config.Heads / (comm?.Size ?? 1), first = (comm?.Rank ?? 0) * share;
        Tensor Mine(Tensor t) => t.SplitHeads(Config.Heads).Narrow(1, first, share);

        // q, k and v are strided views of the projections; the problem validates the mask against [B, M]
        // before any output is written.
        var problem = new AttentionProblem(
            Mine(q),
            Mine(kv.Narrow(2, 0, inner)),
            Mine(kv.Narrow(2, inner, inner)),
            Mine(heads),
            lse: null,
            keyPaddingMask: mask,
            scale: Scale,
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

        if (comm is not null && comm.Size > 1)
        {
            heads = Distributed.DistributedAttention.GatherHeads(comm, Mine(heads)).MergeHeads();
        }

        return Attention.Convert(_toOut.Apply(heads), x.DType);
    }

    /// <summary>
    /// Self-attention of the prompt <paramref name="x"/> [B, T, Dim] (T ≥ 1, any float dtype, on the cpu) over what
    /// <paramref name="cache"/> holds and itself: projects x, appends its keys and values to every sequence of the cache
    /// (rounded to the cache's dtype), and attends. The new tokens sit at positions length(b) .. length(b) + T − 1 of
    /// sequence b; a causal layer lets each see the keys up to its own position, a non-causal one every cached key. On an
    /// empty cache this is <see cref="Forward(Tensor, Tensor?, Tensor?, int?, int?)"/>'s self-attention; a prompt cut into chunks and prefilled in turn gives the
    /// same rows as one call when the layer is causal. Returns [B, T, Dim] in x's dtype.
    /// </summary>
    /// <remarks>
    /// The cache must have B sequences of <see cref="FlashAttentionConfig.Heads"/> kv heads, head dim and value dim
    /// <see cref="FlashAttentionConfig.DimHead"/>, and room for T more tokens in each; every check runs before anything is
    /// projected or written (ArgumentException naming <paramref name="cache"/>, ObjectDisposedException for a disposed cache).
    /// </remarks>
    public Tensor Prefill(Tensor x, KvCache cache) => CacheStep(x, cache, decode: false);

    /// <summary>
    /// <see cref="Prefill"/> of 1..<see cref="DecodeAttention.MaxQueries"/> new tokens per sequence (one decode step, or
    /// a few drafted tokens to verify): the same result, through the decode path.
    /// </summary>
    public Tensor Decode(Tensor x, KvCache cache) => CacheStep(x, cache, decode: true);

    private Tensor CacheStep(Tensor x, KvCache cache, bool decode)
    {
        using Call call = BeginCall();
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(cache);
        CheckInput(x, nameof(x));
        ShapeCheck.OnDevice(x, Device, nameof(x));
        cache.ThrowIfDisposed();
        LayerCacheStep.RequireCacheOn(cache, Device, GetType().Name);
        DecodeAttention.CheckQueryCount(x.Size(1), LayerCacheStep.MostTokens(decode), nameof(x));
        int heads = Config.Heads, inner = Config.InnerDim;
        using KvCache.UseScope use = cache.Use();   // held from the checks on, so that no other thread's call moves the lengths they read
        cache.CheckLayerAppend(GetType().Name, x.Size(0), heads, Config.DimHead, Config.DimHead, x.Size(1), nameof(cache));

        // On a GPU the projections run in the compute type and the queries go to the decode kernel in its query dtype (KvCache.QueryDType).
        Tensor xc = ComputeInput(x, Device.Kind == DeviceKind.Cuda ? Attention.ComputeType(x) : DType.Float32);
        Tensor? q = null, kv = null, queries = null;
        try
        {
            q = _toQ.Apply(xc);
            kv = _toKv.Apply(xc);
            Tensor projected = q;
            return LayerCacheStep.AppendThen(cache, kv.Narrow(2, 0, inner).SplitHeads(heads), kv.Narrow(2, inner, inner).SplitHeads(heads), () =>
            {
                queries = Device.Kind == DeviceKind.Cuda ? projected.SplitHeads(heads).To(cache.QueryDType) : projected.SplitHeads(heads);
                using AttentionOutput attended = Config.Causal
                    ? DecodeAttention.Prefill(queries, cache, default(CausalMask), default(IdentityScore), Scale)
                    : DecodeAttention.Prefill(queries, cache, default(NoMask), default(IdentityScore), Scale);
                return LayerCacheStep.Project(_toOut, attended.Output, x.DType);
            });
        }
        finally
        {
            Attention.DisposeCopy(xc, x);
            if (queries is not null && !queries.SharesStorageWith(q!))
            {
                queries.Dispose();
            }

            q?.Dispose();
            kv?.Dispose();
        }
    }

    private float Scale => 1f / MathF.Sqrt(Config.DimHead);

    // MixedPrecision projects bf16 inputs as well as bf16 weights (SPEC §1). The GPU's compute type already rounds a
    // float32 input; the CPU computes in float32, so it rounds the input to bf16 first (the span Forward does the same).
    private Tensor ComputeInput(Tensor t, DType compute)
    {
        if (!Config.MixedPrecision || t.DType != DType.Float32 || compute != DType.Float32)
        {
            return Attention.Convert(t, compute);
        }

        using Tensor rounded = t.To(DType.BFloat16);
        return rounded.To(DType.Float32);
    }

    /// <summary>Runs the attention kernel specialized for this module's mask and score.</summary>
    protected abstract void Attend(AttentionProblem problem);

    /// <summary>The specialization header of this module's GPU kernel; the generator writes it for each class.</summary>
    protected virtual string CudaHeader => Cuda.CudaSpecialization.FlashAttention(Config.DimHead, Config.Causal);

    private void CheckInput(Tensor t, string name)
    {
        t.ThrowIfDisposed(name);
        // x holds the N queries, context the M keys: the message names the caller's own shape.
        ShapeCheck.Rank(t, 3, $"[B, {(name == "context" ? "M" : "N")}, {Config.Dim}]", name);
        ShapeCheck.FloatingPoint(t, name);
        ShapeCheck.Dim(t, 2, Config.Dim, "Dim", name);
    }

    /// <inheritdoc/>
    private protected override void ReleaseOwnedTensors()
    {
        _toQ.Dispose();
        _toKv.Dispose();
        _toOut.Dispose();
    }

    // The Linear owns its weight when this module made it: drawn at random, or a bfloat16 rounding of the caller's
    // (To returns the caller's own tensor when it already is bfloat16, and that one stays the caller's).
    private Linear Projection(Tensor? weight, int inFeatures, int outFeatures, string paramName, bool ownsWeight)
    {
        ArgumentNullException.ThrowIfNull(weight, paramName);
        Tensor rounded = Config.MixedPrecision ? weight.To(DType.BFloat16) : weight;
        bool owned = ownsWeight || !rounded.SharesStorageWith(weight);
        return new Linear(rounded, inFeatures, outFeatures, paramName, bias: null, owned);
    }

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
