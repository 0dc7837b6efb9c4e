using System;
using System.Collections.Generic;
using AttentionGen.Cpu;
using AttentionGen.Inference;
using AttentionGen.Masks;

namespace AttentionGen.Modules;

/// <summary>
/// The module behind <c>[Flex]</c> (SPEC §5): attention over q, k and v with the class's <c>[MaskMod]</c> and
/// <c>[ScoreMod]</c> compiled into the kernel. The generated partial class derives from it and supplies
/// <see cref="Attend"/>, which calls the tiled kernel specialized on structs that call the mods, so the JIT/AOT
/// compiler inlines them, and the CUDA header with the mods translated to CUDA C for tensors on a GPU. A mask the
/// generator recognised also brings its closed-form tile plan; others can take a <see cref="BlockMask"/>.
/// </summary>
/// <remarks>
/// The module holds no tensors; after Dispose, <see cref="Forward"/> (with or without a capture) and
/// <see cref="CreateBlockMask"/> throw <see cref="ObjectDisposedException"/>, as every module does. The mods
/// (<see cref="MaskMod"/>, <see cref="BindMaskMod"/>) are the class's static methods and stay callable.
/// </remarks>
public abstract partial class FlexAttentionModule : DisposableModule
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
        ThrowIfDisposed();
        if (CaptureName is { } name)
        {
            throw new ArgumentException($"{GetType().Name}'s mods read the capture '{name}': call the Forward overload that takes it.", name);
        }

        FlexAttention.CheckOperands(q, k, v, enableGqa, blockMask, cpuOnlyFeature: null);
        return Run(q, k, v, capture: null, scale, enableGqa, blockMask);
    }

    /// <summary>The name of the capture the mods read (their ReadOnlySpan parameter), or null; the generated Forward overload takes it.</summary>
    public virtual string? CaptureName => null;

    /// <summary>
    /// Forward with the mods' capture: any shape, read flat; <paramref name="dtype"/> (int32 or float32) as the mods
    /// declare it, on q's device. Mods must index it within its length: an index past the end is an ArgumentException
    /// naming <paramref name="captureParam"/> (checked at the corners of the index box before running, see
    /// <see cref="CaptureBounds"/>; on the CPU also wherever it happens).
    /// </summary>
    protected AttentionOutput ForwardWithCapture(Tensor q, Tensor k, Tensor v, Tensor capture, DType dtype, string captureParam, float? scale, bool enableGqa, BlockMask? blockMask)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(capture, captureParam);
        ArgumentNullException.ThrowIfNull(q);
        ShapeCheck.DType(capture, dtype, captureParam);
        ShapeCheck.SameDevice(capture, q, captureParam);
        FlexAttention.CheckOperands(q, k, v, enableGqa, blockMask, cpuOnlyFeature: null);
        var box = (q.Size(0), q.Size(1), q.Size(2), k.Size(2));
        var info = new CaptureInfo(GetType().Name, captureParam, capture.Numel);
        // Binding a GPU capture copies it to the host, which waits for the stream: check a capture once per box, not per call.
        if (_checkedCapture is not { } last || !last.Capture.TryGetTarget(out Tensor? seen) || !ReferenceEquals(seen, capture) || last.Box != box)
        {
            CaptureBounds.CheckCorners(BindMaskMod(capture), BindScoreMod(capture), box, info);
            _checkedCapture = new CheckedCapture(new WeakReference<Tensor>(capture), box);
        }

        try
        {
            return Run(q, k, v, capture.Contiguous(), scale, enableGqa, blockMask);
        }
        catch (IndexOutOfRangeException e) when (q.Device.Kind == DeviceKind.Cpu)
        {
            throw CaptureBounds.OutOfRange(info, box, e);
        }
    }

    /// <summary>
    /// flex_attention of the new tokens' <paramref name="q"/> [B, Hq, T, E] (T ≥ 1) over what <paramref name="cache"/>
    /// holds and themselves: appends <paramref name="k"/> [B, Hkv, T, E] and <paramref name="v"/> [B, Hkv, T, Ev] to every
    /// sequence (rounded to the cache's dtype), then attends with the class's mods at absolute positions: query i of
    /// sequence b is at position length(b) + i (its length before this call), key j at j. The mask alone decides what a
    /// query sees (no causal mask is implied), so the rows equal those of <see cref="Forward"/> over the whole sequence
    /// whenever the mask never lets a query see a later key (a causal mask, a window); a prompt prefilled in chunks then
    /// gives the rows of one call. Query head h reads kv head h / (Hq / Hkv). Returns the output in q's dtype and the LSE.
    /// </summary>
    /// <remarks>
    /// On the cache's device: on a GPU the translated mods run in the decode kernel. Every check runs before anything is
    /// written: ArgumentException naming the tensor (k or v against the cache's batch, kv heads and head dims) or
    /// <paramref name="cache"/> (no room for T more tokens), ObjectDisposedException for a disposed cache.
    /// </remarks>
    public AttentionOutput Prefill(Tensor q, Tensor k, Tensor v, KvCache cache, float? scale = null) =>
        CacheStep(q, k, v, cache, scale, decode: false, info: null, capture: null);

    /// <summary><see cref="Prefill"/> of 1..<see cref="DecodeAttention.MaxQueries"/> new tokens per sequence: one decode step, or drafted tokens to verify.</summary>
    public AttentionOutput Decode(Tensor q, Tensor k, Tensor v, KvCache cache, float? scale = null) =>
        CacheStep(q, k, v, cache, scale, decode: true, info: null, capture: null);

    /// <summary>
    /// Prefill (<paramref name="decode"/> false) or Decode with the mods' capture <paramref name="capture"/> (a
    /// <paramref name="dtype"/> tensor on the cpu): the generated overloads of a class whose mods read one.
    /// </summary>
    protected AttentionOutput CacheStepWithCapture(Tensor q, Tensor k, Tensor v, Tensor capture, DType dtype, string captureParam, KvCache cache, float? scale, bool decode)
    {
        ArgumentNullException.ThrowIfNull(capture, captureParam);
        capture.ThrowIfDisposed(captureParam);
        ShapeCheck.DType(capture, dtype, captureParam);
        ShapeCheck.OnCpu(capture, captureParam, "checking the mods' indices before Prefill and Decode");
        return CacheStep(q, k, v, cache, scale, decode, new CaptureInfo(GetType().Name, captureParam, capture.Numel), capture);
    }

    private AttentionOutput CacheStep(Tensor q, Tensor k, Tensor v, KvCache cache, float? scale, bool decode, CaptureInfo? info, Tensor? capture)
    {
        using Call call = BeginCall();
        if (info is null && CaptureName is { } name)
        {
            throw new ArgumentException($"{GetType().Name}'s mods read the capture '{name}': call the {(decode ? "Decode" : "Prefill")} overload that takes it.", name);
        }

        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(v);
        ArgumentNullException.ThrowIfNull(cache);
        cache.ThrowIfDisposed();
        CheckNewRows(k, "[B, Hkv, T, E]", cache.Device, nameof(k));
        CheckNewRows(v, "[B, Hkv, T, Ev]", cache.Device, nameof(v));
        ShapeCheck.Dim(v, 0, k.Size(0), "B, as k", nameof(v));
        ShapeCheck.Dim(v, 1, k.Size(1), "Hkv, as k", nameof(v));
        ShapeCheck.Dim(v, 2, k.Size(2), "T, as k", nameof(v));

        // The cache's sizes are fixed where it was made; new rows that contradict them name the rows' tensor.
        ShapeCheck.Dim(k, 0, cache.Batch, "B, the cache's batch", nameof(k));
        ShapeCheck.Dim(k, 1, cache.KvHeads, "Hkv, the cache's kv heads", nameof(k));
        ShapeCheck.Dim(k, 3, cache.HeadDim, "E, the cache's head dim", nameof(k));
        ShapeCheck.Dim(v, 3, cache.ValueDim, "Ev, the cache's value dim", nameof(v));
        using KvCache.UseScope use = cache.Use();   // held from the checks on: the capture's bounds are checked at the lengths read here
        cache.CheckLayerAppend(GetType().Name, k.Size(0), k.Size(1), k.Size(3), v.Size(3), k.Size(2), nameof(cache));
        bool onGpu = cache.Device.Kind == DeviceKind.Cuda;
        string? header = onGpu ? RequireCudaHeader() : null;   // before anything is appended: a layer without CUDA mods stops here
        q.ThrowIfDisposed(nameof(q));
        DecodeAttention.CheckQuery(q, cache, LayerCacheStep.MostTokens(decode));
        ShapeCheck.Dim(q, 2, k.Size(2), "T, as k", nameof(q));
        float resolvedScale = DecodeAttention.ResolveScale(scale, cache);
        var box = (q.Size(0), q.Size(1), 0, 0);
        if (info is not null)
        {
            // Every position a mod may be called with after the append, checked before anything is written.
            int longest = 0;
            for (int b = 0; b < cache.Batch; b++)
            {
                longest = Math.Max(longest, cache.Length(b) + k.Size(2));
            }

            box = (q.Size(0), q.Size(1), longest, longest);
            CaptureBounds.CheckCorners(BindMaskMod(capture), BindScoreMod(capture), box, info);
        }

        return LayerCacheStep.AppendThen(cache, k, v, () =>
        {
            Tensor? flat = onGpu ? capture?.To(cache.Device) : capture?.Contiguous();
            try
            {
                return onGpu ? AttendCacheOnGpu(q, cache, resolvedScale, header!, flat) : AttendCache(q, cache, resolvedScale, flat);
            }
            catch (IndexOutOfRangeException e) when (info is not null)
            {
                throw CaptureBounds.OutOfRange(info, box, e);
            }
            finally
            {
                if (flat is not null)
                {
                    Attention.DisposeCopy(flat, capture!);
                }
            }
        });
    }

    // The translated mods in the GPU decode kernel, at the positions the CPU's AttendCache gives them.
    private static AttentionOutput AttendCacheOnGpu(Tensor q, KvCache cache, float scale, string header, Tensor? capture)
    {
        Tensor queries = q.To(cache.QueryDType);
        try
        {
            AttentionOutput result = DecodeCuda.Run(queries, cache, scale, causal: false, header, capture);
            return Attention.InDType(result, q.DType);
        }
        finally
        {
            Attention.DisposeCopy(queries, q);
        }
    }

    private static void CheckNewRows(Tensor t, string layout, Device device, string paramName)
    {
        t.ThrowIfDisposed(paramName);
        ShapeCheck.OnDevice(t, device, paramName, "the KV cache");
        ShapeCheck.FloatingPoint(t, paramName);
        ShapeCheck.Rank(t, 4, layout, paramName);
    }

    /// <summary>
    /// <paramref name="q"/> (the new tokens; their keys and values are in the cache already) against <paramref name="cache"/>
    /// with this class's mods: the generated class calls <see cref="DecodeAttention.Prefill{TMask, TScore}"/> with its mod
    /// structs. <paramref name="capture"/> is what the mods read (contiguous, on the cpu), or null.
    /// </summary>
    protected virtual AttentionOutput AttendCache(Tensor q, KvCache cache, float? scale, Tensor? capture) =>
        throw new NotSupportedException($"{GetType().Name} has no generated decode path: rebuild it with this version of the AttentionGen generator.");

    // The capture whose corners were last checked, and the box they were checked over (a record: replaced whole, so threads
    // never see half of one).
    private volatile CheckedCapture? _checkedCapture;

    private sealed record CheckedCapture(WeakReference<Tensor> Capture, (int, int, int, int) Box);

    private AttentionOutput Run(Tensor q, Tensor k, Tensor v, Tensor? capture, float? scale, bool enableGqa, BlockMask? blockMask)
    {
        // The callers have checked the operands (FlexAttention.CheckOperands).
        using Call call = BeginCall();
        return Attention.Run(q, k, v, keyPaddingMask: null, scale, BlockSize, BlockSize, problem =>
        {
            if (problem.Device.Kind == DeviceKind.Cuda)
            {
                AttendOnGpu(problem, blockMask, capture);
            }
            else
            {
                Attend(problem, blockMask, capture);
            }
        });
    }

    /// <summary>
    /// The block mask of this class's mask mod over (batch ?? 1, heads ?? 1, L, S) in blocks of <see cref="BlockSize"/>:
    /// built by a GPU kernel from the translated mod when <paramref name="device"/> is a GPU, else on the CPU.
    /// Classes whose mod the generator recognised need none (<see cref="HasClosedFormPlan"/>); one still restricts them.
    /// </summary>
    public BlockMask CreateBlockMask(int? batch, int? heads, int queryLength, int keyLength, Device? device = null, Tensor? capture = null)
    {
        using Call call = BeginCall();
        Device target = device ?? Device.Cpu;
        if (CaptureName is { } name && capture is null)
        {
            throw new ArgumentException($"{GetType().Name}'s mask mod reads the capture '{name}': pass it.", nameof(capture));
        }

        if (CaptureName is null && capture is not null)
        {
            throw new ArgumentException($"{GetType().Name}'s mods read no capture; pass none (it would be ignored).", nameof(capture));
        }

        MaskFunction? bound = BindMaskMod(capture);
        var box = (batch ?? 1, heads ?? 1, queryLength, keyLength);
        var info = capture is null ? null : new CaptureInfo(GetType().Name, nameof(capture), capture.Numel);
        if (info is not null)
        {
            CaptureBounds.CheckCorners(bound, score: null, box, info);
        }

        if (target.Kind != DeviceKind.Cuda)
        {
            try
            {
                return FlexAttention.CreateBlockMask(bound ?? FlexAttention.NoopMask, batch, heads, queryLength, keyLength, target, BlockSize);
            }
            catch (IndexOutOfRangeException e) when (info is not null)
            {
                throw CaptureBounds.OutOfRange(info, box, e);
            }
        }

        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch ?? 1, nameof(batch));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(heads ?? 1, nameof(heads));
        ArgumentOutOfRangeException.ThrowIfNegative(queryLength);
        ArgumentOutOfRangeException.ThrowIfNegative(keyLength);
        return Cuda.BlockMaskCuda.Build(RequireCudaHeader(), bound, batch ?? 1, heads ?? 1, queryLength, keyLength, target, BlockSize, capture?.To(target));
    }

    /// <summary>The class's mask mod as a delegate, or null when it has none (or when it reads a capture: see <see cref="BindMaskMod"/>).</summary>
    public MaskFunction? MaskMod => CaptureName is null ? BindMaskMod(null) : null;

    /// <summary>The class's mask mod as a delegate over <paramref name="capture"/> (a host copy of it), or null when it has none.</summary>
    public virtual MaskFunction? BindMaskMod(Tensor? capture) => null;

    /// <summary>The class's score mod as a delegate over <paramref name="capture"/> (a host copy of it), or null when it has none.</summary>
    public virtual ScoreFunction? BindScoreMod(Tensor? capture) => null;

    /// <summary>The mods translated to CUDA C and the closed-form plan (generated); null when a mod is not translatable.</summary>
    protected virtual string? CudaHeader => null;

    /// <summary>Whether the class has a score mod (the GPU kernel then applies the scale before it).</summary>
    protected virtual bool HasScoreMod => false;

    private void AttendOnGpu(AttentionProblem problem, BlockMask? blockMask, Tensor? capture)
    {
        // Built once per head dim, not per call: the launch path runs on every Forward.
        if (_gpuHeader is not { } header || header.HeadDim != problem.HeadDim)
        {
            header = new GpuHeader(problem.HeadDim, ForwardHeader(problem.HeadDim, RequireCudaHeader()));
            _gpuHeader = header;
        }

        Cuda.FlashAttentionCuda.Forward(problem, causal: false, header.Text, new Cuda.FlexLaunch(HasScoreMod, blockMask, capture));
    }

    // The specialization header of the head dim last run on a GPU (one reference, so readers see a consistent pair).
    private GpuHeader? _gpuHeader;

    private sealed record GpuHeader(int HeadDim, string Text);

    /// <summary>
    /// The modules this layer's GPU launches load at head dims <paramref name="headDims"/>: the forward kernel (and the
    /// Hopper one where it runs that head dim), the block-mask builder and the decode kernel, each under the headers the
    /// launchers below compose; none when the mods were not translated. The app's build compiles these ahead
    /// (docs/prebuilt-kernels.md). A launch past 2^21 indices adds AG_EXACT_I2F (CudaSpecialization.ForIndices): that
    /// variant is compiled at run time.
    /// </summary>
    internal IEnumerable<Cuda.KernelRequest> GpuKernels(IEnumerable<int> headDims)
    {
        ArgumentNullException.ThrowIfNull(headDims);
        if (CudaHeader is not { } header)
        {
            yield break;
        }

        foreach (int headDim in headDims)
        {
            foreach (Cuda.KernelRequest forward in Cuda.FlashAttentionCuda.ForwardKernels(headDim, ForwardHeader(headDim, header)))
            {
                yield return forward;
            }
        }

        // CreateBlockMask and CacheStep hand the class's header to these launchers as it is.
        yield return new Cuda.KernelRequest(Cuda.BlockMaskCuda.Template, header);
        yield return new Cuda.KernelRequest(Inference.DecodeCuda.Template, Inference.DecodeCuda.ModuleHeader(header));
    }

    // The forward kernel's header: the head dim, then the class's mods and plan.
    private static string ForwardHeader(int headDim, string header) => CompileTime.Kernels.KernelDefines.HeadDim(headDim) + header;

    private string RequireCudaHeader() =>
        CudaHeader ?? throw new NotSupportedException($"{GetType().Name}'s mods were not translated to CUDA (see its AG0019 diagnostics, or AG0029 for a mod from an assembly without source); run it on the cpu.");

    /// <summary>True when the generator recognised the mask mod and compiled its tile plan in closed form (no block mask needed).</summary>
    public virtual bool HasClosedFormPlan => false;

    /// <summary>Runs the kernel specialized on this class's mods, following <paramref name="blockMask"/>'s blocks when given; <paramref name="capture"/> is what the mods read.</summary>
    protected abstract void Attend(AttentionProblem problem, BlockMask? blockMask, Tensor? capture);
}
