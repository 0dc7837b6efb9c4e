using System;

namespace AttentionGen.IO;

/// <summary>
/// A safetensors file or stream breaks the format: its header or its layout is invalid, or it is truncated.
/// The message names the offending tensor (when there is one) and the bad value.
/// </summary>
public sealed class SafetensorsFormatException : FormatException
{
    /// <summary>A format error about <paramref name="tensorName"/> (null when it concerns the file as a whole).</summary>
    public SafetensorsFormatException(string message, string? tensorName = null, Exception? innerException = null)
        : base(message, innerException)
    {
        TensorName = tensorName;
    }

    /// <summary>The tensor the error is about, or null.</summary>
    public string? TensorName { get; }
}
