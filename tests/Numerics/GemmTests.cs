using System;
using System.Runtime.Intrinsics;
using AttentionGen.Cpu;
using AttentionGen.Cpu.Simd;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>
/// The GEMM at every vector width the processor runs, against a float64 product: shapes whose rows, columns and depth
/// leave every edge path busy (6-row blocks and single rows; 4-, 2- and 1-vector panels and scalar columns), leading
/// dimensions wider than the operands, and accumulation into C's earlier values.
/// </summary>
public class GemmTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void EveryWidthMatchesTheFloat64Product(int caseId)
    {
        (Random random, string seed) = FreshRandom.For(7300 + caseId);
        // Case 0 may be smaller than any block; the others hold at least one 6-row block and a 4-vector panel of 512 bits.
        int m = caseId == 0 ? random.Next(1, 40) : random.Next(6, 40), n = caseId == 0 ? random.Next(1, 200) : random.Next(64, 200), k = random.Next(1, 70);
        int lda = k + random.Next(0, 5), ldb = n + random.Next(0, 5), ldc = n + random.Next(0, 5);
        bool accumulate = caseId % 2 == 1;
        float[] a = Values(random, m * lda), b = Values(random, k * ldb), c0 = Values(random, m * ldc);

        var expected = new double[m * ldc];
        for (int i = 0; i < m * ldc; i++)
        {
            expected[i] = c0[i];
        }

        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double sum = accumulate ? c0[(i * ldc) + j] : 0;
                for (int p = 0; p < k; p++)
                {
                    sum += (double)a[(i * lda) + p] * b[(p * ldb) + j];
                }

                expected[(i * ldc) + j] = sum;
            }
        }

        string shape = $"m={m} n={n} k={k} lda={lda} ldb={ldb} ldc={ldc} accumulate={accumulate}, {seed}";
        Check<Simd128>(Vector128.IsHardwareAccelerated, m, n, k, a, lda, b, ldb, c0, ldc, accumulate, expected, shape);
        Check<Simd256>(Vector256.IsHardwareAccelerated, m, n, k, a, lda, b, ldb, c0, ldc, accumulate, expected, shape);
        Check<Simd512>(Vector512.IsHardwareAccelerated, m, n, k, a, lda, b, ldb, c0, ldc, accumulate, expected, shape);
    }

    private static void Check<TVec>(bool accelerated, int m, int n, int k, float[] a, int lda, float[] b, int ldb, float[] c0, int ldc, bool accumulate, double[] expected, string shape)
        where TVec : struct, ISimd<TVec>
    {
        if (!accelerated)
        {
            return;
        }

        float[] c = (float[])c0.Clone();
        Gemm.Multiply<TVec>(m, n, k, ref a[0], lda, ref b[0], ldb, ref c[0], ldc, accumulate);
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < ldc; j++)
            {
                int at = (i * ldc) + j;

                // Columns past n are C's padding: the GEMM must leave them as they were.
                double want = j < n ? expected[at] : c0[at];
                Assert.True(Math.Abs(c[at] - want) <= 1e-4 * (k + 1), $"{typeof(TVec).Name} C[{i},{j}] = {c[at]}, expected {want} ({shape})");
            }
        }
    }

    private static float[] Values(Random random, int count)
    {
        var values = new float[Math.Max(count, 1)];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = (float)((random.NextDouble() * 2) - 1);
        }

        return values;
    }
}
