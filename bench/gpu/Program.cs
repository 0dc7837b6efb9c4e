using System;
using AttentionGen.Cuda;
using AttentionGen.GpuBench;

// Timing only: correctness on the GPU is tests/Cuda (run on the device by tests/gpu-on-device.sh).
// attentiongen-gpu time B,H,N,E ... ms and TFLOP/s of our kernel (bf16, dense and causal), one JSON line per case
// attentiongen-gpu cpu B,H,N,E ...  the CPU kernel (fp32) on the same shapes, for the CPU peer comparison
// attentiongen-gpu time-flex B,H,N,E  the [Flex] modules of FlexLayers.cs (bf16), one JSON line per mask
// attentiongen-gpu time-variants     dilated, strided and local at N = 16K, and the dilated length sweep
// attentiongen-gpu time-decode [B,L ...] [layout ...]  one decode step against a full KV cache (contiguous, paged-16, paged-128, fp8), with its launch
// attentiongen-gpu time-gqa B,Hq,Hkv,N,E ...  causal grouped-query attention (bf16), one JSON line per case
// attentiongen-gpu time-ragged [seed]  ragged causal prefill (16 sequences of 1..4096 tokens) packed, per sequence, and one 4096 call
// attentiongen-gpu time-distributed [N ...]  LongNet's dilated attention at N tokens on one GPU and on every GPU (#31)
// attentiongen-gpu probes            failure handling: out of memory, a call failing midway, damaged kernel cache entries
// attentiongen-gpu llama-check DIR   DecoderAttentionModule against transformers' LlamaAttention (DIR from llama_check.py)
if (args.Length == 0)
{
    Console.Error.WriteLine("usage: attentiongen-gpu probes | time B,H,N,E[,causal] ... | cpu B,H,N,E[,causal] ... | llama-check DIR");
    return 2;
}

if (args[0] == "cpu")
{
    return Timing.Cpu(args[1..]);
}

if (args[0] == "llama-check")
{
    // Runs on the CPU without CUDA; the GPU half runs where there is one.
    return LlamaCheck.Run(args[1..]);
}

if (!CudaInfo.IsAvailable(out string reason))
{
    Console.Error.WriteLine($"CUDA is not available: {reason}");
    return 3;
}

Console.WriteLine($"device: {CudaInfo.Describe()}; kernel cache: {CudaInfo.KernelCacheDirectory}");
return args[0] switch
{
    "probes" => Probes.Run(),
    "time" => Timing.Gpu(args[1..]),
    "time-flex" => FlexTiming.Time(args[1..]),
    "time-variants" => VariantTiming.Time(),
    "time-decode" => DecodeTiming.Time(args[1..]),
    "time-gqa" => Timing.GpuGroupedQuery(args[1..]),
    "time-ragged" => RaggedTiming.Time(args[1..]),
    "time-distributed" => DistributedTiming.Time(args[1..]),
    _ => 2,
};
