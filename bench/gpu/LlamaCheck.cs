using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using AttentionGen.Cuda;
using AttentionGen.IO;
using AttentionGen.Modules;
using AttentionGen.Reference;

namespace AttentionGen.GpuBench;

/// <summary>
/// <c>llama-check &lt;dir&gt;</c>: loads the LlamaAttention layer that llama_check.py wrote into a
/// <see cref="DecoderAttentionModule"/>, runs its input and prints the relative error against transformers' output
/// on the CPU (float32) and, where there is one, the GPU (bf16), and the float64 reference's, as a cross-check of the
/// reference itself.
/// </summary>
internal static class LlamaCheck
{
    private const double Tolerance = 1e-4, GpuTolerance = 2e-2;

    public static int Run(string[] args)
    {
        if (args.Length != 1 || !Directory.Exists(args[0]))
        {
            Console.Error.WriteLine("usage: attentiongen-gpu llama-check <dir written by bench/gpu/llama_check.py>");
            return 2;
        }

        string dir = args[0];
        DecoderAttentionConfig config = ReadConfig(Path.Combine(dir, "config.json"));
        Tensor hidden, positions;
        using (SafetensorsFile input = SafetensorsFile.Open(Path.Combine(dir, "input.safetensors")))
        {
            hidden = input.ReadTensor("hidden", DType.Float32);
            positions = input.ReadTensor("position_ids", DType.Int32);
        }

        double[] expected;
        using (SafetensorsFile output = SafetensorsFile.Open(Path.Combine(dir, "output.safetensors")))
        {
            expected = Array.ConvertAll(output.ReadTensor("output", DType.Float32).ToFloatArray(), v => (double)v);
        }

        using var module = new DecoderAttentionModule(config, seed: 0);
        module.Load(Path.Combine(dir, "weights.safetensors"));
        double cpu = ReferenceAttention.RelativeError(module.Forward(hidden, positions).ToFloatArray(), expected);
        Console.WriteLine($"llama-check cpu fp32 vs transformers: relative error {cpu:E3}");

        var weights = module.StateDict().ToDictionary(e => e.Key, e => e.Value.ToFloatArray());
        double[] reference = ReferenceDecoderAttention.Compute(config, weights, hidden.ToFloatArray(), hidden.Size(0), hidden.Size(1), positions.ToInt32Array());
        double referenceError = ReferenceAttention.RelativeError(Array.ConvertAll(reference, v => (float)v), expected);
        Console.WriteLine($"llama-check float64 reference vs transformers: relative error {referenceError:E3}");

        bool gpuOk = true;
        if (CudaInfo.IsAvailable(out string reason))
        {
            // The GPU computes in bf16 (projections, attention, the cached K/V): bf16's tolerance.
            module.To(Device.Cuda());
            double gpu = ReferenceAttention.RelativeError(module.Forward(hidden.To(Device.Cuda()), positions).ToFloatArray(), expected);
            gpuOk = gpu <= GpuTolerance;
            Console.WriteLine($"llama-check gpu bf16 vs transformers: relative error {gpu:E3} (tolerance {GpuTolerance:E0})");
        }
        else
        {
            Console.WriteLine($"llama-check gpu: skipped ({reason})");
        }

        return cpu <= Tolerance && referenceError <= Tolerance && gpuOk ? 0 : 1;
    }

    // The fields of transformers' LlamaConfig JSON that shape the attention layer: rope_theta and rope_scaling at the top
    // level (transformers 4.x) or both inside rope_parameters (5.x).
    private static DecoderAttentionConfig ReadConfig(string path)
    {
        using JsonDocument json = JsonDocument.Parse(File.ReadAllText(path));
        JsonElement root = json.RootElement;
        int heads = root.GetProperty("num_attention_heads").GetInt32();
        JsonElement? rope = Object(root, "rope_parameters") ?? Object(root, "rope_scaling");
        double theta = Number(root, "rope_theta") ?? (rope is { } r && Number(r, "rope_theta") is { } t ? t : 10000);
        return new DecoderAttentionConfig(
            root.GetProperty("hidden_size").GetInt32(),
            heads,
            (int?)Number(root, "num_key_value_heads") ?? heads,
            headDim: (int?)Number(root, "head_dim"),
            attentionBias: root.TryGetProperty("attention_bias", out JsonElement bias) && bias.GetBoolean(),
            ropeTheta: theta,
            ropeScaling: rope is { } scaling ? Scaling(scaling, path) : null);
    }

    private static RopeScaling? Scaling(JsonElement rope, string path)
    {
        string type = (rope.TryGetProperty("rope_type", out JsonElement t) || rope.TryGetProperty("type", out t)) ? t.GetString()! : "default";
        return type switch
        {
            "default" => null,
            "linear" => new LinearRopeScaling((float)Number(rope, "factor")!.Value),
            "llama3" => new Llama3RopeScaling((float)Number(rope, "factor")!.Value, (float)Number(rope, "low_freq_factor")!.Value, (float)Number(rope, "high_freq_factor")!.Value, (int)Number(rope, "original_max_position_embeddings")!.Value),
            _ => throw new NotSupportedException($"rope_type '{type}' in {path} is not supported (default, linear, llama3 are)."),
        };
    }

    private static JsonElement? Object(JsonElement e, string name) =>
        e.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.Object ? v : null;

    private static double? Number(JsonElement e, string name) =>
        e.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;
}
