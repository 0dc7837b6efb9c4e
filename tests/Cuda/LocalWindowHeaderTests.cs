using AttentionGen.Execution;
using AttentionGen.Variants;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>
/// The specialization headers of local attention's gathered GPU launch, from a config lowered to window rows. The expected
/// texts are what the launcher wrote from the LocalConfig itself before [Local] lowered to an AttentionSpec: a header is part
/// of a kernel's cache key and prebuilt-image match, so the lowering must not change one byte of it.
/// </summary>
public class LocalWindowHeaderTests
{
    private const string Box = "(-9223372036854775807LL - 1), 9223372036854775807LL, (-9223372036854775807LL - 1), 9223372036854775807LL} }\n";
    private const string TableMod = "(s) + (p).table[((((b) / (p).table_i0) % (p).table_i1) * (p).table_i2 + (q)) * (p).table_i3 + (kv)])\n";

    public static TheoryData<string, string> Cases => new()
    {
        {
            "causal exact shared biased",
            "#define AG_HEAD_DIM 64\n#define AG_BOX_COUNT 1\n#define AG_BOXES { {0LL, 64LL, " + Box
                + "#define AG_HAS_SCORE_MOD 1\n#define AG_SCORE_TABLE_MOD(p, s, b, h, q, kv) ((kv) == (q) + 64 ? -5e4f : " + TableMod
        },
        {
            "shared",
            "#define AG_HEAD_DIM 128\n#define AG_HAS_SCORE_MOD 1\n"
                + "__device__ __forceinline__ float ag_score_mod(float s, int b, int h, int q, int kv) { return (kv) == (q) + 64 ? -5e4f : s; }\n"
        },
        { "exact, window overridden", "#define AG_HEAD_DIM 32\n#define AG_BOX_COUNT 1\n#define AG_BOXES { {-16LL, 64LL, " + Box },
        {
            "exact shared biased, window overridden",
            "#define AG_HEAD_DIM 32\n#define AG_BOX_COUNT 1\n#define AG_BOXES { {32LL, 112LL, " + Box
                + "#define AG_HAS_SCORE_MOD 1\n#define AG_SCORE_TABLE_MOD(p, s, b, h, q, kv) ((kv) == (q) + 64 ? -5e4f : " + TableMod
        },
        { "causal", "#define AG_HEAD_DIM 64\n#define AG_BOX_COUNT 1\n#define AG_BOXES { {(-9223372036854775807LL - 1), 32LL, " + Box },
        { "biased, no look back", "#define AG_HEAD_DIM 64\n#define AG_HAS_SCORE_MOD 1\n#define AG_SCORE_TABLE_MOD(p, s, b, h, q, kv) (" + TableMod },
        { "causal exact rotary xpos, window overridden", "#define AG_HEAD_DIM 16\n#define AG_BOX_COUNT 1\n#define AG_BOXES { {21LL, 42LL, " + Box },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void LoweringKeepsTheHeaderByteForByte(string name, string expected)
    {
        string header = name switch
        {
            "causal exact shared biased" => Header(new LocalConfig(64, causal: true, exactWindowsize: true, sharedQk: true), null, 128, 64, biased: true),
            "shared" => Header(new LocalConfig(64, sharedQk: true), null, 128, 128, biased: false),
            "exact, window overridden" => Header(new LocalConfig(16, lookBackward: 2, lookForward: 3, exactWindowsize: true, useXpos: true), 8, 32, 32, biased: false),
            "exact shared biased, window overridden" => Header(new LocalConfig(16, lookBackward: 2, lookForward: 3, exactWindowsize: true, sharedQk: true, useXpos: true), 32, 64, 32, biased: true),
            "causal" => Header(new LocalConfig(32, causal: true), null, 64, 64, biased: false),
            "biased, no look back" => Header(new LocalConfig(32, lookBackward: 0, lookForward: 2), null, 64, 64, biased: true),
            _ => Header(new LocalConfig(7, causal: true, lookBackward: 3, exactWindowsize: true, useXpos: true, dim: 16), 14, 28, 16, biased: false),
        };

        Assert.Equal(expected, header);
    }

    /// <summary>
    /// The header the gathered launch builds for <paramref name="config"/> over [1, N, E] operands (with a bias of one head
    /// when <paramref name="biased"/>): the config lowered as LocalAttention.Forward lowers it.
    /// </summary>
    internal static string Header(LocalConfig config, int? windowSize, int length, int headDim, bool biased)
    {
        using Tensor x = Tensor.Zeros(DType.Float32, 1, length, headDim);
        int ws = windowSize ?? config.WindowSize;
        using Tensor? bias = biased ? Tensor.Zeros(DType.Float32, 1, ws, (config.LookBackward + 1 + config.LookForward) * ws) : null;
        var windows = (RowLayout.WindowRows)LocalAttention.Lower(x, x, x, config, mask: null, bias, windowSize).Layout;
        return LocalAttentionCuda.Header(windows.Local, headDim, biased);
    }
}
