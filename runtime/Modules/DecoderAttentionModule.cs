using System;
using System.Threading;
using AttentionGen.Cpu;
using AttentionGen.Cuda;
using AttentionGen.Inference;
using AttentionGen.Variants;

namespace AttentionGen.Modules;

/// <summary>
/// The self-attention of a Llama / Mistral / Qwen / Gemma decoder layer, as transformers' <c>LlamaAttention</c> and its
/// relatives: q/k/v projections (optional biases), optional q/k RMSNorm over head_dim, RoPE (with linear or llama3
/// scaling), causal attention with grouped-query heads, an optional sliding window and logit soft-cap, then o_proj.
/// See docs/decoder-attention.md; the weights load under Hugging Face's names (DecoderAttentionModule.StateDict.cs).
/// </summary>
/// <remarks>
/// On the CPU in float32, or on a GPU after <see cref="To"/> (DecoderAttentionModule.Gpu.cs). Dispose releases the weights
/// this module holds (random or loaded); afterwards Forward, To and the weight properties throw
/// <see cref="ObjectDisposedException"/>, and a Forward already running finishes first (see <see cref="DisposableModule"/>).
/// </remarks>
public sealed partial class DecoderAttentionModule : WeightedModule
{
    // Tile sizes of the CPU kernel; they bound work per tile and never change the result.
    private const int QueryTile = 64, KeyTile = 128;

    private readonly float[] _invFreq;

    // Replaced whole by Load.
    private Linear _qProj, _kProj, _vProj, _oProj;
    private HeadNormWeights? _norms;

    /// <summary>
    /// Random weights, reproducible from <paramref name="seed"/>: projections (and biases) uniform in ±1/√in like
    /// PyTorch's nn.Linear; q/k norm weights such that offset + weight is uniform in [0.5, 1.5].
    /// </summary>
    public DecoderAttentionModule(DecoderAttentionConfig config, int seed)
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
        _invFreq = (float[])config.InverseFrequencies.Clone();
        var random = new Random(seed);
        _qProj = RandomLinear(random, config.HiddenSize, config.QueryWidth, "q_proj");
        _kProj = RandomLinear(random, config.HiddenSize, config.KeyValueWidth, "k_proj");
        _vProj = RandomLinear(random, config.HiddenSize, config.KeyValueWidth, "v_proj");
        _oProj = RandomLinear(random, config.QueryWidth, config.HiddenSize, "o_proj");
        if (config.HasQkNorm)
        {
            _norms = new HeadNormWeights(RandomNorm(random), RandomNorm(random));
        }
    }

    /// <summary>The constants this module was built with.</summary>
    public DecoderAttentionConfig Config { get; }

    /// <summary>Where <see cref="Forward(Tensor, Tensor?, Tensor?)"/> runs: the CPU until <see cref="To"/> moves it.</summary>
    public Device Device { get; private set; } = Device.Cpu;

    /// <summary>q_proj: hidden → heads · head_dim. The module disposes it.</summary>
    public Linear QProj => NotDisposed(_qProj);

    /// <summary>k_proj: hidden → kv heads · head_dim. The module disposes it.</summary>
    public Linear KProj => NotDisposed(_kProj);

    /// <summary>v_proj: hidden → kv heads · head_dim. The module disposes it.</summary>
    public Linear VProj => NotDisposed(_vProj);

    /// <summary>o_proj: heads · head_dim → hidden. The module disposes it.</summary>
    public Linear OProj => NotDisposed(_oProj);

    /// <summary>q_norm.weight [head_dim], or null without q/k norm. The module disposes it.</summary>
    public Tensor? QNormWeight => NotDisposed(_norms?.Q);

    /// <summary>k_norm.weight [head_dim], or null without q/k norm. The module disposes it.</summary>
    public Tensor? KNormWeight => NotDisposed(_norms?.K);

    /// <summary>
    /// Runs the layer on <paramref name="device"/> from now on and returns the module: on a GPU the projections' weights
    /// are copied there in bf16 (at this call), the q/k norm weights and RoPE's frequencies as float32; hidden states,
    /// masks and KV caches must then be there too. Moving back to the CPU keeps the float32 weights it always had.
    /// </summary>
    public DecoderAttentionModule To(Device device)
    {
        using Call call = BeginCall();
        if (device.Kind == DeviceKind.Cuda)
        {
            foreach ((_, Linear linear) in Layers())
            {
                linear.Prepare(device, DType.BFloat16);
            }

            Tensor invFreq = Tensor.FromArray(_invFreq, _invFreq.Length).To(device);
            Interlocked.Exchange(ref _deviceInvFreq, invFreq)?.Dispose();
        }

        Device = device;
        return this;
    }

    /// <summary>
    /// <paramref name="hidden"/> [B, N, hidden] at positions <paramref name="positionIds"/> (int32 [B, N] or [1, N];
    /// null: 0 .. N−1) → [B, N, hidden] in hidden's dtype. <paramref name="keyPaddingMask"/> [B, N] bool keeps the true
    /// tokens as keys; a query with no key left gets zeros. The causal mask and the window count token indices, RoPE
    /// the positions.
    /// </summary>
    public Tensor Forward(Tensor hidden, Tensor? positionIds = null, Tensor? keyPaddingMask = null)
    {
        using Call call = BeginCall();
        CheckHidden(hidden);
        int[] positions = positionIds is null ? Consecutive(hidden.Size(1), 0) : PositionsOf(positionIds, hidden);
        return Run(hidden, positions, keyPaddingMask);
    }

    /// <summary>As <see cref="Forward(Tensor, Tensor?, Tensor?)"/> with positions <paramref name="startPosition"/> + 0 .. N−1 for every batch row.</summary>
    public Tensor Forward(Tensor hidden, int startPosition, Tensor? keyPaddingMask = null)
    {
        using Call call = BeginCall();
        CheckHidden(hidden);
        ArgumentOutOfRangeException.ThrowIfNegative(startPosition);
        if ((long)startPosition + hidden.Size(1) > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(startPosition), startPosition, $"startPosition + N must fit an int; got {startPosition} + {hidden.Size(1)}.");
        }

        return Run(hidden, Consecutive(hidden.Size(1), startPosition), keyPaddingMask);
    }

    /// <summary>
    /// The layer over the prompt <paramref name="hidden"/> [B, T, hidden] (T ≥ 1) after what <paramref name="cache"/>
    /// holds: projects it, rotates q and k to positions length(b) .. length(b) + T − 1 of each sequence b (its length in
    /// the cache before this call), appends k and v to the cache (rounded to its dtype), and attends causally over the
    /// cache and the new tokens, with the sliding window and the soft-cap counted in cache positions. On an empty cache
    /// this is <see cref="Forward(Tensor, Tensor?, Tensor?)"/>; a prompt prefilled in chunks gives the rows of one call.
    /// Returns [B, T, hidden] in hidden's dtype.
    /// </summary>
    /// <remarks>
    /// The cache must have B sequences of num_key_value_heads kv heads of head_dim (keys and values) and room for T more
    /// tokens in each; every check runs before anything is projected or written (ArgumentException naming
    /// <paramref name="cache"/>, ObjectDisposedException for a disposed cache).
    /// </remarks>
    public Tensor Prefill(Tensor hidden, KvCache cache) => CacheStep(hidden, cache, decode: false);

    /// <summary><see cref="Prefill"/> of 1..<see cref="DecodeAttention.MaxQueries"/> new tokens per sequence: one decode step, or drafted tokens to verify.</summary>
    public Tensor Decode(Tensor hidden, KvCache cache) => CacheStep(hidden, cache, decode: true);

    private Tensor CacheStep(Tensor hidden, KvCache cache, bool decode)
    {
        using Call call = BeginCall();
        CheckHidden(hidden);
        ArgumentNullException.ThrowIfNull(cache);
        DecoderAttentionConfig c = Config;
        int batch = hidden.Size(0), length = hidden.Size(1);
        DecodeAttention.CheckQueryCount(length, LayerCacheStep.MostTokens(decode), nameof(hidden));
        // Held from the checks on: RoPE rotates to the lengths read here, which another thread's append must not move.
        using KvCache.UseScope use = cache.Use();
        cache.CheckLayerAppend(nameof(DecoderAttentionModule), batch, c.NumKeyValueHeads, c.HeadDim, c.HeadDim, length, nameof(cache));
        LayerCacheStep.RequireCacheOn(cache, Device, nameof(DecoderAttentionModule));
        var positions = new int[batch * length];
        for (int b = 0; b < batch; b++)
        {
            int start = cache.Length(b);
            for (int i = 0; i < length; i++)
            {
                positions[(b * length) + i] = start + i;
            }
        }

        // On a GPU the rows are made in the dtype the decode kernel reads queries in (the cache's; bf16 for fp8, which quantizes k and v).
        bool onGpu = Device.Kind == DeviceKind.Cuda;
        (Tensor q, Tensor k, Tensor v) = Project(hidden, positions, onGpu ? cache.QueryDType : DType.Float32);
        try
        {
            Tensor queries = q.SplitHeads(c.NumAttentionHeads);
            return LayerCacheStep.AppendThen(cache, k.SplitHeads(c.NumKeyValueHeads), v.SplitHeads(c.NumKeyValueHeads), () =>
            {
                using AttentionOutput attended = onGpu
                    ? DecodeCuda.Run(queries, cache, (float)c.Scaling, causal: true, GpuHeader(forDecode: true))
                    : DecoderAttentionKernel.Prefill(queries, cache, (float)c.Scaling, c.SlidingWindow, c.AttnLogitSoftcapping);
                return LayerCacheStep.Project(_oProj, attended.Output, hidden.DType);
            });
        }
        finally
        {
            q.Dispose();
            k.Dispose();
            v.Dispose();
        }
    }

    // q, k, v [B, N, width] in `dtype` on the module's device: projected, q/k normed, rotated to `positions` (N values,
    // or B·N); float32 on the CPU.
    private (Tensor Q, Tensor K, Tensor V) Project(Tensor hidden, int[] positions, DType dtype)
    {
        Tensor x = Attention.Convert(hidden, dtype);
        Tensor? q = null, k = null, v = null;
        try
        {
            q = _qProj.Apply(x);
            k = _kProj.Apply(x);
            v = _vProj.Apply(x);
            if (Device.Kind == DeviceKind.Cuda)
            {
                NormAndRotateOnGpu(q, k, positions, hidden.Size(1));
            }
            else
            {
                NormAndRotate(q, k, positions, hidden.Size(1));
            }

            return (q, k, v);
        }
        catch
        {
            q?.Dispose();
            k?.Dispose();
            v?.Dispose();
            throw;
        }
        finally
        {
            Attention.DisposeCopy(x, hidden);
        }
    }

    // The q/k norm and RoPE of float32 rows on the CPU, in place.
    private void NormAndRotate(Tensor q, Tensor k, int[] positions, int length)
    {
        DecoderAttentionConfig c = Config;
        int tokens = q.Size(0) * length;
        if (_norms is not null)
        {
            HeadRmsNorm.Apply(q.Float32Storage[..(tokens * c.QueryWidth)], _norms.QValues, c.QkNormEps!.Value, c.QkNormWeightOffset);
            HeadRmsNorm.Apply(k.Float32Storage[..(tokens * c.KeyValueWidth)], _norms.KValues, c.QkNormEps!.Value, c.QkNormWeightOffset);
        }

        Rope.Apply(q.Float32Storage, tokens, length, c.NumAttentionHeads, _invFreq, positions);
        Rope.Apply(k.Float32Storage, tokens, length, c.NumKeyValueHeads, _invFreq, positions);
    }

    private Tensor Run(Tensor hidden, int[] positions, Tensor? keyPaddingMask)
    {
        DecoderAttentionConfig c = Config;
        int batch = hidden.Size(0), length = hidden.Size(1);
        bool onGpu = Device.Kind == DeviceKind.Cuda;
        DType compute = onGpu ? Attention.ComputeType(hidden) : DType.Float32;
        Tensor? q = null, k = null, v = null, heads = null, output = null;
        try
        {
            (q, k, v) = Project(hidden, positions, compute);
            heads = Tensor.Zeros(compute, Device, batch, length, c.QueryWidth);

            // The problem checks the mask against [B, N] before any output is written.
            var problem = new AttentionProblem(
                q.SplitHeads(c.NumAttentionHeads),
                k.SplitHeads(c.NumKeyValueHeads),
                v.SplitHeads(c.NumKeyValueHeads),
                heads.SplitHeads(c.NumAttentionHeads),
                lse: null,
                keyPaddingMask: keyPaddingMask,
                scale: (float)c.Scaling,
                queryTile: QueryTile,
                keyTile: KeyTile);
            if (onGpu)
            {
                FlashAttentionCuda.Forward(problem, causal: true, GpuHeader(), new FlexLaunch(c.AttnLogitSoftcapping is not null, null));
            }
            else
            {
                DecoderAttentionKernel.Run(problem, c.SlidingWindow, c.AttnLogitSoftcapping);
            }

            output = _oProj.Apply(heads);
            return Attention.Convert(output, hidden.DType);
        }
        finally
        {
            // Intermediates go back at once; the output is the result itself when it is already in hidden's dtype.
            q?.Dispose();
            k?.Dispose();
            v?.Dispose();
            heads?.Dispose();
            if (output is not null && output.DType != hidden.DType)
            {
                output.Dispose();
            }
        }
    }

    private void CheckHidden(Tensor hidden)
    {
        ArgumentNullException.ThrowIfNull(hidden);
        hidden.ThrowIfDisposed(nameof(hidden));
        ShapeCheck.Rank(hidden, 3, $"[B, N, {Config.HiddenSize}]", nameof(hidden));
        ShapeCheck.FloatingPoint(hidden, nameof(hidden));
        ShapeCheck.Dim(hidden, 2, Config.HiddenSize, "hidden_size", nameof(hidden));
        ShapeCheck.OnDevice(hidden, Device, nameof(hidden));
    }

    private static int[] PositionsOf(Tensor positionIds, Tensor hidden)
    {
        positionIds.ThrowIfDisposed(nameof(positionIds));
        ShapeCheck.Rank(positionIds, 2, "[B, N] or [1, N]", nameof(positionIds));
        ShapeCheck.DType(positionIds, DType.Int32, nameof(positionIds));
        ShapeCheck.OnDevice(positionIds, Device.Cpu, nameof(positionIds));
        ShapeCheck.Dim(positionIds, 1, hidden.Size(1), "N, as hidden", nameof(positionIds));
        if (positionIds.Size(0) != 1)
        {
            ShapeCheck.Dim(positionIds, 0, hidden.Size(0), "B, as hidden (or 1)", nameof(positionIds));
        }

        return positionIds.ToInt32Array();
    }

    private static int[] Consecutive(int count, int start)
    {
        var positions = new int[count];
        for (int i = 0; i < count; i++)
        {
            positions[i] = start + i;
        }

        return positions;
    }

    private Linear RandomLinear(Random random, int inFeatures, int outFeatures, string name)
    {
        Tensor weight = Linear.RandomWeight(random, inFeatures, outFeatures);
        float bound = 1f / MathF.Sqrt(inFeatures);
        Tensor? bias = Config.AttentionBias ? Tensor.RandomUniform(random, -bound, bound, DType.Float32, outFeatures) : null;
        return new Linear(weight, inFeatures, outFeatures, name, bias, ownsParameters: true);
    }

    private Tensor RandomNorm(Random random) =>
        Tensor.RandomUniform(random, 0.5f - Config.QkNormWeightOffset, 1.5f - Config.QkNormWeightOffset, DType.Float32, Config.HeadDim);

    /// <inheritdoc/>
    private protected override void ReleaseOwnedTensors()
    {
        _qProj.Dispose();
        _kProj.Dispose();
        _vProj.Dispose();
        _oProj.Dispose();
        _norms?.Dispose();
        _deviceInvFreq?.Dispose();
    }

    /// <summary>q_norm and k_norm weights [head_dim] with their values read once for the CPU loop, and copied once to a GPU.</summary>
    private sealed class HeadNormWeights(Tensor q, Tensor k) : IDisposable
    {
        private readonly object _gate = new();
        private (Tensor Q, Tensor K)? _onDevice;

        public Tensor Q { get; } = q;

        public Tensor K { get; } = k;

        public float[] QValues { get; } = q.ToFloatArray();

        public float[] KValues { get; } = k.ToFloatArray();

        /// <summary>The weights on <paramref name="device"/> (a GPU), copied at the first call there.</summary>
        public (Tensor Q, Tensor K) OnDevice(Device device)
        {
            lock (_gate)
            {
                if (_onDevice is not { } copies || copies.Q.Device != device)
                {
                    _onDevice?.Q.Dispose();
                    _onDevice?.K.Dispose();
                    copies = (Q.To(device), K.To(device));
                    _onDevice = copies;
                }

                return copies;
            }
        }

        public void Dispose()
        {
            Q.Dispose();
            K.Dispose();
            lock (_gate)
            {
                _onDevice?.Q.Dispose();
                _onDevice?.K.Dispose();
            }
        }
    }
}
