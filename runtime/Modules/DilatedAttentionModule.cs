using System;
using System.Collections.Generic;
using System.Linq;
using AttentionGen.Variants;

namespace AttentionGen.Modules;

/// <summary>
/// The module behind <c>[Dilated]</c> (SPEC §2), as torchscale's <c>DilatedAttention</c>: q, k, v and out
/// projections DModel → DModel with bias, XPOS on q and k when configured, dilated attention over the
/// configured branches (with the relative-position bias when configured), heads merged, out projection.
/// Runs where x is (CPU or GPU); inference only (dropout is a no-op).
/// </summary>
/// <remarks>
/// Dispose releases the projections when this module made them (the seed constructor); projections and a bias table
/// passed to the constructor stay the caller's. Afterwards <see cref="Forward(Tensor)"/> and the projection and bias
/// properties throw <see cref="ObjectDisposedException"/>; a Forward already running on another thread finishes first
/// (see <see cref="DisposableModule"/>).
/// </remarks>
public partial class DilatedAttentionModule : WeightedModule
{
    /// <summary>The scale base of torchscale's XPOS.</summary>
    public const int XposScaleBase = 512;

    // Replaced whole by Load.
    private Linear _qProj, _kProj, _vProj, _outProj;
    private RelativePositionBias? _relPosBias;

    // True when this module made the projections (the seed constructor, or Load): Dispose then releases them.
    private bool _ownsProjections;

    /// <summary>
    /// Takes the projections' weights [DModel, DModel] and biases [DModel] in PyTorch's layout; the bias table [32, H] when
    /// UseRelPosBias. They stay the caller's: disposing the module leaves them alive.
    /// </summary>
    public DilatedAttentionModule(DilatedConfig config, Linear qProj, Linear kProj, Linear vProj, Linear outProj, RelativePositionBias? relPosBias = null)
        : this(config, qProj, kProj, vProj, outProj, relPosBias, ownsProjections: false)
    {
    }

    /// <summary>Random weights drawn like PyTorch's defaults (Linear: uniform ±1/sqrt(in); Embedding: N(0, 1)), reproducible from <paramref name="seed"/>.</summary>
    public DilatedAttentionModule(DilatedConfig config, int seed)
        : this(config, RandomProjection(config, seed, 0), RandomProjection(config, seed, 1), RandomProjection(config, seed, 2), RandomProjection(config, seed, 3),
               config is { UseRelPosBias: true } ? RelativePositionBias.Random(seed + 4, config.NumHeads, bidirectional: !config.Causal) : null,
               ownsProjections: true)
    {
    }

    private DilatedAttentionModule(DilatedConfig config, Linear qProj, Linear kProj, Linear vProj, Linear outProj, RelativePositionBias? relPosBias, bool ownsProjections)
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
        _ownsProjections = ownsProjections;
        _qProj = CheckProjection(qProj, config, nameof(qProj));
        _kProj = CheckProjection(kProj, config, nameof(kProj));
        _vProj = CheckProjection(vProj, config, nameof(vProj));
        _outProj = CheckProjection(outProj, config, nameof(outProj));
        if (config.UseRelPosBias != relPosBias is not null)
        {
            throw new ArgumentException($"relPosBias must be given exactly when UseRelPosBias is true (it is {config.UseRelPosBias}).", nameof(relPosBias));
        }

        if (relPosBias is not null && (relPosBias.Heads != config.NumHeads || relPosBias.Bidirectional == config.Causal))
        {
            throw new ArgumentException($"relPosBias must have {config.NumHeads} heads and be {(config.Causal ? "unidirectional" : "bidirectional")}; got {relPosBias.Heads} heads, bidirectional {relPosBias.Bidirectional}.", nameof(relPosBias));
        }

        _relPosBias = relPosBias;
    }

    /// <summary>The constants this module was declared with.</summary>
    public DilatedConfig Config { get; }

    /// <summary>q_proj.</summary>
    public Linear QProj => NotDisposed(_qProj);

    /// <summary>k_proj.</summary>
    public Linear KProj => NotDisposed(_kProj);

    /// <summary>v_proj.</summary>
    public Linear VProj => NotDisposed(_vProj);

    /// <summary>out_proj.</summary>
    public Linear OutProj => NotDisposed(_outProj);

    /// <summary>The bias table when UseRelPosBias.</summary>
    public RelativePositionBias? RelPosBias => NotDisposed(_relPosBias);

    /// <summary>
    /// x [B, N, DModel] → [B, N, DModel] in x's dtype. On the CPU in float32; on a GPU in bf16/fp16 (float32 runs as
    /// bf16), the projections through cuBLAS. The relative-position bias runs on both (on a GPU as a score mod that
    /// reads the bias table).
    /// </summary>
    public Tensor Forward(Tensor x)
    {
        using Call call = BeginCall();
        CheckInput(x);
        (Tensor q, Tensor k, Tensor v) = Project(x, firstPosition: 0, sequenceLength: x.Size(1));
        AttentionOutput attention = DilatedAttention.Forward(q, k, v, Config.HeldSegmentSizes, Config.HeldDilationRates, Config.Causal, scale: null, _relPosBias);
        return _outProj.Apply(attention.Output.MergeHeads().Contiguous()).To(x.DType);
    }

    /// <summary>
    /// The sequence-parallel Forward of a layer declared with <c>Distributed = true</c> (LongNet's distributed dilated
    /// attention): every rank of <paramref name="comm"/> calls it with its block of the sequence, x [B, n, DModel] being
    /// tokens p·n to p·n + n − 1 of P·n, and gets those rows of what <see cref="Forward(Tensor)"/> gives for the whole
    /// sequence (XPOS at the tokens' global positions; no relative-position bias, which DilatedConfig refuses with Distributed). Projections run on each rank's own rows; the attention exchanges
    /// only the sparsified keys and values of the branches whose segments span ranks
    /// (<see cref="Distributed.DistributedAttention.Dilated"/>). On the CPU or a GPU, as the communicator's device.
    /// </summary>
    public Tensor Forward(Tensor x, Distributed.Communicator comm)
    {
        using Call call = BeginCall();
        ArgumentNullException.ThrowIfNull(comm);
        Distributed.RankAgreement.Check(
            comm,
            () =>
            {
                if (!Config.Distributed)
                {
                    throw new ArgumentException("Forward(x, comm) is the sequence-parallel path of a layer declared with Distributed = true; this one was declared without it.", nameof(comm));
                }

                CheckInput(x);
                ShapeCheck.OnDevice(x, comm.Device, nameof(x), $"rank {comm.Rank}'s communicator");
            },
            [],
            (x, nameof(x)));
        (Tensor q, Tensor k, Tensor v) = Project(x, firstPosition: comm.Rank * x.Size(1), sequenceLength: comm.Size * x.Size(1));
        AttentionOutput attention = Distributed.DistributedAttention.Dilated(comm, q, k, v, Config.HeldSegmentSizes, Config.HeldDilationRates, Config.Causal);
        return _outProj.Apply(attention.Output.MergeHeads().Contiguous()).To(x.DType);
    }

    private void CheckInput(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        ShapeCheck.Rank(x, 3, "[B, N, DModel]", nameof(x));
        ShapeCheck.FloatingPoint(x, nameof(x));
        ShapeCheck.Dim(x, 2, Config.DModel, "DModel", nameof(x));
    }

    // q, k ([B, H, N, E], XPOS applied when configured: x's rows are tokens firstPosition.. of sequenceLength) and v.
    private (Tensor Q, Tensor K, Tensor V) Project(Tensor x, int firstPosition, int sequenceLength)
    {
        bool gpu = x.Device.Kind == DeviceKind.Cuda;
        Tensor input = Attention.Convert(x, Attention.ComputeType(x));
        Tensor q = Heads(_qProj.Apply(input)), k = Heads(_kProj.Apply(input)), v = _vProj.Apply(input).SplitHeads(Config.NumHeads);
        if (Config.UseXpos)
        {
            if (gpu)
            {
                Cuda.CudaElementwise.Xpos(q, downscale: false, XposScaleBase, firstPosition, sequenceLength);
                Cuda.CudaElementwise.Xpos(k, downscale: true, XposScaleBase, firstPosition, sequenceLength);
            }
            else
            {
                Xpos.Apply(q, downscale: false, XposScaleBase, firstPosition, sequenceLength);
                Xpos.Apply(k, downscale: true, XposScaleBase, firstPosition, sequenceLength);
            }
        }

        return (q, k, v);
    }

    /// <summary>
    /// The modules this layer's GPU launches load (the head dim is the config's): the segmented forward, with the
    /// distance bias as a score mod when UseRelPosBias, the gathered-segment launch of a Distributed layer's spanning
    /// branches, the LSE fill and blend, xpos and the projections' bias (elementwise), the float32 conversion.
    /// Only the bias header is not in the package store; the app's build compiles it (docs/prebuilt-kernels.md).
    /// </summary>
    internal IEnumerable<Cuda.KernelRequest> GpuKernels()
    {
        int e = Config.HeadDim;
        string header = Config.UseRelPosBias ? Execution.CudaExecutor.DistanceBiasHeader(e, Config.Causal) : Cuda.CudaSpecialization.FlashAttention(e, Config.Causal);
        IEnumerable<Cuda.KernelRequest> distributed = Config.Distributed ? Cuda.FlashAttentionCuda.ForwardKernels(e, Cuda.IntervalMaskCuda.Header(e)) : [];
        return Cuda.FlashAttentionCuda.ForwardKernels(e, header)
            .Concat(distributed)
            .Append(new Cuda.KernelRequest(Execution.CudaExecutor.SegmentsTemplate, string.Empty))
            .Append(new Cuda.KernelRequest(Cuda.CudaElementwise.Template, string.Empty))
            .Append(new Cuda.KernelRequest(Cuda.CudaConvert.Template, string.Empty));
    }

    /// <inheritdoc/>
    private protected override void ReleaseOwnedTensors()
    {
        if (_ownsProjections)
        {
            _qProj.Dispose();
            _kProj.Dispose();
            _vProj.Dispose();
            _outProj.Dispose();
        }
    }

    // [B, N, H·E] → a contiguous [B, H, N, E] copy (XPOS rotates it in place).
    private Tensor Heads(Tensor projected) => projected.SplitHeads(Config.NumHeads).Contiguous();

    private static Linear CheckProjection(Linear projection, DilatedConfig config, string name)
    {
        ArgumentNullException.ThrowIfNull(projection, name);
        if (projection.InFeatures != config.DModel || projection.OutFeatures != config.DModel)
        {
            throw new ArgumentException($"{name} must map {config.DModel} → {config.DModel} features; got {projection.InFeatures} → {projection.OutFeatures}.", name);
        }

        return projection;
    }

    private static Linear RandomProjection(DilatedConfig config, int seed, int index)
    {
        ArgumentNullException.ThrowIfNull(config);   // before its sizes are read (the seed constructor's first use)
        var random = new Random(seed + index);
        float bound = 1f / MathF.Sqrt(config.DModel);
        return new Linear(
            Linear.RandomWeight(random, config.DModel, config.DModel),
            config.DModel,
            config.DModel,
            "projection",
            Tensor.RandomUniform(random, -bound, bound, DType.Float32, config.DModel),
            ownsParameters: true);
    }
}
