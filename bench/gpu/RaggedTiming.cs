using System;
using System.Globalization;
using System.Linq;
using AttentionGen.Cpu;
using AttentionGen.Cuda;

namespace AttentionGen.GpuBench;

/// <summary>
/// Issue #25's ragged prefill: 16 sequences of random lengths 1..4096 (seeded), 16 heads, head dim 128, bf16, causal,
/// packed without padding through Attention.ScaledDotProductVarLen, against the same sequences one call each and one
/// causal (1,16,4096,128) call. TF/s count useful work only: 4·H·E·L(L+1)/2 per sequence of L tokens.
/// </summary>
internal static class RaggedTiming
{
    private const int Sequences = 16, Heads = 16, HeadDim = 128, Longest = 4096;

    public static int Time(string[] args)
    {
        Device gpu = Device.Cuda(0);
        int seed = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 1;
        var random = new Random(seed);
        int[] lengths = [.. Enumerable.Range(0, Sequences).Select(_ => random.Next(1, Longest + 1))];
        int[] offsets = new int[Sequences + 1];
        for (int s = 0; s < Sequences; s++)
        {
            offsets[s + 1] = offsets[s] + lengths[s];
        }

        int tokens = offsets[Sequences];
        using Tensor q = Tensor.RandomNormal(random, DType.BFloat16, tokens, Heads, HeadDim).To(gpu);
        using Tensor k = Tensor.RandomNormal(random, DType.BFloat16, tokens, Heads, HeadDim).To(gpu);
        using Tensor v = Tensor.RandomNormal(random, DType.BFloat16, tokens, Heads, HeadDim).To(gpu);
        double useful = lengths.Sum(l => 4.0 * Heads * HeadDim * l * (l + 1.0) / 2);

        double packed = QueuedTiming.Median(gpu, () => Attention.ScaledDotProductVarLen(q, k, v, offsets, offsets, causal: true).Dispose());

        // The same sequences one call each, on views of the packed rows ([L, H, E] read as [1, H, L, E]).
        AttentionProblem[] perSequence = [.. Enumerable.Range(0, Sequences).Select(s => SequenceProblem(gpu, q, k, v, offsets[s], lengths[s]))];
        double separate = QueuedTiming.Median(gpu, () =>
        {
            foreach (AttentionProblem problem in perSequence)
            {
                FlashAttentionCuda.Forward(problem, causal: true);
            }
        });

        using Tensor qd = Tensor.RandomNormal(random, DType.BFloat16, 1, Heads, Longest, HeadDim).To(gpu);
        using Tensor kd = Tensor.RandomNormal(random, DType.BFloat16, 1, Heads, Longest, HeadDim).To(gpu);
        using Tensor vd = Tensor.RandomNormal(random, DType.BFloat16, 1, Heads, Longest, HeadDim).To(gpu);
        using Tensor od = Tensor.Zeros(DType.BFloat16, gpu, 1, Heads, Longest, HeadDim);
        using Tensor lsed = Tensor.Zeros(DType.Float32, gpu, 1, Heads, Longest);
        var dense = new AttentionProblem(qd, kd, vd, od, lsed);
        double single = QueuedTiming.Median(gpu, () => FlashAttentionCuda.Forward(dense, causal: true));
        double singleTf = 4.0 * Heads * HeadDim * Longest * (Longest + 1.0) / 2 / single / 1e9;

        Console.WriteLine($"ragged causal prefill, {Sequences} sequences of lengths {string.Join(' ', lengths)} ({tokens} tokens), {Heads} heads, E {HeadDim}, bf16 (seed {seed})");
        Console.WriteLine("| path | ms | useful TF/s | of the (1,16,4096,128) causal call's TF/s |");
        Console.WriteLine("| --- | --- | --- | --- |");
        foreach ((string path, double ms) in new[] { ("packed (ScaledDotProductVarLen)", packed), ("one call per sequence", separate) })
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {path} | {ms:F3} | {useful / ms / 1e9:F1} | {useful / ms / 1e9 / singleTf:F2} |"));
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| (1,16,4096,128) causal | {single:F3} | {singleTf:F1} | 1.00 |"));
        return 0;
    }

    private static AttentionProblem SequenceProblem(Device gpu, Tensor q, Tensor k, Tensor v, int start, int length)
    {
        static Tensor HeadsFirst(Tensor t, int start, int length) => t.Narrow(0, start, length).Reshape(1, length, Heads, HeadDim).Transpose(1, 2);
        Tensor o = Tensor.Zeros(DType.BFloat16, gpu, 1, Heads, length, HeadDim);
        Tensor lse = Tensor.Zeros(DType.Float32, gpu, 1, Heads, length);
        return new AttentionProblem(HeadsFirst(q, start, length), HeadsFirst(k, start, length), HeadsFirst(v, start, length), o, lse);
    }
}
