namespace AttentionGen.ILGpu.Kernels;

/// <summary>
/// How the kernel reads and writes one element of accelerator memory: <typeparamref name="T"/> is what is stored
/// (float, or the 16 bits of a bf16/fp16), the kernel computes in float32. A struct type parameter of the kernel, so
/// ILGPU inlines the conversion; it must be code every backend compiles (integer and float arithmetic, no tables).
/// </summary>
/// <typeparam name="T">The stored element.</typeparam>
internal interface IStorageFormat<T>
    where T : unmanaged
{
    /// <summary>The stored element as float32, exactly.</summary>
    float Load(T value);

    /// <summary>A float32 rounded to the stored format, to nearest even; NaN stays NaN.</summary>
    T Store(float value);
}
