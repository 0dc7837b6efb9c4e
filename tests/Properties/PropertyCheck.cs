using System;
using CsCheck;

namespace AttentionGen.Tests.Properties;

/// <summary>
/// How the property tests run and how a failure is replayed. A failing property makes CsCheck shrink to the smallest
/// failing case it can find and throw with that case (a record: every size and flag) and its seed:
/// <c>Set seed: "0JFqtjB1usf1" or -e CsCheck_Seed=0JFqtjB1usf1 to reproduce</c>. Replay exactly that case with
/// <code>dotnet test tests/AttentionGen.Tests.csproj -c Release -e CsCheck_Seed=0JFqtjB1usf1 --filter "FullyQualifiedName~PropertyName"</code>
/// (or pass <c>seed: "…"</c> to <see cref="Run{T}"/> while debugging). Each case's tensors come from a
/// <see cref="Random"/> seeded by the case's own DataSeed, so the CsCheck seed fixes the values too. A bug that needs
/// state left by earlier cases (pooled scratch) may pass when its case runs alone: then rerun the whole property.
/// The kernels take the widest vectors the processor has; the narrower paths run with <c>-e DOTNET_EnableAVX512=0</c>
/// (AVX2, 8 lanes) or <c>-e DOTNET_EnableAVX2=0</c> (Vector128, 4 lanes) on the same command.
/// </summary>
internal static class PropertyCheck
{
    /// <summary>Relative error of a float32 computation against the float64 reference (as tests/Numerics use).</summary>
    public const double Fp32Output = 2e-5;

    /// <summary>bf16 outputs are rounded to 8 significant bits (2^-9 ≈ 2e-3 relative), inputs compared as given.</summary>
    public const double Bf16Output = 1e-2;

    /// <summary>LSE is float32 in both dtypes (the kernel computes on the exactly widened inputs): absolute, relative above 1.</summary>
    public const double Lse = 1e-5;

    /// <summary>The dtypes the properties draw inputs in.</summary>
    public static readonly Gen<DType> InputDType = Gen.OneOf(DType.Float32, DType.BFloat16);

    /// <summary>Lengths, mostly small: 1, a few rows, then up to <paramref name="max"/> (past the 96-row and 256-key tiles when max allows).</summary>
    public static Gen<int> Length(int max) => Gen.Frequency((2, Gen.Int[1, 3]), (4, Gen.Int[1, 40]), (3, Gen.Int[1, max]));

    /// <summary>Head dims 1..160 with odd ones and ones off every SIMD width (4, 8, 16 lanes) and the GEMM's 2/4-vector panels.</summary>
    public static readonly Gen<int> HeadDim = Gen.Frequency((3, Gen.Int[1, 20]), (3, Gen.Int[1, 80]), (1, Gen.Int[81, 160]));

    /// <summary>Output tolerance for inputs of <paramref name="dtype"/>.</summary>
    public static double OutputTolerance(DType dtype) => dtype == DType.Float32 ? Fp32Output : Bf16Output;

    /// <summary>
    /// Multiplies every property's iterations: <c>-e ATTENTIONGEN_PROPERTY_SCALE=10</c> for a soak run (the defaults keep
    /// the suite to seconds; a stale-scratch bug in the CPU kernel needed ~1,000 block-mask cases to show).
    /// </summary>
    public static readonly int IterationScale =
        int.TryParse(Environment.GetEnvironmentVariable("ATTENTIONGEN_PROPERTY_SCALE"), out int scale) && scale > 0 ? scale : 1;

    /// <summary>Samples <paramref name="gen"/> <paramref name="iterations"/> times, shrinking any failure (see the class comment to replay one).</summary>
    public static void Run<T>(Gen<T> gen, Action<T> property, int iterations, string? seed = null) =>
        gen.Sample(property, seed: seed, iter: iterations * IterationScale);
}
