using System;
using System.Runtime.CompilerServices;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using AttentionGen.Cpu;

namespace AttentionGen.Modules;

/// <summary>
/// y = x Wᵀ (+ b), W [out, in] as PyTorch stores it. The transpose is packed once, at
/// construction, so every call runs the blocked GEMM on row-major operands.
/// </summary>
/// <remarks>
/// Dispose releases the copies this Linear made (the packed transpose, the weight and bias on each GPU); the weight and
/// bias passed to the constructor stay the caller's. After Dispose, <see cref="Weight"/>, <see cref="Bias"/>,
/// <see cref="Apply(Tensor)"/> and <see cref="Prepare"/> throw <see cref="ObjectDisposedException"/>.
/// </remarks>
public sealed partial class Linear : DisposableModule
{
    /// <summary>Rows of x per parallel work item: a multiple of the GEMM's 6-row block.</summary>
    private const int RowsPerItem = 48;

    private readonly Tensor _weightT;
    private readonly float[]? _bias;

    // The weight on each GPU, in each dtype it was used with.
    private readonly ConcurrentDictionary<(Device, DType), Tensor> _deviceWeights = new();
    private readonly ConcurrentDictionary<Device, Tensor> _deviceBiases = new();

    // True when this Linear made its weight and bias (random ones, or a module's rounded copies): Dispose releases them too.
    private readonly bool _ownsParameters;

    private readonly Tensor _weight;
    private readonly Tensor? _biasTensor;

    /// <summary>
    /// Wraps <paramref name="weight"/> [<paramref name="outFeatures"/>, <paramref name="inFeatures"/>] and the optional
    /// <paramref name="bias"/> [out]. They stay the caller's: disposing this Linear leaves them alive.
    /// </summary>
    public Linear(Tensor weight, int inFeatures, int outFeatures, string paramName, Tensor? bias = null)
        : this(weight, inFeatures, outFeatures, paramName, bias, ownsParameters: false)
    {
    }

    /// <summary>As the public constructor; <paramref name="ownsParameters"/>: the caller made weight and bias for this Linear alone, which then disposes them.</summary>
    internal Linear(Tensor weight, int inFeatures, int outFeatures, string paramName, Tensor? bias, bool ownsParameters)
    {
        _ownsParameters = ownsParameters;
        ArgumentOutOfRangeException.ThrowIfNegative(inFeatures);   // else the weight's shape check asked for "-1"
        ArgumentOutOfRangeException.ThrowIfNegative(outFeatures);
        ArgumentNullException.ThrowIfNull(weight, paramName);
        ShapeCheck.Rank(weight, 2, $"[{outFeatures}, {inFeatures}]", paramName);
        ShapeCheck.FloatingPoint(weight, paramName);
        ShapeCheck.Dim(weight, 0, outFeatures, "out features", paramName);
        ShapeCheck.Dim(weight, 1, inFeatures, "in features", paramName);
        _weight = weight;
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        _weightT = weight.To(DType.Float32).Transpose(0, 1).Contiguous();
        if (bias is not null)
        {
            string biasName = paramName + "Bias";
            ShapeCheck.Rank(bias, 1, $"[{outFeatures}]", biasName);
            ShapeCheck.FloatingPoint(bias, biasName);
            ShapeCheck.Dim(bias, 0, outFeatures, "out features", biasName);
            _biasTensor = bias;
            _bias = bias.ToFloatArray();
        }
    }

    /// <summary>The bias [out], or null.</summary>
    public Tensor? Bias => NotDisposed(_biasTensor);

    /// <summary>The weight [out, in], as given.</summary>
    public Tensor Weight => NotDisposed(_weight);

    /// <summary>Width of the input.</summary>
    public int InFeatures { get; }

    /// <summary>Width of the output.</summary>
    public int OutFeatures { get; }

    /// <summary>Weights drawn like PyTorch's default: uniform in ±1/sqrt(in).</summary>
    public static Tensor RandomWeight(Random random, int inFeatures, int outFeatures)
    {
        float bound = 1f / MathF.Sqrt(Math.Max(inFeatures, 1));
        return Tensor.RandomUniform(random, -bound, bound, DType.Float32, outFeatures, inFeatures);
    }

    /// <summary>Copies the weight to <paramref name="device"/> in <paramref name="dtype"/> ahead of the first call there.</summary>
    public void Prepare(Device device, DType dtype)
    {
        using Call call = BeginCall();
        if (device.Kind == DeviceKind.Cuda)
        {
            _ = DeviceWeight(device, dtype);
        }
    }

    /// <summary>
    /// x [..., in] → [..., out]. On the CPU x is float32 and the blocked SIMD GEMM runs; on a GPU x may be
    /// bfloat16, float16 or float32 and cuBLAS runs in that dtype with fp32 accumulation.
    /// </summary>
    public Tensor Apply(Tensor x)
    {
        using Call call = BeginCall();
        ArgumentNullException.ThrowIfNull(x);
        ShapeCheck.Dim(x, x.Rank - 1, InFeatures, "in features", nameof(x));
        if (x.Device.Kind == DeviceKind.Cuda)
        {
            return ApplyOnGpu(x);
        }

        ShapeCheck.DType(x, DType.Float32, nameof(x));
        Tensor input = x.Contiguous();
        int rows = Rows(input, nameof(x));
        int[] shape = input.Shape.ToArray();
        shape[^1] = OutFeatures;
        Tensor y = Tensor.Zeros(DType.Float32, shape);
        ApplyOnCpu(input.Float32Storage.Slice((int)input.Offset, rows * InFeatures), y.Float32Storage, rows);
        return y;
    }

    /// <summary>
    /// y [rows, out] = x [rows, in] Wᵀ (+ b) on the CPU, over memory the caller owns (row-major, rows = x.Length / in):
    /// the tensor overload's bits, and nothing allocated once warm. x and y may not overlap; a bad argument throws before
    /// y is written.
    /// </summary>
    public void Apply(ReadOnlySpan<float> x, Span<float> y)
    {
        using Call call = BeginCall();
        int rows = InFeatures > 0 ? x.Length / InFeatures : OutFeatures > 0 ? y.Length / OutFeatures : 0;
        if ((long)rows * InFeatures != x.Length)
        {
            throw new ArgumentException($"x must hold whole rows of {InFeatures} in features; got {x.Length} elements.", nameof(x));
        }

        if ((long)rows * OutFeatures != y.Length)
        {
            throw new ArgumentException($"y must hold {rows} rows of {OutFeatures} out features = {(long)rows * OutFeatures} elements (x has {rows} rows); got {y.Length}.", nameof(y));
        }

        if (y.Overlaps(x))
        {
            throw new ArgumentException("y overlaps x: the GEMM writes y while it reads x; give y memory of its own.", nameof(y));
        }

        ApplyOnCpu(x, y, rows);
    }

    // Every CPU call comes here: rows of RowsPerItem on the worker team, then the bias.
    private unsafe void ApplyOnCpu(ReadOnlySpan<float> x, Span<float> y, int rows)
    {
        if (InFeatures == 0)
        {
            y.Clear();
        }
        else
        {
            fixed (float* a = x, c = y, b = _weightT.Float32Storage)
            {
                RowsJob.Run(a, b, c, rows, InFeatures, OutFeatures);
            }
        }

        AddBias(y);
    }

    private void AddBias(Span<float> y)
    {
        if (_bias is null)
        {
            return;
        }

        for (int r = 0; r + OutFeatures <= y.Length; r += OutFeatures)
        {
            Span<float> row = y.Slice(r, OutFeatures);
            for (int o = 0; o < OutFeatures; o++)
            {
                row[o] += _bias[o];
            }
        }
    }

    /// <summary>
    /// One GEMM's items (RowsPerItem rows each) for the worker team, reached through addresses pinned for the call; each
    /// thread keeps one and reuses it, so a call allocates nothing.
    /// </summary>
    private sealed unsafe class RowsJob : IParallelWork
    {
        private float* _x;
        private float* _weightT;
        private float* _y;
        private int _rows;
        private int _in;
        private int _out;
        private WorkCounter _counter;

        public static void Run(float* x, float* weightT, float* y, int rows, int inFeatures, int outFeatures)
        {
            RowsJob job = ThreadSpare<RowsJob>.Take();
            job._x = x;
            job._weightT = weightT;
            job._y = y;
            (job._rows, job._in, job._out) = (rows, inFeatures, outFeatures);
            try
            {
                int items = (rows + RowsPerItem - 1) / RowsPerItem;
                job._counter.Reset(items);
                CpuWorkerTeam.Run(job, Math.Min(CpuExecution.MaxThreads, items));
            }
            finally
            {
                job._x = job._weightT = job._y = null;
                ThreadSpare<RowsJob>.Return(job);
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Work()
        {
            try
            {
                while (_counter.TryTake(out int item))
                {
                    int r0 = item * RowsPerItem;
                    int count = Math.Min(RowsPerItem, _rows - r0);
                    Gemm.Multiply(count, _out, _in, ref _x[(long)r0 * _in], _in, ref *_weightT, _out, ref _y[(long)r0 * _out], _out, accumulate: false);
                }
            }
            catch
            {
                _counter.Stop();
                throw;
            }
        }
    }

    // The rows of x [..., InFeatures] the GEMM runs over: an int for the GEMM and cuBLAS, refused by name beyond that.
    private int Rows(Tensor input, string paramName)
    {
        long rows = input.Numel / Math.Max(InFeatures, 1);
        return rows <= int.MaxValue
            ? (int)rows
            : throw new ArgumentException($"{paramName} has {rows} rows of {InFeatures} features; a Linear takes at most {int.MaxValue} rows per call.", paramName);
    }

    private Tensor ApplyOnGpu(Tensor x)
    {
        ShapeCheck.FloatingPoint(x, nameof(x));
        Tensor input = x.Contiguous();
        int rows = Rows(input, nameof(x));
        int[] shape = input.Shape.ToArray();
        shape[^1] = OutFeatures;
        Tensor y = Tensor.Zeros(x.DType, x.Device, shape);
        if (InFeatures > 0)
        {
            Cuda.CudaGemm.LinearForward(input, DeviceWeight(x.Device, x.DType), y, rows, InFeatures, OutFeatures);
        }

        if (_biasTensor is not null)
        {
            Cuda.CudaElementwise.AddBias(y, CachedCopy(_deviceBiases, x.Device, _biasTensor, DType.Float32, x.Device));
        }

        return y;
    }

    private Tensor DeviceWeight(Device device, DType dtype) => CachedCopy(_deviceWeights, (device, dtype), _weight, dtype, device);

    /// <inheritdoc/>
    private protected override void ReleaseOwnedTensors()
    {
        ReleaseCopy(_weightT, _weight);
        foreach (Tensor copy in _deviceWeights.Values)
        {
            ReleaseCopy(copy, _weight);
        }

        foreach (Tensor copy in _deviceBiases.Values)
        {
            ReleaseCopy(copy, _biasTensor);
        }

        if (_ownsParameters)
        {
            _weight.Dispose();
            _biasTensor?.Dispose();
        }
    }

    /// <summary>
    /// <paramref name="source"/> in <paramref name="dtype"/> on <paramref name="device"/>, made once per key. A copy made
    /// by a thread that lost the race to add it, and a conversion step on the way, are disposed at once, so every GPU
    /// block this Linear holds is in a cache that Dispose empties.
    /// </summary>
    private static Tensor CachedCopy<TKey>(ConcurrentDictionary<TKey, Tensor> cache, TKey key, Tensor source, DType dtype, Device device)
        where TKey : notnull
    {
        if (cache.TryGetValue(key, out Tensor? cached))
        {
            return cached;
        }

        Tensor converted = source.To(dtype);
        Tensor copy = converted.To(device);
        if (!converted.SharesStorageWith(copy))
        {
            ReleaseCopy(converted, source);
        }

        Tensor kept = cache.GetOrAdd(key, copy);
        if (!ReferenceEquals(kept, copy))
        {
            ReleaseCopy(copy, source);
        }

        return kept;
    }

    // A conversion that changed nothing returns its source; disposing that "copy" would dispose the caller's tensor.
    private static void ReleaseCopy(Tensor copy, Tensor? source)
    {
        if (source is null || !copy.SharesStorageWith(source))
        {
            copy.Dispose();
        }
    }
}
