using System;
using System.Linq;
using AttentionGen.Reference;
using AttentionGen.Tests.Numerics;
using AttentionGen.Variants;
using CsCheck;
using Xunit;

namespace AttentionGen.Tests.Properties;

/// <summary>A dilated call: branch i is (Segments[i], Rates[i]) with the rate dividing the segment, as the API requires.</summary>
public sealed record DilatedCase(int Batch, int Heads, int N, int[] Segments, int[] Rates, bool Causal, bool RelPosBias, int E, int Ev, DType DType, int DataSeed)
{
    public long Work => (long)Batch * Heads * N * N * (E + Ev) * Segments.Length;

    // Records print arrays as "System.Int32[]": spell the branches out so a shrunk case reads whole.
    public override string ToString() =>
        $"DilatedCase {{ Batch = {Batch}, Heads = {Heads}, N = {N}, Branches (w, r) = [{string.Join(", ", Segments.Zip(Rates, (w, r) => $"({w}, {r})"))}], " +
        $"Causal = {Causal}, RelPosBias = {RelPosBias}, E = {E}, Ev = {Ev}, DType = {DType}, DataSeed = {DataSeed} }}";
}

/// <summary>A Sparse Transformer call on [B, T, Heads · E] operands (V: Heads · Ev).</summary>
public sealed record SparseCase(int Batch, int Heads, int T, SparseMode Mode, int Ctx, bool Causal, int E, int Ev, DType DType, int DataSeed)
{
    public long Work => (long)Batch * Heads * T * T * (E + Ev);
}

/// <summary>A local-attention call on [B, H, N, E] operands; Config is built from the drawn values (always a valid one).</summary>
public sealed record LocalCase(int Batch, int Heads, int N, LocalConfig Config, bool WithMask, bool WithBias, int E, int Ev, DType DType, int DataSeed);

/// <summary>The seed variants' CPU paths against their float64 definitions (SPEC §2–§4) on random valid parameters.</summary>
public class VariantProperties
{
    private static readonly Gen<(int Segment, int Rate)> Branch =
        Gen.Select(Gen.Int[1, 5], Gen.Int[1, 40], (r, multiple) => (r * multiple, r));

    // One to three branches: the first `count` of three drawn.
    private static readonly Gen<(int Segment, int Rate)[]> Branches =
        Gen.Select(Branch, Branch, Branch, Gen.Int[1, 3], (a, b, c, count) => new[] { a, b, c }[..count]);

    private static readonly Gen<DilatedCase> DilatedCases =
        Gen.Select(
            Gen.Int[1, 2],
            Gen.Int[1, 6],
            PropertyCheck.Length(180),
            Branches,
            Gen.Bool,
            Gen.Bool,
            PropertyCheck.HeadDim,
            PropertyCheck.HeadDim,
            PropertyCheck.InputDType,
            Gen.Int,
            (b, h, n, branches, causal, relPosBias, e, ev, dtype, seed) => new DilatedCase(
                b, h, n, branches.Select(x => x.Segment).ToArray(), branches.Select(x => x.Rate).ToArray(), causal, relPosBias, e, ev, dtype, seed))
        .Where(c => c.Work <= 1_500_000);

    private static readonly Gen<SparseCase> SparseCases =
        Gen.Select(
            Gen.Int[1, 2],
            Gen.Int[1, 3],
            PropertyCheck.Length(160),
            Gen.Enum<SparseMode>(),
            Gen.Int[1, 180],
            Gen.Bool,
            Gen.Int[1, 48],
            Gen.Int[1, 48],
            PropertyCheck.InputDType,
            Gen.Int,
            (b, h, t, mode, ctx, causal, e, ev, dtype, seed) => new SparseCase(b, h, t, mode, ctx, causal, e, ev, dtype, seed))
        .Where(c => c.Work <= 1_500_000);

    private static readonly Gen<LocalCase> LocalCases =
        Gen.Select(
            Gen.Int[1, 2],
            Gen.Int[1, 3],
            Gen.Int[1, 10],                 // window size
            Gen.Int[1, 6],                  // windows; with autopad, the length is cut anywhere inside the last one
            Gen.Int[0, 2],                  // look backward
            Gen.Int[0, 2],                  // look forward (non-causal only)
            Gen.Bool,                       // causal
            Gen.Bool,                       // exact window size
            Gen.Bool,                       // shared q/k
            Gen.Int[0, 2],                  // 0 no rotary, 1 rotary, 2 rotary + xpos (rotary needs an even E = Dim)
            Gen.Bool,                       // autopad
            Gen.Int[1, 24],                 // half the head dim
            Gen.Int[1, 24],                 // value dim
            Gen.Bool,                       // key mask
            Gen.Bool,                       // attention bias
            Gen.Int,
            (b, h, ws, windows, back, forward, causal, exact, shared, rotary, autopad, halfE, ev, mask, bias, seed) =>
            {
                int e = rotary > 0 ? 2 * halfE : halfE, n = autopad ? ((windows - 1) * ws) + 1 + (int)((uint)seed % ws) : windows * ws;
                var config = new LocalConfig(
                    ws, causal, back, causal ? 0 : forward, sharedQk: shared, dim: rotary > 0 ? e : 0, autopad: autopad, exactWindowsize: exact, useXpos: rotary == 2,
                    xposScaleBase: ws == 1 ? 3 : 0);     // the default, ws / 2, is 0 for a window of 1 (rejected)
                return new LocalCase(b, h, n, config, mask, bias, e, ev, (seed & 1) == 0 ? DType.Float32 : DType.BFloat16, seed);
            });

    [Fact]
    public void DilatedMatchesTheDefinition() => PropertyCheck.Run(DilatedCases, CheckDilated, iterations: 60);

    [Fact]
    public void SparseMatchesTheDefinition() => PropertyCheck.Run(SparseCases, CheckSparse, iterations: 60);

    [Fact]
    public void LocalMatchesTheDefinition() => PropertyCheck.Run(LocalCases, CheckLocal, iterations: 80);

    // The local property's first find: xpos with a window of 1 resolved its scale base to 1 / 2 = 0 and divided by it,
    // so every output was NaN. The configuration is now rejected, naming the argument to give.
    [Fact]
    public void XposWithAWindowOfOneNeedsAnExplicitScaleBase()
    {
        var e = Assert.Throws<ArgumentException>(() => new LocalConfig(1, dim: 8, useXpos: true));
        Assert.Equal("xposScaleBase", e.ParamName);
        Assert.Contains("WindowSize = 1", e.Message, StringComparison.Ordinal);

        var config = new LocalConfig(1, dim: 8, useXpos: true, xposScaleBase: 3);
        Tensor q = Tensor.RandomNormal(new Random(2), DType.Float32, 1, 1, 4, 8);
        Compare.Output(LocalAttention.Forward(q, q, q, config).ToFloatArray(), ReferenceVariants.Local(q, q, q, config), PropertyCheck.Fp32Output, "ws 1, xpos base 3");
    }

    private static void CheckDilated(DilatedCase c)
    {
        var random = new Random(c.DataSeed);
        Tensor q = Tensor.RandomNormal(random, c.DType, c.Batch, c.Heads, c.N, c.E);
        Tensor k = Tensor.RandomNormal(random, c.DType, c.Batch, c.Heads, c.N, c.E);
        Tensor v = Tensor.RandomNormal(random, c.DType, c.Batch, c.Heads, c.N, c.Ev);
        RelativePositionBias? bias = c.RelPosBias ? RelativePositionBias.Random(c.DataSeed, c.Heads, bidirectional: !c.Causal) : null;

        using AttentionOutput result = DilatedAttention.Forward(q, k, v, c.Segments, c.Rates, c.Causal, relPosBias: bias);

        ReferenceResult expected = ReferenceVariants.Dilated(q, k, v, c.Segments, c.Rates, c.Causal, bias is null ? null : (h, rel) => bias.Bias(h, rel));
        ReferenceExpectations.Match(result.Output, result.Lse, expected, c.DType, c.ToString());
    }

    private static void CheckSparse(SparseCase c)
    {
        var random = new Random(c.DataSeed);
        Tensor q = Tensor.RandomNormal(random, c.DType, c.Batch, c.T, c.Heads * c.E);
        Tensor k = Tensor.RandomNormal(random, c.DType, c.Batch, c.T, c.Heads * c.E);
        Tensor v = Tensor.RandomNormal(random, c.DType, c.Batch, c.T, c.Heads * c.Ev);

        Tensor result = SparseAttention.Forward(q, k, v, c.Heads, c.Mode, c.Ctx, causal: c.Causal);

        Assert.Equal(c.DType, result.DType);
        Assert.Equal(new[] { c.Batch, c.T, c.Heads * c.Ev }, result.Shape.ToArray());
        double[] expected = ReferenceVariants.Sparse(q, k, v, c.Heads, c.Mode, c.Ctx, c.Causal);
        Compare.Output(result.ToFloatArray(), expected, PropertyCheck.OutputTolerance(c.DType), c.ToString());
    }

    private static void CheckLocal(LocalCase c)
    {
        var random = new Random(c.DataSeed);
        Tensor q = Tensor.RandomNormal(random, c.DType, c.Batch, c.Heads, c.N, c.E);
        Tensor k = c.Config.SharedQk ? q : Tensor.RandomNormal(random, c.DType, c.Batch, c.Heads, c.N, c.E);
        Tensor v = Tensor.RandomNormal(random, c.DType, c.Batch, c.Heads, c.N, c.Ev);
        bool[]? keep = c.WithMask ? Enumerable.Range(0, c.Batch * c.N).Select(_ => random.NextDouble() < 0.6).ToArray() : null;
        int span = (c.Config.LookBackward + 1 + c.Config.LookForward) * c.Config.WindowSize;
        Tensor? bias = c.WithBias ? Tensor.RandomNormal(random, DType.Float32, c.Heads, c.Config.WindowSize, span) : null;

        Tensor result = LocalAttention.Forward(q, k, v, c.Config, keep is null ? null : Tensor.FromArray(keep, c.Batch, c.N), bias);

        Assert.Equal(c.DType, result.DType);
        double[] expected = ReferenceVariants.Local(q, k, v, c.Config, keep, bias?.ToFloatArray(), biasHeads: c.Heads);
        Compare.Output(result.ToFloatArray(), expected, PropertyCheck.OutputTolerance(c.DType), c.ToString());
    }
}
