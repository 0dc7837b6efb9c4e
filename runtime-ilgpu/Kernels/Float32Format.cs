namespace AttentionGen.ILGpu.Kernels;

/// <summary>float32 storage: nothing to convert.</summary>
internal readonly struct Float32Format : IStorageFormat<float>
{
    public float Load(float value) => value;

    public float Store(float value) => value;
}
