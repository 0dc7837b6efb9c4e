using System;
using System.Diagnostics;
using AttentionGen.Cpu;
using AttentionGen.Cpu.Native;

namespace AttentionGen.Bench;

/// <summary>
/// The single-thread GEMM on the attention kernel's two tile shapes: the ceiling the kernel works under. float32, and bf16
/// through vdpbf16ps and AMX tiles where the processor has them.
/// </summary>
internal static unsafe class GemmBench
{
    public static void Run(int reps)
    {
        Console.WriteLine($"{"gemm (one thread)",-28} {"us",8} {"GFLOP/s",9}");
        Time("S = Q·Kt  96x256, k=64", 96, 256, 64, reps);
        Time("O += P·V  96x64, k=256", 96, 64, 256, reps);
        Time("projection 384x256, k=256", 384, 256, 256, reps);

        // E = 128 as the kernel runs it at M = 4096: B is a key panel of stride 4112 (TransposedKeys.PaddedStride), or V's rows.
        Time("S = Q·Kt  96x256, k=128 *", 96, 256, 128, reps, ldb: 4112);
        Time("O += P·V  96x128, k=256", 96, 128, 256, reps);
        bool amx = AmxBf16Kernels.Use;
        if (Bf16DotKernels.IsSupported)
        {
            AmxBf16Kernels.Use = false;   // the vector kernels alone
            TimeBf16("bf16 S = Q·Kt  96x256, k=64", 96, 256, 64, reps);
            TimeBf16("bf16 O += P·V  96x64, k=256", 96, 64, 256, reps);
            TimeBf16("bf16 O += P·V  96x128, k=256", 96, 128, 256, reps);
            TimeKeyPanel("bf16 S 96x256 k=128 panel", reps, compact: false);
            TimeKeyPanel("bf16 S 96x256 k=128 compact", reps, compact: true);
        }

        if (AmxBf16Kernels.IsSupported)
        {
            // The same calls with AMX taking the whole tiles (as attention does unless ATTENTIONGEN_CPU_AMX=0).
            AmxBf16Kernels.Use = true;
            TimeBf16("amx S = Q·Kt  96x256, k=64", 96, 256, 64, reps);
            TimeBf16("amx O += P·V  96x64, k=256", 96, 64, 256, reps);
            TimeBf16("amx O += P·V  96x128, k=256", 96, 128, 256, reps);
            TimeKeyPanel("amx S 96x256 k=128 panel", reps, compact: false);
            TimeKeyPanel("amx S 96x256 k=128 compact", reps, compact: true);
        }

        AmxBf16Kernels.Use = amx;
        TimeSoftmax(reps);
    }

    /// <summary>
    /// The pair path's softmax on a 96 × 256 tile of scores (max, exp, bf16 probabilities, sums), ns a score: what each
    /// score costs the attention beside its two GEMMs. Each row keeps its max from the last call, as most rows do.
    /// </summary>
    private static void TimeSoftmax(int reps)
    {
        const int Rows = 96, Columns = 256;
        var random = new Random(1);
        float[] scores = new float[Rows * Columns], original = Fill(random, Rows * Columns), max = new float[Rows], sum = new float[Rows];
        float[] keep = new float[Columns], accumulator = new float[Rows * 128];
        ushort[] probabilities = new ushort[Rows * Columns];
        Array.Fill(max, 8f);
        int inner = 200;
        double best = double.MaxValue;
        for (int r = 0; r < reps; r++)
        {
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < inner; i++)
            {
                for (int row = 0; row < Rows; row++)
                {
                    OnlineSoftmax.UpdateRowToBFloat16<AttentionGen.Cpu.Simd.Simd512>(ref scores[row * Columns], Columns, 0.125f, false, ref keep[0], ref probabilities[row * Columns], false, ref max[row], ref sum[row], ref accumulator[row * 128], 128);
                }
            }

            best = Math.Min(best, clock.Elapsed.TotalNanoseconds / inner / (Rows * Columns));
            original.CopyTo(scores, 0);
        }

        Console.WriteLine($"{"softmax 96x256 (AVX-512)",-28} {best,8:F3} ns a score");
    }

    private static void TimeBf16(string name, int m, int n, int k, int reps)
    {
        var random = new Random(1);
        ushort[] a = RandomBFloat16(random, m * k), b = RandomBFloat16(random, k * n);

        float[] c = new float[m * n];
        fixed (ushort* pa = a, pb = b)
        fixed (float* pc = c)
        {
            ushort* qa = pa, qb = pb;
            float* qc = pc;
            Report(name, m, n, k, reps, () => Bf16DotKernels.Multiply(m, n, k / 2, (byte*)qa, k * 2, (byte*)qb, n * 4, qc, n * 4, accumulate: true));
        }
    }

    /// <summary>
    /// S = Q·Kt (96 × 256, head dim 128) as attention runs it over 4096 keys: B walks a key panel one 256-key window a call.
    /// The kernel's panel (compact false) holds a pair row of every key, 4112 pairs apart, so a tile's 16 rows sit in 16
    /// pages; compact windows hold their 256 keys' 64 pair rows together (rows 1 KB apart), the bytes read being the same.
    /// </summary>
    private static void TimeKeyPanel(string name, int reps, bool compact)
    {
        const int M = 96, Window = 256, Pairs = 64, Keys = 4096;
        int stride = compact ? Window : TransposedKeys.PaddedStride(Keys + 15);
        var random = new Random(1);
        ushort[] a = RandomBFloat16(random, M * Pairs * 2);
        ushort[] b = RandomBFloat16(random, 2 * (compact ? Keys * Pairs : Pairs * stride));   // pairs: two bf16 a 32-bit word

        float[] c = new float[M * Window];
        int window = 0;
        fixed (ushort* pa = a, pb = b)
        fixed (float* pc = c)
        {
            ushort* qa = pa;
            uint* qb = (uint*)pb;
            float* qc = pc;
            Report(name, M, Window, Pairs * 2, reps, () =>
            {
                window = (window + 1) % (Keys / Window);
                uint* start = compact ? qb + (window * Window * Pairs) : qb + (window * Window);
                Bf16DotKernels.Multiply(M, Window, Pairs, (byte*)qa, Pairs * 4, (byte*)start, stride * 4, qc, Window * 4, accumulate: false);
            });
        }
    }

    private static void Report(string name, int m, int n, int k, int reps, Action multiply)
    {
        int inner = Math.Max(1, 200_000_000 / (2 * m * n * k));
        double best = double.MaxValue;
        for (int r = 0; r < reps; r++)
        {
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < inner; i++)
            {
                multiply();
            }

            best = Math.Min(best, clock.Elapsed.TotalMicroseconds / inner);
        }

        Console.WriteLine($"{name,-28} {best,8:F2} {2.0 * m * n * k / best / 1e3,9:F1}");
    }

    private static void Time(string name, int m, int n, int k, int reps, int ldb = 0)
    {
        var random = new Random(1);
        ldb = Math.Max(ldb, n);
        float[] a = Fill(random, m * k), b = Fill(random, k * ldb), c = new float[m * n];
        Report(name, m, n, k, reps, () => Gemm.Multiply(m, n, k, ref a[0], k, ref b[0], ldb, ref c[0], n, accumulate: true));
    }

    // Uniform [0, 1) values, truncated to bf16.
    private static ushort[] RandomBFloat16(Random random, int length)
    {
        var x = new ushort[length];
        for (int i = 0; i < length; i++)
        {
            x[i] = (ushort)(BitConverter.SingleToUInt32Bits(random.NextSingle()) >> 16);
        }

        return x;
    }

    private static float[] Fill(Random random, int length)
    {
        var x = new float[length];
        for (int i = 0; i < length; i++)
        {
            x[i] = random.NextSingle();
        }

        return x;
    }
}
