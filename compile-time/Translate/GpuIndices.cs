namespace AttentionGen.CompileTime.Translate;

/// <summary>
/// The bound below which a translated mod's index parameters (b, h, q, kv) stay on the GPU, unless the launch defines
/// AG_EXACT_I2F. One definition for both sides: the generator's CudaTranslator proves its fast int-to-float
/// conversions exact under it, and the runtime's CudaSpecialization.ForIndices (this file is linked into the runtime)
/// defines AG_EXACT_I2F for a launch past it.
/// </summary>
internal static class GpuIndices
{
    public const long Limit = 1L << 21;
}
