using System;
using System.Linq;
using System.Text.Json;
using AttentionGen.IO;
using AttentionGen.Masks;
using AttentionGen.Mods;
using Xunit;

namespace AttentionGen.Tests.Golden;

/// <summary>
/// Attention.ScaledDotProduct and FlexAttention against PyTorch 2.11 itself: tests/Golden/torch/&lt;case&gt;.safetensors, written
/// on the device by bench/golden/make_golden_torch.py (SDPA's math backend and flex_attention's eager path in float64,
/// the compiled flex kernel beside them), with each BlockMask's index tensors, sparsity() and str(). The mods are the
/// script's, restated here.
/// </summary>
/// <remarks>
/// Tolerance as GoldenOutputTests: max |ours − theirs| ≤ 1e-4 · max |theirs| (ours float32, theirs float64 rounded to
/// float32; reductions of ≤ 300 keys). Rows PyTorch gives no key must be exactly 0 with LSE exactly -inf.
/// </remarks>
public class TorchGoldenTests
{

    public static TheoryData<string> SdpaCases => new()
    {
        "sdpa_plain", "sdpa_causal", "sdpa_causal_short_queries", "sdpa_causal_long_queries", "sdpa_bool_mask_dead_row",
        "sdpa_float_mask_dead_row", "sdpa_key_padding", "sdpa_scale", "sdpa_gqa", "sdpa_extreme",
    };

    public static TheoryData<string> FlexCases => new()
    {
        "flex_plain", "flex_causal", "flex_causal_short_queries", "flex_sliding_window", "flex_prefix_lm", "flex_document",
        "flex_dead_rows", "flex_alibi_causal", "flex_softcap", "flex_relative_bias", "flex_minus_inf_rows", "flex_gqa_causal",
        "flex_batch_head_mask", "flex_scale_softcap_causal", "flex_extreme_causal",
    };

    public static TheoryData<string> BlockMaskCases => new()
    {
        "flex_causal", "flex_causal_short_queries", "flex_sliding_window", "flex_prefix_lm", "flex_document", "flex_dead_rows",
        "flex_gqa_causal", "flex_batch_head_mask", "flex_from_kv_blocks",
    };

    [Theory]
    [MemberData(nameof(SdpaCases))]
    public void ScaledDotProductMatchesPyTorch(string name)
    {
        using SafetensorsFile file = Open(name);
        JsonElement config = Config(file);
        Tensor? attnMask = file.Contains("input.attn_mask") ? file.ReadTensor("input.attn_mask") : null;

        AttentionOutput result = Attention.ScaledDotProduct(
            file.ReadTensor("input.q"), file.ReadTensor("input.k"), file.ReadTensor("input.v"), attnMask,
            isCausal: Flag(config, "is_causal"), scale: Number(config, "scale"), enableGqa: Flag(config, "enable_gqa"));

        AssertClose(file.ReadTensor("output"), result.Output, name);
    }

    [Theory]
    [MemberData(nameof(FlexCases))]
    public void FlexAttentionMatchesPyTorch(string name)
    {
        using SafetensorsFile file = Open(name);
        JsonElement config = Config(file);
        Tensor q = file.ReadTensor("input.q");
        BlockMask? blockMask = Flag(config, "mask") ? CreateBlockMask(name, config, q.Size(2), file.ReadTensor("input.k").Size(2)) : null;

        FlexOutput result = FlexAttention.Run(
            q, file.ReadTensor("input.k"), file.ReadTensor("input.v"), ScoreMod(name, file), blockMask,
            scale: Number(config, "scale"), enableGqa: Flag(config, "enable_gqa"), returnLse: true);

        AssertClose(file.ReadTensor("output"), result.Output, name);
        AssertLseClose(file.ReadTensor("lse"), result.Lse!, name);
    }

    /// <summary>
    /// A BlockMask from index tensors: the mask mod is skipped in full blocks (here it would refuse them all) and blocks
    /// the tensors leave out are skipped (here causal would allow them). PyTorch's compiled kernel does that; its eager
    /// path applies the mask mod to every pair and ignores the blocks, so the two differ, and we follow the kernel.
    /// </summary>
    [Fact]
    public void FromKvBlocksFollowsTheCompiledKernel()
    {
        using SafetensorsFile file = Open("flex_from_kv_blocks");
        BlockMask blockMask = FromKvBlocks(file);

        FlexOutput result = FlexAttention.Run(file.ReadTensor("input.q"), file.ReadTensor("input.k"), file.ReadTensor("input.v"), blockMask: blockMask, returnLse: true);

        AssertClose(file.ReadTensor("output_compiled"), result.Output, "flex_from_kv_blocks (compiled)");
        AssertLseClose(file.ReadTensor("lse_compiled"), result.Lse!, "flex_from_kv_blocks (compiled)");
        float[] eager = file.ReadTensor("output").ToFloatArray(), ours = result.Output.ToFloatArray();
        Assert.True(eager.Zip(ours).Max(p => Math.Abs(p.First - p.Second)) > 0.1, "eager flex_attention ignores the blocks: it must not agree here");
    }

    [Theory]
    [MemberData(nameof(BlockMaskCases))]
    public void BlockMaskMatchesPyTorch(string name)
    {
        using SafetensorsFile file = Open(name);
        BlockMask mask = name == "flex_from_kv_blocks"
            ? FromKvBlocks(file)
            : CreateBlockMask(name, Config(file), file.ReadTensor("input.q").Size(2), file.ReadTensor("input.k").Size(2));

        // Every index tensor whole, the entries past each row's count included (PyTorch lists the blocks left out after
        // the counted ones, in ascending order; from_kv_blocks keeps the tensors it is given), the picture and the sparsity.
        var differences = new System.Collections.Generic.List<string>();
        CompareInts(file, "block_mask.kv_num_blocks", mask.KvNumBlocks, differences);
        CompareInts(file, "block_mask.kv_indices", mask.KvIndices, differences);
        CompareInts(file, "block_mask.full_kv_num_blocks", mask.FullKvNumBlocks, differences);
        CompareInts(file, "block_mask.full_kv_indices", mask.FullKvIndices, differences);
        CompareInts(file, "block_mask.q_num_blocks", mask.QNumBlocks, differences);
        CompareInts(file, "block_mask.q_indices", mask.QIndices, differences);
        CompareInts(file, "block_mask.full_q_num_blocks", mask.FullQNumBlocks, differences);
        CompareInts(file, "block_mask.full_q_indices", mask.FullQIndices, differences);
        CompareInts(file, "block_mask.dense", mask.ToDense(), differences);
        double sparsity = double.Parse(file.Metadata["sparsity"], System.Globalization.CultureInfo.InvariantCulture);
        if (Math.Abs(sparsity - mask.Sparsity()) > 1e-9)
        {
            differences.Add($"sparsity: PyTorch {sparsity}, ours {mask.Sparsity()}");
        }

        if (file.Metadata["str"] != mask.ToString())
        {
            differences.Add($"str: PyTorch\n{file.Metadata["str"]}\nours\n{mask}");
        }

        Assert.True(differences.Count == 0, string.Join("\n", differences));
    }

    // The script's mask mods (bench/golden/make_golden_torch.py), by case.
    private static MaskFunction MaskMod(string name) => name switch
    {
        "flex_sliding_window" => static (_, _, q, kv) => MaskMods.SlidingWindow(q, kv, 64),
        "flex_prefix_lm" => static (_, _, q, kv) => MaskMods.PrefixLm(q, kv, 37),
        "flex_document" => static (b, h, q, kv) => MaskMods.SameDocument(b, h, q, kv, DocumentIds),
        "flex_dead_rows" => static (_, _, q, kv) => q % 7 != 3 && kv <= q + 5,
        "flex_batch_head_mask" => static (b, h, q, kv) => kv <= q + (8 * h) && (q + kv + b) % 3 != 0,
        _ => MaskMods.Causal,
    };

    private static ScoreFunction? ScoreMod(string name, SafetensorsFile file)
    {
        switch (name)
        {
            case "flex_alibi_causal": return static (score, _, h, q, kv) => ScoreMods.Alibi(score, h, q, kv, 4);
            case "flex_softcap": return static (score, _, _, _, _) => ScoreMods.TanhSoftcap(score, 2f);
            case "flex_scale_softcap_causal": return static (score, _, _, _, _) => ScoreMods.TanhSoftcap(score, 3f);
            case "flex_minus_inf_rows": return static (score, _, _, q, _) => q % 5 == 2 ? float.NegativeInfinity : score;
            case "flex_relative_bias":
                float[] bias = file.ReadTensor("input.rel_bias").ToFloatArray();
                return (score, _, h, q, kv) => ScoreMods.RelativeBias(score, h, q, kv, bias, 16);
            default: return null;
        }
    }

    // 250 tokens in documents of 40, 1, 77, 30, 52 and 50.
    private static readonly int[] DocumentIds = new[] { 40, 1, 77, 30, 52, 50 }.SelectMany((length, id) => Enumerable.Repeat(id, length)).ToArray();

    private static BlockMask CreateBlockMask(string name, JsonElement config, int queryLength, int keyLength)
    {
        (int qBlock, int kBlock) = config.TryGetProperty("BLOCK_SIZE", out JsonElement size)
            ? size.ValueKind == JsonValueKind.Array ? (size[0].GetInt32(), size[1].GetInt32()) : (size.GetInt32(), size.GetInt32())
            : (128, 128);
        int? batch = config.TryGetProperty("B", out JsonElement b) ? b.GetInt32() : null;
        int? heads = config.TryGetProperty("H", out JsonElement h) ? h.GetInt32() : null;
        return FlexAttention.CreateBlockMask(MaskMod(name), batch, heads, queryLength, keyLength, blockSize: qBlock, keyBlockSize: kBlock);
    }

    private static BlockMask FromKvBlocks(SafetensorsFile file) => BlockMask.FromKvBlocks(
        file.ReadTensor("input.kv_num_blocks"), file.ReadTensor("input.kv_indices"),
        file.ReadTensor("input.full_kv_num_blocks"), file.ReadTensor("input.full_kv_indices"), blockSize: 32, maskMod: MaskMods.Causal);

    // Read from the source tree, not copied beside the test binaries: the device's test bundle stays 2 MB smaller.
    internal static SafetensorsFile Open(string name) =>
        SafetensorsFile.Open(System.IO.Path.Combine(Package.RepositoryLayout.Root, "tests", "Golden", "torch", name + ".safetensors"));

    internal static JsonElement Config(SafetensorsFile file) => JsonDocument.Parse(file.Metadata["config"]).RootElement;

    internal static bool Flag(JsonElement config, string key) => config.TryGetProperty(key, out JsonElement value) && value.GetBoolean();

    internal static float? Number(JsonElement config, string key) => config.TryGetProperty(key, out JsonElement value) ? value.GetSingle() : null;

    private static void CompareInts(SafetensorsFile file, string tensor, Tensor ours, System.Collections.Generic.List<string> differences)
    {
        Tensor theirs = file.ReadTensor(tensor);
        int[] expected = theirs.ToInt32Array(), actual = ours.ToInt32Array();
        if (!theirs.Shape.ToArray().SequenceEqual(ours.Shape.ToArray()) || !expected.SequenceEqual(actual))
        {
            differences.Add($"{tensor}: PyTorch [{string.Join(", ", theirs.Shape.ToArray())}] {string.Join(" ", expected)}; ours [{string.Join(", ", ours.Shape.ToArray())}] {string.Join(" ", actual)}");
        }
    }

    internal static void AssertClose(Tensor expected, Tensor output, string name)
    {
        Assert.Equal(expected.Shape.ToArray(), output.Shape.ToArray());
        float[] theirs = expected.ToFloatArray();
        Assert.DoesNotContain(theirs, float.IsNaN);
        GoldenOutputTests.AssertClose(output.ToFloatArray(), theirs, $"{name} (against PyTorch)");
    }

    // LSE rows PyTorch gives -inf (no key) must be -inf here too; the others within the tolerance of their scale.
    internal static void AssertLseClose(Tensor expected, Tensor lse, string name) =>
        Numerics.Compare.Lse(lse.ToFloatArray(), Array.ConvertAll(expected.ToFloatArray(), x => (double)x), GoldenOutputTests.Tolerance, $"{name} (against PyTorch)");
}
