using System;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using AttentionGen.Cuda;
using AttentionGen.Tests.Package;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>
/// The kernel contract is written once, in C# (runtime/Cuda/Contract): this test is the build step that produces its
/// CUDA side, Kernels/flash_params.inc and Kernels/sm90_contract.inc, and fails when a shipped file differs from what
/// the C# says. Run it with ATTENTIONGEN_WRITE_CONTRACT=1 to rewrite the files after changing the C#.
/// </summary>
public sealed class KernelContractTests
{
    [Fact]
    public void TheShippedCudaContractIsTheOneTheCSharpDescribes() => AssertShipped("flash_params.inc", ContractHeader());

    // The Hopper kernel's shapes have a file of their own: a change to them leaves the other kernels' sources, and so
    // their prebuilt images, as they are.
    [Fact]
    public void TheShippedHopperShapesAreTheOnesTheCSharpDescribes() => AssertShipped("sm90_contract.inc", Sm90ContractHeader());

    private static void AssertShipped(string file, string expected)
    {
        if (Environment.GetEnvironmentVariable("ATTENTIONGEN_WRITE_CONTRACT") == "1")
        {
            File.WriteAllText(ContractPath(file), expected);
        }

        Assert.Equal(expected, File.ReadAllText(ContractPath(file)));
        Assert.Equal(expected, EmbeddedContract(file));
    }

    [Theory]
    [InlineData("Q", "q")]
    [InlineData("KeyMask", "key_mask")]
    [InlineData("QBatch", "q_batch")]
    [InlineData("ScaleLog2", "scale_log2")]
    [InlineData("BmQBlocks", "bm_q_blocks")]
    [InlineData("TableI0", "table_i0")]
    [InlineData("MBlocks", "m_blocks")]
    public void FieldNamesBecomeTheKernelsSnakeCase(string field, string cuda) => Assert.Equal(cuda, SnakeCase(field));

    [Fact]
    public void EveryPointerFieldNamesItsCudaType()
    {
        foreach (FieldInfo field in Fields().Where(f => f.FieldType == typeof(ulong)))
        {
            Assert.True(field.GetCustomAttribute<CudaTypeAttribute>() is not null, $"{field.Name} holds a device pointer: give it [CudaType].");
        }
    }

    private static FieldInfo[] Fields() =>
        typeof(FlashParams).GetFields(BindingFlags.Public | BindingFlags.Instance)
            .OrderBy(f => Marshal.OffsetOf<FlashParams>(f.Name).ToInt64()).ToArray();

    private static string ContractHeader()
    {
        var text = new StringBuilder();
        text.Append("// Generated from runtime/Cuda/Contract/FlashParams.cs and KernelContract.cs by tests/Cuda/KernelContractTests\n");
        text.Append("// (ATTENTIONGEN_WRITE_CONTRACT=1 rewrites it). Edit the C#, never this file; the C# documents each field.\n");
        text.Append("struct FlashParams {\n");
        foreach (FieldInfo field in Fields())
        {
            text.Append($"    {CudaType(field)} {SnakeCase(field.Name)};\n");
        }

        text.Append("};\n");
        // NVRTC has no offsetof: the fields' order and types come from the C# by construction, and the size catches a
        // type whose width differs between the two compilers' rules.
        text.Append($"static_assert(sizeof(FlashParams) == {Unsafe.SizeOf<FlashParams>()}, \"FlashParams differs from FlashParams.cs\");\n");

        foreach (FieldInfo constant in typeof(KernelContract).GetFields(BindingFlags.Public | BindingFlags.Static).Where(f => f.IsLiteral))
        {
            text.Append($"#define AG_CONTRACT_{SnakeCase(constant.Name).ToUpperInvariant()} {constant.GetRawConstantValue()}\n");
        }

        return text.ToString();
    }

    // flash_fwd_sm90.cu's shape per head dim: AG_CONTRACT_SM90_D64_BLOCK_M and so on, every number the launcher reads.
    private static string Sm90ContractHeader()
    {
        var text = new StringBuilder();
        text.Append("// Generated from KernelContract.Sm90Shapes (runtime/Cuda/Contract/KernelContract.cs) by tests/Cuda/KernelContractTests\n");
        text.Append("// (ATTENTIONGEN_WRITE_CONTRACT=1 rewrites it). Edit the C#, never this file; the C# documents each number.\n");
        foreach (Sm90Shape shape in KernelContract.Sm90Shapes)
        {
            foreach (PropertyInfo property in typeof(Sm90Shape).GetProperties().Where(p => p.PropertyType == typeof(int) && p.Name != nameof(Sm90Shape.HeadDim)))
            {
                text.Append($"#define AG_CONTRACT_SM90_D{shape.HeadDim}_{SnakeCase(property.Name).ToUpperInvariant()} {property.GetValue(shape)}\n");
            }
        }

        // KernelContract.Sm90's rule, for the kernel's AG_HEAD_DIM: the first shape at or above it.
        text.Append("// The shape a tile head dim runs: the first at or above it (KernelContract.Sm90).\n");
        for (int i = 0; i < KernelContract.Sm90Shapes.Count; i++)
        {
            int shape = KernelContract.Sm90Shapes[i].HeadDim;
            text.Append($"#{(i == 0 ? "if" : "elif")} AG_HEAD_DIM <= {shape}\n#define AG_SM90_SHAPE {shape}\n");
        }

        text.Append("#endif\n");
        return text.ToString();
    }

    private static string CudaType(FieldInfo field) =>
        field.GetCustomAttribute<CudaTypeAttribute>()?.Name ?? field.FieldType switch
        {
            Type t when t == typeof(long) => "i64",
            Type t when t == typeof(int) => "int",
            Type t when t == typeof(float) => "float",
            Type t => throw new InvalidOperationException($"FlashParams.{field.Name}: no CUDA type for {t.Name}; give it [CudaType]."),
        };

    // QBatch → q_batch, BmQBlocks → bm_q_blocks, ScaleLog2 → scale_log2: a word starts at an upper-case letter that
    // follows a lower-case letter or digit, or that follows an upper-case letter and precedes a lower-case one.
    private static string SnakeCase(string name)
    {
        var text = new StringBuilder();
        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            bool wordStart = i > 0 && char.IsUpper(c) &&
                (char.IsLower(name[i - 1]) || char.IsDigit(name[i - 1]) || (i + 1 < name.Length && char.IsLower(name[i + 1])));
            text.Append(wordStart ? "_" : string.Empty).Append(char.ToLowerInvariant(c));
        }

        return text.ToString();
    }

    // Found from the test binaries, not [CallerFilePath]: a CI build maps source paths to /_/.
    private static string ContractPath(string file) =>
        Path.Combine(RepositoryLayout.Root, "runtime", "Cuda", "Kernels", file);

    private static string EmbeddedContract(string file)
    {
        using Stream stream = typeof(FlashParams).Assembly.GetManifestResourceStream("AttentionGen.Cuda.Kernels." + file)
            ?? throw new InvalidOperationException($"{file} is not embedded in the runtime.");
        return new StreamReader(stream).ReadToEnd();
    }
}
