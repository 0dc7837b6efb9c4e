using System;
using AttentionGen.IO;
using AttentionGen.Modules;
using AttentionGen.Tests.Cuda;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Golden;

// The mods of bench/golden/make_golden_torch.py that Numerics' Flex modules (CausalFlex, AlibiFlex, SoftcapFlex) do not
// already declare, as [Flex] layers declare them: compiled into the generated modules, which TorchGoldenFlexModuleTests
// runs against PyTorch's outputs.

[Flex(MaskMod = nameof(Window), BlockSize = 64)]
public partial class TorchSlidingWindowFlex
{
    [MaskMod]
    internal static bool Window(int b, int h, int q, int kv) => kv <= q && q - kv < 64;
}

[Flex(MaskMod = nameof(DeadRows), BlockSize = 32)]
public partial class TorchDeadRowsFlex
{
    // Rows 3, 10, 17, ... see no key.
    [MaskMod]
    internal static bool DeadRows(int b, int h, int q, int kv) => q % 7 != 3 && kv <= q + 5;
}

// PyTorch's ALiBi over 4 heads under the causal mask: the mods of CausalFlex and AlibiFlex.
[Flex(MaskMod = nameof(CausalFlex.Causal), ScoreMod = nameof(AlibiFlex.Alibi), BlockSize = 64)]
public partial class TorchAlibiCausalFlex
{
}

[Flex(MaskMod = nameof(CausalFlex.Causal), ScoreMod = nameof(Softcap), BlockSize = 32)]
public partial class TorchCausalSoftcapFlex
{
    [ScoreMod]
    internal static float Softcap(float score, int b, int h, int q, int kv) => 3f * MathF.Tanh(score / 3f);
}

[Flex(ScoreMod = nameof(MinusInfRows))]
public partial class TorchMinusInfRowsFlex
{
    // Rows 2, 7, 12, ... lose every key to the score mod.
    [ScoreMod]
    internal static float MinusInfRows(float score, int b, int h, int q, int kv) => q % 5 == 2 ? float.NegativeInfinity : score;
}

/// <summary>
/// The generated [Flex] modules (their mods compiled in, no block mask) on the CPU and on a GPU against PyTorch 2.11's
/// flex_attention on the same inputs (tests/Golden/torch, see <see cref="TorchGoldenTests"/>).
/// </summary>
public class TorchGoldenFlexModuleTests
{
    public static TheoryData<string> Cases => new()
    {
        "flex_causal", "flex_causal_short_queries", "flex_gqa_causal", "flex_extreme_causal", "flex_sliding_window", "flex_dead_rows",
        "flex_alibi_causal", "flex_softcap", "flex_scale_softcap_causal", "flex_minus_inf_rows",
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void AGeneratedFlexModuleMatchesPyTorch(string name)
    {
        (AttentionOutput result, Tensor output, Tensor lse) = Run(name, Device.Cpu);

        TorchGoldenTests.AssertClose(output, result.Output, name);
        TorchGoldenTests.AssertLseClose(lse, result.Lse, name);
    }

    public static TheoryData<string> GpuCases => new()
    {
        "flex_causal", "flex_causal_short_queries", "flex_gqa_causal", "flex_sliding_window", "flex_dead_rows", "flex_alibi_causal",
        "flex_minus_inf_rows",
    };

    // The same modules on a GPU, their mods translated to CUDA; float32 runs there as bf16, hence the tolerances of
    // CudaFlexTests (relative error of the output 1e-2, LSE 2e-2). The cases whose inputs are scaled up (softcap,
    // extreme) would mostly measure bf16's rounding of q and k, so they stay on the CPU.
    [GpuTheory]
    [MemberData(nameof(GpuCases))]
    public void AGeneratedFlexModuleOnTheGpuMatchesPyTorch(string name)
    {
        (AttentionOutput result, Tensor output, Tensor lse) = Run(name, Device.Cuda(0));

        Compare.Output(result.Output.ToFloatArray(), Array.ConvertAll(output.ToFloatArray(), x => (double)x), 1e-2, name);
        Compare.Lse(result.Lse.ToFloatArray(), Array.ConvertAll(lse.ToFloatArray(), x => (double)x), 2e-2, name);
    }

    // The case's module run on its inputs (moved to `device`), and PyTorch's output and LSE.
    private static (AttentionOutput Result, Tensor Output, Tensor Lse) Run(string name, Device device)
    {
        using SafetensorsFile file = TorchGoldenTests.Open(name);
        System.Text.Json.JsonElement config = TorchGoldenTests.Config(file);
        using FlexAttentionModule module = Module(name);
        AttentionOutput result = module.Forward(
            file.ReadTensor("input.q").To(device), file.ReadTensor("input.k").To(device), file.ReadTensor("input.v").To(device),
            scale: TorchGoldenTests.Number(config, "scale"), enableGqa: TorchGoldenTests.Flag(config, "enable_gqa"));
        return (result, file.ReadTensor("output"), file.ReadTensor("lse"));
    }

    private static FlexAttentionModule Module(string name) => name switch
    {
        "flex_causal" or "flex_causal_short_queries" or "flex_gqa_causal" or "flex_extreme_causal" => new CausalFlex(),
        "flex_sliding_window" => new TorchSlidingWindowFlex(),
        "flex_dead_rows" => new TorchDeadRowsFlex(),
        "flex_alibi_causal" => new TorchAlibiCausalFlex(),
        "flex_softcap" => new SoftcapFlex(),
        "flex_scale_softcap_causal" => new TorchCausalSoftcapFlex(),
        "flex_minus_inf_rows" => new TorchMinusInfRowsFlex(),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "no module declared for this case"),
    };
}
