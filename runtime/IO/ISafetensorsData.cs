using System;

namespace AttentionGen.IO;

/// <summary>Where a <see cref="SafetensorsFile"/>'s bytes come from: a file read in place, or a stream read into memory.</summary>
internal interface ISafetensorsData : IDisposable
{
    /// <summary>
    /// Copies the bytes from <paramref name="offset"/> into all of <paramref name="destination"/>; the caller has checked
    /// the range. A file that has become shorter since it was opened throws <see cref="System.IO.IOException"/>.
    /// </summary>
    void Read(long offset, Span<byte> destination);
}
