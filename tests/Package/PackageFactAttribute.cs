using System;
using System.Runtime.InteropServices;
using Xunit;

namespace AttentionGen.Tests.Package;

/// <summary>
/// A fact that packs and publishes with the .NET SDK (a minute or two): it runs by default, so CI runs it, and
/// ATTENTIONGEN_SKIP_PACKAGE_TEST=1 skips it for fast local iterations. It publishes for linux-x64, so it runs there only.
/// </summary>
public sealed class PackageFactAttribute : FactAttribute
{
    public const string SkipVariable = "ATTENTIONGEN_SKIP_PACKAGE_TEST";

    public PackageFactAttribute()
    {
        if (Environment.GetEnvironmentVariable(SkipVariable) == "1")
        {
            Skip = $"{SkipVariable}=1: the package consumer test is skipped.";
        }
        else if (RuntimeInformation.RuntimeIdentifier != "linux-x64")
        {
            Skip = $"The consumer app is published for linux-x64; this machine is {RuntimeInformation.RuntimeIdentifier}.";
        }
    }
}
