using System.Runtime.CompilerServices;
using AttentionGen.Cpu.Simd;

namespace AttentionGen.Cpu;

/// <summary>
/// C[m×n] (+)= A[m×k] · B[k×n] on one thread, row-major operands with leading dimensions.
/// A 6 × 2-vector register block: 12 accumulators hide the FMA latency and fit AVX2's 16 vector registers.
/// With AVX-512's 32, a 6 × 4-vector block (24 accumulators) loads each broadcast row value for twice the
/// FMAs. The attention kernel and the projections both run on it.
/// </summary>
internal static class Gemm
{
    /// <summary>Rows of the register block: the attention kernel trims diagonal tiles in steps of it.</summary>
    internal const int RowsPerBlock = 6;

    public static void Multiply(int m, int n, int k, ref float a, int lda, ref float b, int ldb, ref float c, int ldc, bool accumulate)
    {
        if (SimdWidth.Use512)
        {
            Multiply<Simd512>(m, n, k, ref a, lda, ref b, ldb, ref c, ldc, accumulate);
        }
        else if (SimdWidth.Use256)
        {
            Multiply<Simd256>(m, n, k, ref a, lda, ref b, ldb, ref c, ldc, accumulate);
        }
        else
        {
            Multiply<Simd128>(m, n, k, ref a, lda, ref b, ldb, ref c, ldc, accumulate);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // compute loops: optimized at first call, not after tier-0 warm-up
    public static void Multiply<TVec>(int m, int n, int k, ref float a, int lda, ref float b, int ldb, ref float c, int ldc, bool accumulate)
        where TVec : struct, ISimd<TVec>
    {
        int w = TVec.Count;
        int j = TVec.Registers >= 32 ? Panels<TVec>(4, 0, m, n, k, ref a, lda, ref b, ldb, ref c, ldc, accumulate) : 0;
        j = Panels<TVec>(2, j, m, n, k, ref a, lda, ref b, ldb, ref c, ldc, accumulate);
        for (; j + w <= n; j += w)
        {
            for (int i = 0; i < m; i++)
            {
                Row<TVec>(1, k, ref Unsafe.Add(ref a, (nint)i * lda), ref Unsafe.Add(ref b, j), ldb, ref Unsafe.Add(ref c, ((nint)i * ldc) + j), accumulate);
            }
        }

        if (j < n)
        {
            ScalarColumns(m, j, n, k, ref a, lda, ref b, ldb, ref c, ldc, accumulate);
        }
    }

    // Column panels of `vectors` (2 or 4) vectors from column j on: 6-row register blocks, then the rows left over two
    // vectors at a time. Returns the first column past the last whole panel.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // compute loops: optimized at first call, not after tier-0 warm-up
    private static int Panels<TVec>(int vectors, int j, int m, int n, int k, ref float a, int lda, ref float b, int ldb, ref float c, int ldc, bool accumulate)
        where TVec : struct, ISimd<TVec>
    {
        int width = vectors * TVec.Count;
        for (; j + width <= n; j += width)
        {
            int i = 0;
            for (; i + RowsPerBlock <= m; i += RowsPerBlock)
            {
                ref float ai = ref Unsafe.Add(ref a, (nint)i * lda);
                ref float ci = ref Unsafe.Add(ref c, ((nint)i * ldc) + j);
                if (vectors == 4)
                {
                    Block6x4<TVec>(k, ref ai, lda, ref Unsafe.Add(ref b, j), ldb, ref ci, ldc, accumulate);
                }
                else
                {
                    Block6x2<TVec>(k, ref ai, lda, ref Unsafe.Add(ref b, j), ldb, ref ci, ldc, accumulate);
                }
            }

            for (; i < m; i++)
            {
                for (int v = 0; v < vectors; v += 2)
                {
                    int col = j + (v * TVec.Count);
                    Row<TVec>(2, k, ref Unsafe.Add(ref a, (nint)i * lda), ref Unsafe.Add(ref b, col), ldb, ref Unsafe.Add(ref c, ((nint)i * ldc) + col), accumulate);
                }
            }
        }

        return j;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // compute loops: optimized at first call, not after tier-0 warm-up
    private static void Block6x2<TVec>(int k, ref float a, nint lda, ref float b, nint ldb, ref float c, nint ldc, bool accumulate)
        where TVec : struct, ISimd<TVec>
    {
        int w = TVec.Count;
        TVec c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        TVec c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        ref float a0 = ref a;
        ref float a1 = ref Unsafe.Add(ref a0, lda);
        ref float a2 = ref Unsafe.Add(ref a1, lda);
        ref float a3 = ref Unsafe.Add(ref a2, lda);
        ref float a4 = ref Unsafe.Add(ref a3, lda);
        ref float a5 = ref Unsafe.Add(ref a4, lda);
        ref float bp = ref b;
        for (nint p = 0; p < k; p++)
        {
            TVec b0 = TVec.Load(ref bp);
            TVec b1 = TVec.Load(ref Unsafe.Add(ref bp, w));
            Fma2(TVec.Broadcast(Unsafe.Add(ref a0, p)), b0, b1, ref c00, ref c01);
            Fma2(TVec.Broadcast(Unsafe.Add(ref a1, p)), b0, b1, ref c10, ref c11);
            Fma2(TVec.Broadcast(Unsafe.Add(ref a2, p)), b0, b1, ref c20, ref c21);
            Fma2(TVec.Broadcast(Unsafe.Add(ref a3, p)), b0, b1, ref c30, ref c31);
            Fma2(TVec.Broadcast(Unsafe.Add(ref a4, p)), b0, b1, ref c40, ref c41);
            Fma2(TVec.Broadcast(Unsafe.Add(ref a5, p)), b0, b1, ref c50, ref c51);
            bp = ref Unsafe.Add(ref bp, ldb);
        }

        ref float r = ref c;
        StorePair(ref r, c00, c01, accumulate);
        r = ref Unsafe.Add(ref r, ldc);
        StorePair(ref r, c10, c11, accumulate);
        r = ref Unsafe.Add(ref r, ldc);
        StorePair(ref r, c20, c21, accumulate);
        r = ref Unsafe.Add(ref r, ldc);
        StorePair(ref r, c30, c31, accumulate);
        r = ref Unsafe.Add(ref r, ldc);
        StorePair(ref r, c40, c41, accumulate);
        r = ref Unsafe.Add(ref r, ldc);
        StorePair(ref r, c50, c51, accumulate);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // compute loops: optimized at first call, not after tier-0 warm-up
    private static void Block6x4<TVec>(int k, ref float a, nint lda, ref float b, nint ldb, ref float c, nint ldc, bool accumulate)
        where TVec : struct, ISimd<TVec>
    {
        int w = TVec.Count;
        TVec c00 = default, c01 = default, c02 = default, c03 = default, c10 = default, c11 = default, c12 = default, c13 = default;
        TVec c20 = default, c21 = default, c22 = default, c23 = default, c30 = default, c31 = default, c32 = default, c33 = default;
        TVec c40 = default, c41 = default, c42 = default, c43 = default, c50 = default, c51 = default, c52 = default, c53 = default;
        ref float a0 = ref a;
        ref float a1 = ref Unsafe.Add(ref a0, lda);
        ref float a2 = ref Unsafe.Add(ref a1, lda);
        ref float a3 = ref Unsafe.Add(ref a2, lda);
        ref float a4 = ref Unsafe.Add(ref a3, lda);
        ref float a5 = ref Unsafe.Add(ref a4, lda);
        ref float bp = ref b;
        for (nint p = 0; p < k; p++)
        {
            TVec b0 = TVec.Load(ref bp);
            TVec b1 = TVec.Load(ref Unsafe.Add(ref bp, w));
            TVec b2 = TVec.Load(ref Unsafe.Add(ref bp, 2 * w));
            TVec b3 = TVec.Load(ref Unsafe.Add(ref bp, 3 * w));
            Fma4(TVec.Broadcast(Unsafe.Add(ref a0, p)), b0, b1, b2, b3, ref c00, ref c01, ref c02, ref c03);
            Fma4(TVec.Broadcast(Unsafe.Add(ref a1, p)), b0, b1, b2, b3, ref c10, ref c11, ref c12, ref c13);
            Fma4(TVec.Broadcast(Unsafe.Add(ref a2, p)), b0, b1, b2, b3, ref c20, ref c21, ref c22, ref c23);
            Fma4(TVec.Broadcast(Unsafe.Add(ref a3, p)), b0, b1, b2, b3, ref c30, ref c31, ref c32, ref c33);
            Fma4(TVec.Broadcast(Unsafe.Add(ref a4, p)), b0, b1, b2, b3, ref c40, ref c41, ref c42, ref c43);
            Fma4(TVec.Broadcast(Unsafe.Add(ref a5, p)), b0, b1, b2, b3, ref c50, ref c51, ref c52, ref c53);
            bp = ref Unsafe.Add(ref bp, ldb);
        }

        ref float r = ref c;
        StoreQuad(ref r, c00, c01, c02, c03, accumulate);
        r = ref Unsafe.Add(ref r, ldc);
        StoreQuad(ref r, c10, c11, c12, c13, accumulate);
        r = ref Unsafe.Add(ref r, ldc);
        StoreQuad(ref r, c20, c21, c22, c23, accumulate);
        r = ref Unsafe.Add(ref r, ldc);
        StoreQuad(ref r, c30, c31, c32, c33, accumulate);
        r = ref Unsafe.Add(ref r, ldc);
        StoreQuad(ref r, c40, c41, c42, c43, accumulate);
        r = ref Unsafe.Add(ref r, ldc);
        StoreQuad(ref r, c50, c51, c52, c53, accumulate);
    }

    /// <summary>One row of C, one or two vectors wide: the edges the 6-row block leaves.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // compute loops: optimized at first call, not after tier-0 warm-up
    private static void Row<TVec>(int vectors, int k, ref float a, ref float b, nint ldb, ref float c, bool accumulate)
        where TVec : struct, ISimd<TVec>
    {
        int w = TVec.Count;
        TVec c0 = default, c1 = default;
        ref float bp = ref b;
        for (nint p = 0; p < k; p++)
        {
            TVec x = TVec.Broadcast(Unsafe.Add(ref a, p));
            TVec.MultiplyAddInto(ref c0, x, TVec.Load(ref bp));
            if (vectors == 2)
            {
                TVec.MultiplyAddInto(ref c1, x, TVec.Load(ref Unsafe.Add(ref bp, w)));
            }

            bp = ref Unsafe.Add(ref bp, ldb);
        }

        if (vectors == 2)
        {
            StorePair(ref c, c0, c1, accumulate);
        }
        else
        {
            Store(ref c, c0, accumulate);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StorePair<TVec>(ref float c, TVec v0, TVec v1, bool accumulate)
        where TVec : struct, ISimd<TVec>
    {
        Store(ref c, v0, accumulate);
        Store(ref Unsafe.Add(ref c, TVec.Count), v1, accumulate);
    }

    // One row of a 6 x 2 block: x times the two B vectors, into the row's accumulators (inlined: they stay in registers).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Fma2<TVec>(TVec x, TVec b0, TVec b1, ref TVec c0, ref TVec c1)
        where TVec : struct, ISimd<TVec>
    {
        TVec.MultiplyAddInto(ref c0, x, b0);
        TVec.MultiplyAddInto(ref c1, x, b1);
    }

    // One row of a 6 x 4 block, as Fma2.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Fma4<TVec>(TVec x, TVec b0, TVec b1, TVec b2, TVec b3, ref TVec c0, ref TVec c1, ref TVec c2, ref TVec c3)
        where TVec : struct, ISimd<TVec>
    {
        TVec.MultiplyAddInto(ref c0, x, b0);
        TVec.MultiplyAddInto(ref c1, x, b1);
        TVec.MultiplyAddInto(ref c2, x, b2);
        TVec.MultiplyAddInto(ref c3, x, b3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreQuad<TVec>(ref float c, TVec v0, TVec v1, TVec v2, TVec v3, bool accumulate)
        where TVec : struct, ISimd<TVec>
    {
        StorePair(ref c, v0, v1, accumulate);
        StorePair(ref Unsafe.Add(ref c, 2 * TVec.Count), v2, v3, accumulate);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store<TVec>(ref float c, TVec v, bool accumulate)
        where TVec : struct, ISimd<TVec>
    {
        TVec.Store(accumulate ? TVec.Add(v, TVec.Load(ref c)) : v, ref c);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // compute loops: optimized at first call, not after tier-0 warm-up
    private static void ScalarColumns(int m, int j0, int n, int k, ref float a, int lda, ref float b, int ldb, ref float c, int ldc, bool accumulate)
    {
        for (int i = 0; i < m; i++)
        {
            for (int j = j0; j < n; j++)
            {
                float sum = 0;
                for (int p = 0; p < k; p++)
                {
                    sum += Unsafe.Add(ref a, ((nint)i * lda) + p) * Unsafe.Add(ref b, ((nint)p * ldb) + j);
                }

                ref float dst = ref Unsafe.Add(ref c, ((nint)i * ldc) + j);
                dst = accumulate ? dst + sum : sum;
            }
        }
    }
}
