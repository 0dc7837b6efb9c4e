using System;
using AttentionGen.Cpu;
using AttentionGen.Reference;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>
/// The CPU kernel computes a partial tile only over the keys its rows' intervals reach (a causal diagonal tile up to
/// its last row, a band between its first row's start and its last row's end): random bands whose edges fall anywhere in
/// a tile, on lengths that are multiples of no tile, with a key padding mask that leaves whole rows empty.
/// </summary>
public class IntervalTrimTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void BandsMatchTheReference(int caseId)
    {
        (Random random, string seed) = FreshRandom.For(7100 + caseId);
        int n = random.Next(50, 400), m = random.Next(50, 400), e = 16 * random.Next(1, 5);
        long low = -random.Next(0, 150), high = random.Next(-20, 150);
        var box = new DiagonalBox(low, Math.Max(low, high), random.Next(0, 30), random.Next(m / 2, m + 10), long.MinValue, long.MaxValue);
        var plan = new ClosedFormPlan([box]);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 2, 2, n, e);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 2, 2, m, e);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 2, 2, m, e);

        // Batch 0 keeps every key; batch 1 drops a run of keys covering row r's whole band, so row r (at least) sees none.
        var keep = new bool[2 * m];
        int r = random.Next(0, n);
        int dropFrom = (int)Math.Clamp(r + low - random.Next(0, 40), 0, m), dropTo = (int)Math.Clamp(r + high + 1 + random.Next(0, 40), dropFrom, m);
        for (int j = 0; j < m; j++)
        {
            keep[j] = true;
            keep[m + j] = j < dropFrom || j >= dropTo;
        }

        Tensor output = Tensor.Zeros(DType.Float32, Device.Cpu, 2, 2, n, e);
        Tensor lse = Tensor.Zeros(DType.Float32, Device.Cpu, 2, 2, n);
        int queryTile = 6 * random.Next(1, 17), keyTile = random.Next(17, 257);
        var problem = new AttentionProblem(q, k, v, output, lse, Tensor.FromArray(keep, 2, m), queryTile: queryTile, keyTile: keyTile);
        FlashAttentionCpu.Forward(problem, plan, plan, default(IdentityScore));

        ReferenceResult expected = ReferenceAttention.Compute(q, k, v, (b, h, i, j) => box.Contains(i, j) && keep[(b * m) + j]);
        string context = $"n={n} m={m} e={e} box={box} tiles {queryTile}x{keyTile} drop [{dropFrom}, {dropTo}) ({seed})";
        Compare.Output(output.ToFloatArray(), expected.Output, 2e-5, context);
        Compare.Lse(lse.ToFloatArray(), expected.Lse, 1e-5, context);
        Assert.Contains(double.NegativeInfinity, expected.Lse);
    }

    // A mask whose intervals have no bound on one side (start int.MinValue: causal as "every key up to q") lost the keys
    // of every tile past the first: the clamp of start minus the tile's first key wrapped around in 32 bits.
    [Fact]
    public void UnboundedIntervalsMaskAsTheirBoundedForm()
    {
        (Random random, string seed) = FreshRandom.For(7200);
        const int N = 1100, E = 8;
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 1, N, E);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 1, 1, N, E);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 1, 1, N, E);
        Tensor bounded = Tensor.Zeros(DType.Float32, 1, 1, N, E), unbounded = Tensor.Zeros(DType.Float32, 1, 1, N, E);

        FlashAttentionCpu.Forward(new AttentionProblem(q, k, v, bounded), default(CausalMask), default(CausalMask), default(IdentityScore));
        FlashAttentionCpu.Forward(new AttentionProblem(q, k, v, unbounded), default(CausalMask), default(UpToTheQuery), default(IdentityScore));

        Assert.True(bounded.ToFloatArray().AsSpan().SequenceEqual(unbounded.ToFloatArray()), seed);
    }

    private readonly struct UpToTheQuery : IMaskMod
    {
        public bool IsAllowed(int batch, int head, int q, int kv) => kv <= q;

        public bool TryGetKeyRange(int batch, int head, int q, out int start, out int end)
        {
            (start, end) = (int.MinValue, q + 1);
            return true;
        }
    }
}
