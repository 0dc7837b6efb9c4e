using System;

namespace AttentionGen.Variants;

/// <summary>The validated sizes of one local-attention call: packed rows, windows, the look-around span.</summary>
internal sealed class LocalShape
{
    private readonly LocalConfig _config;
    private readonly Tensor _q;

    public LocalShape(Tensor q, Tensor k, Tensor v, LocalConfig config, int? windowSize)
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(v);
        _config = config;
        _q = q;
        foreach ((Tensor t, string name) in new[] { (q, nameof(q)), (k, nameof(k)), (v, nameof(v)) })
        {
            ShapeCheck.FloatingPoint(t, name);
            ShapeCheck.SameDevice(t, q, name);
            if (t.Rank is not (3 or 4))
            {
                throw new ArgumentException($"{name} must be [B, N, E] or [B, H, N, E]; got shape [{ShapeMath.Format(t.Shape)}].", name);
            }

            ShapeCheck.Rank(t, q.Rank, q.Rank == 3 ? "[B, N, E], as q" : "[B, H, N, E], as q", name);
            for (int d = 0; d < q.Rank - 1; d++)
            {
                ShapeCheck.Dim(t, d, q.Size(d), "as q", name);
            }
        }

        ShapeCheck.Dim(k, k.Rank - 1, q.Size(-1), "head dim E, as q", nameof(k));
        if (windowSize is not null && !config.UseXpos)
        {
            throw new ArgumentException($"a per-call windowSize ({windowSize}) needs UseXpos, as in the reference (window extrapolation).", nameof(windowSize));
        }

        WindowSize = windowSize ?? config.WindowSize;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(WindowSize, nameof(windowSize));
        Length = q.Size(-2);
        HeadDim = q.Size(-1);
        ValueDim = v.Size(-1);
        Rows = q.Rank == 3 ? q.Size(0) : ShapeMath.IntProduct(nameof(q), "rows B · H", q.Size(0), q.Size(1));
        OutputShape = q.Shape.ToArray();
        OutputShape[^1] = ValueDim;

        // Autopad pads to a multiple of the configured window (as the reference), then the window must divide.
        int padded = config.Autopad ? ShapeMath.IntProduct(nameof(q), "padded length", ShapeMath.CeilDiv(Length, config.WindowSize), config.WindowSize) : Length;
        if (padded % WindowSize != 0)
        {
            // Only a per-call window can miss an autopadded length: then the override is what to change.
            string length = padded == Length ? $"{Length}" : $"{Length}, autopadded to {padded}, a multiple of the configured WindowSize {config.WindowSize}";
            throw windowSize is null
                ? new ArgumentException($"the sequence length N of q ({length}) must be a multiple of WindowSize {WindowSize} (or set Autopad).", nameof(q))
                : new ArgumentException($"the per-call windowSize ({WindowSize}) must divide the sequence length N of q ({length}).", nameof(windowSize));
        }

        Windows = padded / WindowSize;
        Span = ShapeMath.IntProduct(nameof(windowSize), "key span (LookBackward + 1 + LookForward) · windowSize", config.SpanWindows, WindowSize);
        if (config.Rotary && config.Dim != HeadDim)
        {
            throw new ArgumentException($"the rotary dim (Dim = {config.Dim}) must equal the head dim E of q ({HeadDim}): the reference rotates the whole head.", nameof(q));
        }
    }

    /// <summary>P: the product of the leading dims.</summary>
    public int Rows { get; }

    public int Length { get; }

    public int HeadDim { get; }

    public int ValueDim { get; }

    public int WindowSize { get; }

    public int Windows { get; }

    /// <summary>(LookBackward + 1 + LookForward) · ws keys around each window.</summary>
    public int Span { get; }

    public int[] OutputShape { get; }

    /// <summary>Packed rows per row of the key mask (P / Bm).</summary>
    public int RowsPerMaskRow { get; private set; } = 1;

    /// <summary>Hb of the attention bias.</summary>
    public int BiasHeads { get; private set; } = 1;

    /// <summary>Checks the key mask [Bm, N]; returns it as bools when on the CPU (the GPU kernel reads the tensor).</summary>
    public bool[]? CheckMask(Tensor? mask)
    {
        if (mask is null)
        {
            return null;
        }

        ShapeCheck.Rank(mask, 2, "[B, N]", nameof(mask));
        ShapeCheck.DType(mask, DType.Bool, nameof(mask));
        ShapeCheck.Dim(mask, 1, Length, "N, as q", nameof(mask));
        if (mask.Size(0) == 0 || Rows % mask.Size(0) != 0)
        {
            throw new ArgumentException($"mask rows ({mask.Size(0)}) must divide the packed rows of q ({Rows}).", nameof(mask));
        }

        ShapeCheck.SameDevice(mask, _q, nameof(mask));
        RowsPerMaskRow = Rows / mask.Size(0);
        return mask.Device.Kind == DeviceKind.Cpu ? mask.ToBoolArray() : null;
    }

    /// <summary>Checks the attention bias [Hb, ws, span]; returns it as floats when on the CPU (the GPU kernel reads the tensor).</summary>
    public float[]? CheckBias(Tensor? attnBias)
    {
        if (attnBias is null)
        {
            return null;
        }

        ShapeCheck.Rank(attnBias, 3, "[H, windowSize, span]", nameof(attnBias));
        ShapeCheck.FloatingPoint(attnBias, nameof(attnBias));
        ShapeCheck.Dim(attnBias, 1, WindowSize, "window size", nameof(attnBias));
        ShapeCheck.Dim(attnBias, 2, Span, $"look-around span ({_config.LookBackward} + 1 + {_config.LookForward}) · {WindowSize}", nameof(attnBias));
        if (attnBias.Size(0) == 0 || Rows % attnBias.Size(0) != 0)
        {
            throw new ArgumentException($"attnBias heads ({attnBias.Size(0)}) must divide the packed rows of q ({Rows}).", nameof(attnBias));
        }

        ShapeCheck.SameDevice(attnBias, _q, nameof(attnBias));
        BiasHeads = attnBias.Size(0);
        return attnBias.Device.Kind == DeviceKind.Cpu ? attnBias.ToFloatArray() : null;
    }
}
