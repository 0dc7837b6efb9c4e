using System;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Threading.Tasks;
using AttentionGen.Cpu;

namespace AttentionGen.Modules;

/// <summary>
/// y = x Wᵀ (+ b), W [out, in] as PyTorch stores it. The transpose is packed once, at
/// construction, so every call runs the blocked GEMM on row-major operands.
/// </summary>
public sealed partial class Linear
{
    /// <summary>Rows of x per parallel work item: a multiple of the GEMM's 6-row block.</summary>
    private const int RowsPerItem = 48;

    private readonly Tensor _weightT;
    private readonly float[]? _bias;

    // The weight on each GPU, in each dtype it was used with.
    private readonly ConcurrentDictionary<(Device, DType), Tensor> _deviceWeights = new();
    private readonly ConcurrentDictionary<Device, Tensor> _deviceBiases = new();

    /// <summary>Wraps <paramref name="weight"/> [<paramref name="outFeatures"/>, <paramref name="inFeatures"/>] and the optional <paramref name="bias"/> [out].</summary>
    public Linear(Tensor weight, int inFeatures, int outFeatures, string paramName, Tensor? bias = null)
    {
        ArgumentNullException.ThrowIfNull(weight, paramName);
        ShapeCheck.Rank(weight, 2, $"[{outFeatures}, {inFeatures}]", paramName);
        ShapeCheck.FloatingPoint(weight, paramName);
        ShapeCheck.Dim(weight, 0, outFeatures, "out features", paramName);
        ShapeCheck.Dim(weight, 1, inFeatures, "in features", paramName);
        Weight = weight;
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        _weightT = weight.To(DType.Float32).Transpose(0, 1).Contiguous();
        if (bias is not null)
        {
            string biasName = paramName + "Bias";
            ShapeCheck.Rank(bias, 1, $"[{outFeatures}]", biasName);
            ShapeCheck.FloatingPoint(bias, biasName);
            ShapeCheck.Dim(bias, 0, outFeatures, "out features", biasName);
            Bias = bias;
            _bias = bias.ToFloatArray();
        }
    }

    /// <summary>The bias [out], or null.</summary>
    public Tensor? Bias { get; }

    /// <summary>The weight [out, in], as given.</summary>
    public Tensor Weight { get; }

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
        ArgumentNullException.ThrowIfNull(x);
        ShapeCheck.Dim(x, x.Rank - 1, InFeatures, "in features", nameof(x));
        if (x.Device.Kind == DeviceKind.Cuda)
        {
            return ApplyOnGpu(x);
        }

        ShapeCheck.DType(x, DType.Float32, nameof(x));
        Tensor input = x.Contiguous();
        int rows = (int)(input.Numel / Math.Max(InFeatures, 1));
        int[] shape = input.Shape.ToArray();
        shape[^1] = OutFeatures;
        Tensor y = Tensor.Zeros(DType.Float32, shape);
        if (InFeatures == 0)
        {
            AddBias(y);
            return y;
        }

        int items = (rows + RowsPerItem - 1) / RowsPerItem;
        Parallel.For(0, items, CpuExecution.Options, item =>
        {
            int r0 = item * RowsPerItem;
            int count = Math.Min(RowsPerItem, rows - r0);
            ref float a = ref MemoryMarshal.GetReference(input.Float32Storage[(int)(input.Offset + ((long)r0 * InFeatures))..]);
            ref float b = ref MemoryMarshal.GetReference(_weightT.Float32Storage);
            ref float c = ref MemoryMarshal.GetReference(y.Float32Storage[(r0 * OutFeatures)..]);
            Gemm.Multiply(count, OutFeatures, InFeatures, ref a, InFeatures, ref b, OutFeatures, ref c, OutFeatures, accumulate: false);
        });
        AddBias(y);
        return y;
    }

    private void AddBias(Tensor y)
    {
        if (_bias is null)
        {
            return;
        }

        Span<float> values = y.Float32Storage;
        for (int r = 0; r + OutFeatures <= values.Length; r += OutFeatures)
        {
            Span<float> row = values.Slice(r, OutFeatures);
            for (int o = 0; o < OutFeatures; o++)
            {
                row[o] += _bias[o];
            }
        }
    }

    private Tensor ApplyOnGpu(Tensor x)
    {
        ShapeCheck.FloatingPoint(x, nameof(x));
        Tensor input = x.Contiguous();
        int rows = (int)(input.Numel / Math.Max(InFeatures, 1));
        int[] shape = input.Shape.ToArray();
        shape[^1] = OutFeatures;
        Tensor y = Tensor.Zeros(x.DType, x.Device, shape);
        if (InFeatures > 0)
        {
            Cuda.CudaGemm.LinearForward(input, DeviceWeight(x.Device, x.DType), y, rows, InFeatures, OutFeatures);
        }

        if (Bias is not null)
        {
            Cuda.CudaElementwise.AddBias(y, _deviceBiases.GetOrAdd(x.Device, device => Bias.To(DType.Float32).To(device)));
        }

        return y;
    }

    private Tensor DeviceWeight(Device device, DType dtype) =>
        _deviceWeights.GetOrAdd((device, dtype), key => Weight.To(key.Item2).To(key.Item1));
}
