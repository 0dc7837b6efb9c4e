using System;
using AttentionGen.Cpu;
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
            header = new GpuHeader(problem.HeadDim, CompileTime.Kernels.KernelDefines.HeadDim(problem.HeadDim) + RequireCudaHeader());
            _gpuHeader = header;
        }

        Cuda.FlashAttentionCuda.Forward(problem, causal: false, header.Text, new Cuda.FlexLaunch(HasScoreMod, blockMask, capture));
    }

    // The specialization header of the head dim last run on a GPU (one reference, so readers see a consistent pair).
    private GpuHeader? _gpuHeader;

    private sealed record GpuHeader(int HeadDim, string Text);

    private string RequireCudaHeader() =>
        CudaHeader ?? throw new NotSupportedException($"{GetType().Name}'s mods were not translated to CUDA (see its AG0019 diagnostics, or AG0029 for a mod from an assembly without source); run it on the cpu.");

    /// <summary>True when the generator recognised the mask mod and compiled its tile plan in closed form (no block mask needed).</summary>
    public virtual bool HasClosedFormPlan => false;

    /// <summary>Runs the kernel specialized on this class's mods, following <paramref name="blockMask"/>'s blocks when given; <paramref name="capture"/> is what the mods read.</summary>
    protected abstract void Attend(AttentionProblem problem, BlockMask? blockMask, Tensor? capture);
}
