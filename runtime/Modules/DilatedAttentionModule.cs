using System;
using AttentionGen.Variants;

namespace AttentionGen.Modules;

/// <summary>
/// The module behind <c>[Dilated]</c> (SPEC §2), as torchscale's <c>DilatedAttention</c>: q, k, v and out
/// projections DModel → DModel with bias, XPOS on q and k when configured, dilated attention over the
/// configured branches (with the relative-position bias when configured), heads merged, out projection.
/// Runs where x is (CPU or GPU); inference only (dropout is a no-op).
/// </summary>
public partial class DilatedAttentionModule
{
    /// <summary>The scale base of torchscale's XPOS.</summary>
    public const int XposScaleBase = 512;

    /// <summary>Takes the projections' weights [DModel, DModel] and biases [DModel] in PyTorch's layout; the bias table [32, H] when UseRelPosBias.</summary>
    public DilatedAttentionModule(DilatedConfig config, Linear qProj, Linear kProj, Linear vProj, Linear outProj, RelativePositionBias? relPosBias = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
        QProj = CheckProjection(qProj, config, nameof(qProj));
        KProj = CheckProjection(kProj, config, nameof(kProj));
        VProj = CheckProjection(vProj, config, nameof(vProj));
        OutProj = CheckProjection(outProj, config, nameof(outProj));
        if (config.UseRelPosBias != relPosBias is not null)
        {
            throw new ArgumentException($"relPosBias must be given exactly when UseRelPosBias is true (it is {config.UseRelPosBias}).", nameof(relPosBias));
        }

        if (relPosBias is not null && (relPosBias.Heads != config.NumHeads || relPosBias.Bidirectional == config.Causal))
        {
            throw new ArgumentException($"relPosBias must have {config.NumHeads} heads and be {(config.Causal ? "unidirectional" : "bidirectional")}; got {relPosBias.Heads} heads, bidirectional {relPosBias.Bidirectional}.", nameof(relPosBias));
        }

        RelPosBias = relPosBias;
    }

    /// <summary>Random weights drawn like PyTorch's defaults (Linear: uniform ±1/sqrt(in); Embedding: N(0, 1)), reproducible from <paramref name="seed"/>.</summary>
    public DilatedAttentionModule(DilatedConfig config, int seed)
        : this(config, RandomProjection(config, seed, 0), RandomProjection(config, seed, 1), RandomProjection(config, seed, 2), RandomProjection(config, seed, 3),
               config is { UseRelPosBias: true } ? RelativePositionBias.Random(seed + 4, config.NumHeads, bidirectional: !config.Causal) : null)
    {
    }

    /// <summary>The constants this module was declared with.</summary>
    public DilatedConfig Config { get; }

    /// <summary>q_proj.</summary>
    public Linear QProj { get; private set; }

    /// <summary>k_proj.</summary>
    public Linear KProj { get; private set; }

    /// <summary>v_proj.</summary>
    public Linear VProj { get; private set; }

    /// <summary>out_proj.</summary>
    public Linear OutProj { get; private set; }

    /// <summary>The bias table when UseRelPosBias.</summary>
    public RelativePositionBias? RelPosBias { get; private set; }

    /// <summary>
    /// x [B, N, DModel] → [B, N, DModel] in x's dtype. On the CPU in float32; on a GPU in bf16/fp16 (float32 runs as
    /// bf16), the projections through cuBLAS. The relative-position bias runs on the CPU only.
    /// </summary>
    public Tensor Forward(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        ShapeCheck.Rank(x, 3, "[B, N, DModel]", nameof(x));
        ShapeCheck.FloatingPoint(x, nameof(x));
        ShapeCheck.Dim(x, 2, Config.DModel, "DModel", nameof(x));
        bool gpu = x.Device.Kind == DeviceKind.Cuda;
        Tensor input = Attention.Convert(x, Attention.ComputeType(x));
        Tensor q = Heads(QProj.Apply(input)), k = Heads(KProj.Apply(input)), v = VProj.Apply(input).SplitHeads(Config.NumHeads);
        if (Config.UseXpos)
        {
            if (gpu)
            {
                Cuda.CudaElementwise.Xpos(q, downscale: false, XposScaleBase);
                Cuda.CudaElementwise.Xpos(k, downscale: true, XposScaleBase);
            }
            else
            {
                Xpos.Apply(q, downscale: false, XposScaleBase);
                Xpos.Apply(k, downscale: true, XposScaleBase);
            }
        }

        AttentionOutput attention = DilatedAttention.Forward(q, k, v, Config.SegmentSizes, Config.DilationRates, Config.Causal, scale: null, RelPosBias);
        return OutProj.Apply(attention.Output.MergeHeads().Contiguous()).To(x.DType);
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
        var random = new Random(seed + index);
        float bound = 1f / MathF.Sqrt(config.DModel);
        return new Linear(
            Linear.RandomWeight(random, config.DModel, config.DModel),
            config.DModel,
            config.DModel,
            "projection",
            Tensor.RandomUniform(random, -bound, bound, DType.Float32, config.DModel));
    }
}
