using System;
using AttentionGen.Cuda;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>
/// A fact that needs NVRTC (the CUDA compiler library) but no GPU: skipped, with the reason, where NVRTC is absent or
/// older than <see cref="MinimumMajor"/>. It runs on the GPU machine, and on any machine with the CUDA toolkit installed.
/// </summary>
public sealed class NvrtcFactAttribute : FactAttribute
{
    public NvrtcFactAttribute(int minimumMajor = 0)
    {
        MinimumMajor = minimumMajor;
        string? version = NvrtcVersion(out string reason);
        if (version is null)
        {
            Skip = $"No NVRTC: {reason}";
        }
        else if (int.Parse(version.Split('.')[0], System.Globalization.CultureInfo.InvariantCulture) < minimumMajor)
        {
            Skip = $"NVRTC {version} is older than {minimumMajor}.0, the first to compile this kernel.";
        }
    }

    public int MinimumMajor { get; }

    private static string? NvrtcVersion(out string reason)
    {
        try
        {
            reason = string.Empty;
            return Nvrtc.Instance.Version;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            reason = e.Message;
            return null;
        }
    }
}
