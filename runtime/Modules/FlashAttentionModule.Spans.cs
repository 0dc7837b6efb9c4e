using System;
using System.Buffers;
using AttentionGen.Cpu;

namespace AttentionGen.Modules;

public abstract partial class FlashAttentionModule
{
    /// <summary>
    /// <see cref="Forward(Tensor, Tensor?, Tensor?, int?, int?)"/> on the CPU over memory the caller owns: x [B, N, Dim]
    /// row-major with B = <paramref name="batch"/> (N = x.Length / (B·Dim)) attends to <paramref name="context"/>
    /// [B, M, Dim] (x itself when empty), <paramref name="mask"/> [B, M] keeps the true keys (none when empty), and the
    /// result [B, N, Dim] is written into <paramref name="output"/>. The tensor overload's bits. q, k, v and the heads live
    /// in workspace from the shared array pool and the kernels run on the worker team, so once warm a call allocates
    /// nothing. Every argument is checked before anything is written.
    /// </summary>
    public void Forward(ReadOnlySpan<float> x, int batch, Span<float> output, ReadOnlySpan<float> context = default, ReadOnlySpan<bool> mask = default, int? qBucket = null, int? kBucket = null)
    {
        using Call call = BeginCall();
        if (Device.Kind != DeviceKind.Cpu)
        {
            throw new InvalidOperationException($"Forward over spans runs on the CPU; this module is on {Device}. Move it with To(Device.Cpu), or pass tensors.");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        if (batch == 0 && !x.IsEmpty)
        {
            throw new ArgumentOutOfRangeException(nameof(batch), batch, $"batch must be positive for an x of {x.Length} elements (B = 0 holds no tokens).");
        }

        int qb = qBucket ?? Config.QBucket, kb = kBucket ?? Config.KBucket;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(qb, nameof(qBucket));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kb, nameof(kBucket));
        int n = TokensOf(x, batch, nameof(x));
        int m = context.IsEmpty ? n : TokensOf(context, batch, nameof(context));
        long expected = (long)batch * n * Config.Dim;
        if (output.Length != expected)
        {
            throw new ArgumentException($"output must hold [B, N, Dim] = [{batch}, {n}, {Config.Dim}] = {expected} elements; got {output.Length}.", nameof(output));
        }

        if (output.Overlaps(x) || output.Overlaps(context))
        {
            throw new ArgumentException($"output overlaps {(output.Overlaps(x) ? nameof(x) : nameof(context))}; give it memory of its own.", nameof(output));
        }

        if (!mask.IsEmpty && mask.Length != (long)batch * m)
        {
            throw new ArgumentException($"mask must be empty (none) or hold [B, M] = [{batch}, {m}] = {(long)batch * m} elements; got {mask.Length}.", nameof(mask));
        }

        int inner = Config.InnerDim, queries = ShapeMath.IntProduct(nameof(x), "q elements B · N · H · E", batch, n, inner);
        int keys = ShapeMath.IntProduct(context.IsEmpty ? nameof(x) : nameof(context), "kv elements B · M · 2 · H · E", batch, m, 2 * inner);
        float[] q = ArrayPool<float>.Shared.Rent(queries), kv = ArrayPool<float>.Shared.Rent(keys), heads = ArrayPool<float>.Shared.Rent(queries);
        float[]? roundedX = Config.MixedPrecision ? RoundedToBFloat16(x) : null;
        float[]? roundedContext = Config.MixedPrecision && !context.IsEmpty ? RoundedToBFloat16(context) : null;
        try
        {
            ReadOnlySpan<float> xIn = roundedX is null ? x : roundedX.AsSpan(0, x.Length);
            _toQ.Apply(xIn, q.AsSpan(0, queries));
            _toKv.Apply(context.IsEmpty ? xIn : roundedContext is null ? context : roundedContext.AsSpan(0, context.Length), kv.AsSpan(0, keys));

            // q, k, v and the heads as token-major views of the projections, as the tensor overload's SplitHeads makes them.
            RowStrides queryRows = RowStrides.TokenMajor(n, Config.DimHead, inner), keyRows = RowStrides.TokenMajor(m, Config.DimHead, 2 * inner);
            var shape = new AttentionShape(batch, Config.Heads, n, m, Config.DimHead)
            {
                QueryStrides = queryRows,
                KeyStrides = keyRows,
                ValueStrides = keyRows,
                OutputStrides = queryRows,
            };
            Span<float> k = kv.AsSpan(0, keys);
            SpanOperands.Forward<float>(
                q.AsSpan(0, queries), k, k[Math.Min(inner, keys)..], heads.AsSpan(0, queries), shape, Config.Causal, mask, default, 1f / MathF.Sqrt(Config.DimHead), qb, kb);
            _toOut.Apply(heads.AsSpan(0, queries), output);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(q);
            ArrayPool<float>.Shared.Return(kv);
            ArrayPool<float>.Shared.Return(heads);
            ReturnIfRented(roundedX);
            ReturnIfRented(roundedContext);
        }
    }

    // (Two calls rather than a loop over a new array: this overload allocates nothing per call.)
    private static void ReturnIfRented(float[]? buffer)
    {
        if (buffer is not null)
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }

    // MixedPrecision's bf16 inputs (see ComputeInput), in pooled workspace.
    private static float[] RoundedToBFloat16(ReadOnlySpan<float> values)
    {
        float[] rounded = ArrayPool<float>.Shared.Rent(values.Length);
        for (int i = 0; i < values.Length; i++)
        {
            rounded[i] = (float)(BFloat16)values[i];
        }

        return rounded;
    }

    // Tokens of a [B, tokens, Dim] span: its length must be whole tokens of every batch entry.
    private int TokensOf(ReadOnlySpan<float> values, int batch, string name)
    {
        long perToken = (long)batch * Config.Dim;
        if (perToken == 0 ? values.Length != 0 : values.Length % perToken != 0)
        {
            throw new ArgumentException($"{name} must hold [B, tokens, Dim] with B = {batch} and Dim = {Config.Dim}: a multiple of {perToken} elements; got {values.Length}.", name);
        }

        return perToken == 0 ? 0 : (int)(values.Length / perToken);
    }
}
