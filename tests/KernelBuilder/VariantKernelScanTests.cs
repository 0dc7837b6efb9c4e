using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Reflection.Emit;
using AttentionGen.Cuda;
using AttentionGen.Execution;
using AttentionGen.KernelBuilder;
using AttentionGen.Modules;
using AttentionGen.Tests.Modules;
using AttentionGen.Variants;
using Xunit;

namespace AttentionGen.Tests.KernelBuilder;

/// <summary>
/// The kernel step's scan of [Local], [Sparse] and [Dilated] layers and declared decoder configs: each layer's requests
/// are the modules its launchers load (held to the launchers' own header functions, and to one literal per kind so a
/// silent change of the text is caught), and what the package store holds is left out of the app's images.
/// </summary>
public class VariantKernelScanTests
{
    private static readonly Dictionary<string, IReadOnlyList<KernelRequest>> Scanned =
        AppLayerScan.Find(typeof(PlainWindowLayer).Assembly, [64, 128]).ToDictionary(l => l.Layer, l => l.Requests);

    [Fact]
    public void PlainLocalWindowsListTheInPlaceSegmentedAndGatheredHeadersTheLauncherBuildsFromALoweredCall()
    {
        var layer = new PlainWindowLayer();
        var requests = layer.GpuKernels([64, 128]).ToList();

        var expected = new List<KernelRequest> { new("convert.cu", string.Empty), new("local.cu", string.Empty) };
        foreach (int e in new[] { 64, 128 })
        {
            LocalWindows lowered = Lowered(layer.Config, e);
            // In place only where 128 is whole tiles of both kernels: not at head dim 64, whose Hopper blocks are 192 rows.
            expected.AddRange(new[]
            {
                128 % FlashAttentionCuda.WholeWindowTiles(e) == 0 ? CudaSpecialization.Windows(e, 128, 1, 1) : null,
                CudaSpecialization.FlashAttention(e, causal: false),
                LocalAttentionCuda.Header(lowered, e, biased: false),
                LocalAttentionCuda.Header(lowered, e, biased: true),
            }.OfType<string>().SelectMany(h => FlashAttentionCuda.ForwardKernels(e, h)));
        }

        Assert.Equal(expected.ToHashSet(), requests.ToHashSet());
        Assert.Equal(requests.Count, requests.Distinct().Count());
        Assert.Contains(new KernelRequest("flash_fwd.cu", "#define AG_HEAD_DIM 128\n#define AG_CAUSAL 0\n#define AG_WINDOW 128\n#define AG_WINDOW_BACK 1\n#define AG_WINDOW_FORWARD 1\n"), requests);
        Assert.Contains(new KernelRequest("flash_fwd.cu", "#define AG_HEAD_DIM 64\n#define AG_HAS_SCORE_MOD 1\n#define AG_SCORE_TABLE_MOD(p, s, b, h, q, kv) ((s) + (p).table[((((b) / (p).table_i0) % (p).table_i1) * (p).table_i2 + (q)) * (p).table_i3 + (kv)])\n"), requests);

        // The app builds the windows and the gathered launches (without a bias the gathered header is the plain head dim's).
        Assert.Equal(
            requests.Where(r => r.Header.Contains("AG_WINDOW", StringComparison.Ordinal) || r.Header.Contains("AG_SCORE_TABLE_MOD", StringComparison.Ordinal) || r.Header == "#define AG_HEAD_DIM 64\n" || r.Header == "#define AG_HEAD_DIM 128\n"),
            Scanned[typeof(PlainWindowLayer).FullName!]);
    }

    [Fact]
    public void RotatingLocalWindowsListTheirRotaryDimOnlyWithTheExactCausalDiagonal()
    {
        var layer = new CausalLocalXpos();
        var requests = layer.GpuKernels([64, 128]).ToList();
        LocalWindows lowered = Lowered(layer.Config, 16);

        Assert.Equal(
            [
                new KernelRequest("convert.cu", string.Empty),
                new KernelRequest("local.cu", string.Empty),
                new KernelRequest(FlashAttentionCuda.Template, LocalAttentionCuda.Header(lowered, 16, biased: false)),
                new KernelRequest(FlashAttentionCuda.HopperTemplate, LocalAttentionCuda.Header(lowered, 16, biased: false), FlashAttentionCuda.HopperArchitecture),
                new KernelRequest(FlashAttentionCuda.Template, LocalAttentionCuda.Header(lowered, 16, biased: true)),
                new KernelRequest(FlashAttentionCuda.HopperTemplate, LocalAttentionCuda.Header(lowered, 16, biased: true), FlashAttentionCuda.HopperArchitecture),
            ],
            requests);
        Assert.Equal("#define AG_HEAD_DIM 16\n#define AG_BOX_COUNT 1\n#define AG_BOXES { {0LL, 16LL, (-9223372036854775807LL - 1), 9223372036854775807LL, (-9223372036854775807LL - 1), 9223372036854775807LL} }\n", requests[2].Header);
        Assert.Equal(requests.Skip(2), Scanned[typeof(CausalLocalXpos).FullName!]);
    }

    [Fact]
    public void ABandSparseLayerListsItsBandAtEachHeadDimAndAStridedOneOnlyPackagedKernels()
    {
        var requests = Scanned[typeof(BandSparseLayer).FullName!];

        Assert.Equal(
            [
                new KernelRequest(FlashAttentionCuda.Template, CudaSpecialization.Band(64, 32)),
                new KernelRequest(FlashAttentionCuda.HopperTemplate, CudaSpecialization.Band(64, 32), FlashAttentionCuda.HopperArchitecture),
                new KernelRequest(FlashAttentionCuda.Template, CudaSpecialization.Band(128, 32)),
                new KernelRequest(FlashAttentionCuda.HopperTemplate, CudaSpecialization.Band(128, 32), FlashAttentionCuda.HopperArchitecture),
            ],
            requests);
        Assert.Equal("#define AG_HEAD_DIM 64\n#define AG_BOX_COUNT 1\n#define AG_BOXES { {-31LL, 0LL, (-9223372036854775807LL - 1), 9223372036854775807LL, (-9223372036854775807LL - 1), 9223372036854775807LL} }\n", requests[0].Header);
        Assert.Contains(new KernelRequest("segments.cu", string.Empty), new StridedSparse().GpuKernels([64]));
        Assert.Contains(new KernelRequest(FlashAttentionCuda.Template, CudaSpecialization.FlashAttention(64, causal: true)), new StridedSparse().GpuKernels([64]));
        Assert.False(Scanned.ContainsKey(typeof(StridedSparse).FullName!));
    }

    [Fact]
    public void ADilatedLayerWithARelativeBiasListsTheDistanceBiasHeaderAtItsHeadDim()
    {
        var layer = new BiasedDilatedLayer(seed: 1);

        var forward = FlashAttentionCuda.ForwardKernels(64, CudaExecutor.DistanceBiasHeader(64, causal: false)).ToList();
        Assert.Equal(
            [
                .. forward,
                new KernelRequest("segments.cu", string.Empty),
                new KernelRequest("elementwise.cu", string.Empty),
                new KernelRequest("convert.cu", string.Empty),
            ],
            layer.GpuKernels());
        Assert.Equal("#define AG_HEAD_DIM 64\n#define AG_CAUSAL 0\n#define AG_HAS_SCORE_MOD 1\n#define AG_SCORE_TABLE_MOD(p, s, b, h, q, kv) ((s) + (p).table[(h) * (2 * (p).table_i1 - 1) + (kv) - (q) + (p).table_i1 - 1])\n", CudaExecutor.DistanceBiasHeader(64, causal: false));
        Assert.Equal(forward, Scanned[typeof(BiasedDilatedLayer).FullName!]);

        // Head dim 12 (48 / 4) is no GPU kernel's: Validate refuses it before any module loads, so nothing is built.
        Assert.DoesNotContain(new CausalDilatedMixture(seed: 1).GpuKernels(), r => r.Template == FlashAttentionCuda.Template);
        Assert.False(Scanned.ContainsKey(typeof(CausalDilatedMixture).FullName!));
    }

    [Fact]
    public void DeclaredDecoderConfigsAreFoundByPropertyAndMethodAndListThePrefillAndDecodeHeaders()
    {
        DecoderAttentionConfig windowed = DeclaredDecoderConfigs.Windowed;
        var requests = DecoderAttentionModule.GpuKernels(windowed).ToList();

        var prefill = FlashAttentionCuda.ForwardKernels(64, DecoderAttentionModule.GpuHeader(windowed, forDecode: false)).ToList();
        Assert.Equal(
            [
                .. prefill,
                new KernelRequest("decode.cu", DecoderAttentionModule.GpuHeader(windowed, forDecode: true)),
                new KernelRequest("decode.cu", string.Empty),
                new KernelRequest("rotary.cu", string.Empty),
                new KernelRequest("convert.cu", string.Empty),
            ],
            requests);
        Assert.Equal("#define AG_HEAD_DIM 64\n#define AG_BOX_COUNT 1\n#define AG_BOXES { {-255LL, 0LL, (-9223372036854775807LL - 1), 9223372036854775807LL, (-9223372036854775807LL - 1), 9223372036854775807LL} }\n#define AG_HAS_SCORE_MOD 1\n__device__ __forceinline__ float ag_score_mod(float s, int b, int h, int q, int kv) { return 50.0f * tanhf(s / 50.0f); }\n", requests[0].Header);
        Assert.Equal("#define AG_BOX_COUNT 1\n#define AG_BOXES { {-255LL, 0LL, (-9223372036854775807LL - 1), 9223372036854775807LL, (-9223372036854775807LL - 1), 9223372036854775807LL} }\n#define AG_HAS_SCORE_MOD 1\n__device__ __forceinline__ float ag_score_mod(float s, int b, int h, int q, int kv) { return 50.0f * tanhf(s / 50.0f); }\n", requests[prefill.Count].Header);
        Assert.Equal(requests.Take(prefill.Count + 1), Scanned[$"{typeof(DeclaredDecoderConfigs).FullName}.{nameof(DeclaredDecoderConfigs.Configs)}[0]"]);

        // The method's causal config of head dim 128 loads the Hopper kernel too, all of it from the package store.
        var causal = DecoderAttentionModule.GpuKernels(DeclaredDecoderConfigs.Causal);
        Assert.Contains(new KernelRequest(FlashAttentionCuda.HopperTemplate, CudaSpecialization.FlashAttention(128, causal: true), FlashAttentionCuda.HopperArchitecture), causal);
        Assert.Contains(AppLayerScan.DeclaredConfigs([typeof(DeclaredDecoderConfigs)]), c => c.Name.EndsWith(".MoreConfigs[0]", StringComparison.Ordinal) && ReferenceEquals(c.Config, DeclaredDecoderConfigs.Causal));
        Assert.DoesNotContain(Scanned.Keys, k => k.Contains("MoreConfigs", StringComparison.Ordinal));
    }

    [Fact]
    public void AMarkedMemberThatIsNotAPublicStaticConfigListIsRefusedByName()
    {
        Type holder = EmitHolder("BadHolder", MethodAttributes.Public);   // an instance method

        var e = Assert.Throws<ArgumentException>(() => AppLayerScan.DeclaredConfigs([holder]).ToList());

        Assert.Contains("BadHolder.Configs", e.Message, StringComparison.Ordinal);
        Assert.Contains("public static property or parameterless method", e.Message, StringComparison.Ordinal);
        Assert.Contains("instance method", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AMarkedMemberThatThrowsFailsTheStepNamingItAndWhatItThrew()
    {
        Type holder = EmitHolder("ThrowingHolder", MethodAttributes.Public | MethodAttributes.Static, throws: true);

        var e = Assert.Throws<ArgumentException>(() => AppLayerScan.DeclaredConfigs([holder]).ToList());

        Assert.Contains("ThrowingHolder.Configs threw InvalidOperationException", e.Message, StringComparison.Ordinal);
        Assert.Contains("no configs here", e.Message, StringComparison.Ordinal);
    }

    // The windows LocalAttention lowers a call of [1, 256, e] rows to (no mask or bias).
    private static LocalWindows Lowered(LocalConfig config, int e)
    {
        using Tensor x = Tensor.Zeros(DType.Float32, Device.Cpu, 1, 256, e);
        return Assert.IsType<RowLayout.WindowRows>(LocalAttention.Lower(x, x, x, config, null, null, null).Layout).Local;
    }

    // A type whose Configs method carries [AppKernelConfigs] with the given attributes (a shape C# lets an app write),
    // returning null or throwing.
    private static Type EmitHolder(string name, MethodAttributes attributes, bool throws = false)
    {
        ModuleBuilder module = AssemblyBuilder.DefineDynamicAssembly(new AssemblyName("AppKernelConfigsHolder"), AssemblyBuilderAccess.Run).DefineDynamicModule("holder");
        TypeBuilder type = module.DefineType(name, TypeAttributes.Public | TypeAttributes.Class);
        MethodBuilder method = type.DefineMethod("Configs", attributes, typeof(IEnumerable<DecoderAttentionConfig>), Type.EmptyTypes);
        method.SetCustomAttribute(new CustomAttributeBuilder(typeof(AppKernelConfigsAttribute).GetConstructor(Type.EmptyTypes)!, []));
        ILGenerator il = method.GetILGenerator();
        if (throws)
        {
            il.Emit(OpCodes.Ldstr, "no configs here");
            il.Emit(OpCodes.Newobj, typeof(InvalidOperationException).GetConstructor([typeof(string)])!);
            il.Emit(OpCodes.Throw);
        }
        else
        {
            il.Emit(OpCodes.Ldnull);
            il.Emit(OpCodes.Ret);
        }
        return type.CreateType();
    }
}
