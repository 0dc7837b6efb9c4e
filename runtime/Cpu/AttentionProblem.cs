using System;

namespace AttentionGen.Cpu;

/// <summary>
/// One attention call, validated: q [B, Hq, N, E], k [B, Hkv, M, E], v [B, Hkv, M, Ev] and the
/// output [B, Hq, N, Ev], one dtype, on one device, with a contiguous last axis (any other strides, so
/// [B, N, H·E] tensors enter through <see cref="Tensor.SplitHeads"/> without a copy); optional LSE
/// [B, Hq, N] float32 and key-padding mask [B, M] (true = keep). Each backend checks the dtypes it runs.
/// </summary>
public sealed class AttentionProblem
{
    /// <summary>Validates every operand (none disposed: kernels read them through unchecked references); the message of a failure names the argument, the expected and the actual value.</summary>
    public AttentionProblem(Tensor q, Tensor k, Tensor v, Tensor output, Tensor? lse = null, Tensor? keyPaddingMask = null, float? scale = null, int queryTile = 512, int keyTile = 1024)
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(v);
        ArgumentNullException.ThrowIfNull(output);
        CheckOperand(q, q, nameof(q), "[B, Hq, N, E]");
        CheckOperand(k, q, nameof(k), "[B, Hkv, M, E]");
        CheckOperand(v, q, nameof(v), "[B, Hkv, M, Ev]");
        CheckOperand(output, q, nameof(output), "[B, Hq, N, Ev]");

        Batch = q.Size(0);
        QueryHeads = q.Size(1);
        QueryLength = q.Size(2);
        HeadDim = q.Size(3);
        KeyHeads = k.Size(1);
        KeyLength = k.Size(2);
        ValueDim = v.Size(3);

        ShapeCheck.Dim(k, 0, Batch, "batch, as q", nameof(k));
        ShapeCheck.Dim(k, 3, HeadDim, "head dim E, as q", nameof(k));
        ShapeCheck.Dim(v, 0, Batch, "batch, as q", nameof(v));
        ShapeCheck.Dim(v, 1, KeyHeads, "kv heads, as k", nameof(v));
        ShapeCheck.Dim(v, 2, KeyLength, "key length M, as k", nameof(v));
        if (!KvHeadsServe(QueryHeads, KeyHeads))
        {
            throw new ArgumentException($"k heads ({KeyHeads}) must divide q heads ({QueryHeads}) for grouped-query attention.", nameof(k));
        }

        ShapeCheck.Dim(output, 0, Batch, "batch", nameof(output));
        ShapeCheck.Dim(output, 1, QueryHeads, "heads", nameof(output));
        ShapeCheck.Dim(output, 2, QueryLength, "query length N", nameof(output));
        ShapeCheck.Dim(output, 3, ValueDim, "value dim Ev", nameof(output));
        WrittenApart(output, nameof(output), (q, nameof(q)), (k, nameof(k)), (v, nameof(v)));

        if (lse is not null)
        {
            lse.ThrowIfDisposed(nameof(lse));
            ShapeCheck.Rank(lse, 3, "[B, Hq, N]", nameof(lse));
            ShapeCheck.DType(lse, DType.Float32, nameof(lse));
            ShapeCheck.SameDevice(lse, q, nameof(lse));
            ShapeCheck.Dim(lse, 0, Batch, "batch", nameof(lse));
            ShapeCheck.Dim(lse, 1, QueryHeads, "heads", nameof(lse));
            ShapeCheck.Dim(lse, 2, QueryLength, "query length N", nameof(lse));
            WrittenApart(lse, nameof(lse), (q, nameof(q)), (k, nameof(k)), (v, nameof(v)), (output, nameof(output)));
        }

        if (keyPaddingMask is not null)
        {
            ShapeCheck.KeyPaddingMask(keyPaddingMask, Batch, KeyLength, q, nameof(keyPaddingMask));
        }

        float s = ResolveScale(scale, HeadDim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(queryTile);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(keyTile);

        Q = q;
        K = k;
        V = v;
        Output = output;
        Lse = lse;
        KeyPaddingMask = keyPaddingMask;
        Scale = s;
        QueryTile = queryTile;
        KeyTile = keyTile;
    }

    /// <summary>Queries [B, Hq, N, E].</summary>
    public Tensor Q { get; }

    /// <summary>Keys [B, Hkv, M, E].</summary>
    public Tensor K { get; }

    /// <summary>Values [B, Hkv, M, Ev].</summary>
    public Tensor V { get; }

    /// <summary>Where the result goes: [B, Hq, N, Ev].</summary>
    public Tensor Output { get; }

    /// <summary>Log-sum-exp of each row's scores, natural log; -inf for a row with no allowed key.</summary>
    public Tensor? Lse { get; }

    /// <summary>[B, M] bool, true = the key takes part.</summary>
    public Tensor? KeyPaddingMask { get; }

    /// <summary>Multiplies q·k before the score mod and the softmax.</summary>
    public float Scale { get; }

    /// <summary>Largest number of query rows in one tile (q_bucket_size).</summary>
    public int QueryTile { get; }

    /// <summary>Largest number of keys in one tile (k_bucket_size).</summary>
    public int KeyTile { get; }

    /// <summary>B.</summary>
    public int Batch { get; }

    /// <summary>Hq.</summary>
    public int QueryHeads { get; }

    /// <summary>Hkv; query head h reads kv head h / (Hq / Hkv).</summary>
    public int KeyHeads { get; }

    /// <summary>N.</summary>
    public int QueryLength { get; }

    /// <summary>M.</summary>
    public int KeyLength { get; }

    /// <summary>E.</summary>
    public int HeadDim { get; }

    /// <summary>Ev.</summary>
    public int ValueDim { get; }

    /// <summary>The device all operands are on.</summary>
    public Device Device => Q.Device;

    /// <summary>The dtype of q, k, v and the output.</summary>
    public DType DType => Q.DType;

    /// <summary>
    /// Whether <paramref name="keyHeads"/> kv heads serve <paramref name="queryHeads"/> query heads (grouped-query
    /// attention): they divide them. No heads at all is an empty call with nothing to compute, as PyTorch returns it.
    /// </summary>
    internal static bool KvHeadsServe(int queryHeads, int keyHeads) =>
        keyHeads == 0 ? queryHeads == 0 : queryHeads % keyHeads == 0;

    /// <summary>The scale a call runs with: <paramref name="scale"/>, by default 1/√E; it must be finite.</summary>
    internal static float ResolveScale(float? scale, int headDim)
    {
        float s = scale ?? (headDim == 0 ? 1f : 1f / MathF.Sqrt(headDim));
        if (!float.IsFinite(s))
        {
            throw new ArgumentOutOfRangeException(nameof(scale), s, "scale must be a finite number.");
        }

        return s;
    }

    // The kernels write the output while later tiles still read q, k and v (a v under its own output came out wrong):
    // what a call writes may not share memory with what it reads or with what else it writes.
    private static void WrittenApart(Tensor written, string name, params (Tensor Tensor, string Name)[] others)
    {
        foreach ((Tensor other, string otherName) in others)
        {
            if (written.SharesStorageWith(other))
            {
                throw new ArgumentException($"{name} shares its memory with {otherName}; the call uses {otherName} while it writes {name}, so {name} needs its own.", name);
            }
        }
    }

    private static void CheckOperand(Tensor t, Tensor q, string name, string layout)
    {
        t.ThrowIfDisposed(name);
        ShapeCheck.Rank(t, 4, layout, name);
        ShapeCheck.DType(t, q.DType, name);
        ShapeCheck.SameDevice(t, q, name);
        if (t.Size(3) > 1 && t.Strides[3] != 1)
        {
            throw new ArgumentException($"{name} must have a contiguous last dimension (stride 1); got stride {t.Strides[3]}.", name);
        }
    }
}
