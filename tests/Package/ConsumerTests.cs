using System;
using System.IO;
using System.Linq;
using AttentionGen.Tests.Package.ConsumerApp;
using Xunit;

namespace AttentionGen.Tests.Package;

/// <summary>
/// What a user installs: the AttentionGen package, packed from the runtime this test run built, referenced by a fresh
/// NativeAOT console app with a [FlashAttention] and a [Flex] layer, published without a warning (its [Flex] kernels
/// compiled by the package's kernel step where NVRTC is) and run.
/// </summary>
public class ConsumerTests
{
#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    // The app prints sums of a few hundred floats; the published app's kernels (x86-64-v3) may round differently from
    // this process's (its own SIMD width), by far less than a wrong mask, layer or weight would move them.
    private const double SumTolerance = 1e-3;

    // The app narrows its kernel step to one target and one head dim, as the properties let a user: the package's six
    // default targets at two head dims took 170 of this test's 190 s on CI's two cores, compiling the same sources
    // again per target (AppLayerScanTests covers the default targets).
    private const string KernelArchitecture = "sm_80";

    [PackageFact]
    public void NativeAotAppPublishedFromThePackageRunsWithoutWarnings()
    {
        DirectoryInfo work = Directory.CreateTempSubdirectory("attentiongen-consumer-");
        try
        {
            // A version no earlier run or package cache has, so restore can only take the package packed here.
            string version = $"0.1.0-consumertest-{Guid.NewGuid():N}";
            string feed = Pack(work.FullName, version);
            string app = WriteConsumerApp(work.FullName, version, feed);

            string packages = Path.Combine(work.FullName, "packages");
            string publishOutput = DotnetCli.Run(
                DotnetCli.DotnetPath, app, [("NUGET_PACKAGES", packages)],
                "publish", "-r", "linux-x64", "-o", Path.Combine(work.FullName, "out"), "--disable-build-servers");

            Assert.True(
                !publishOutput.Contains("warning", StringComparison.OrdinalIgnoreCase),
                $"The consumer's publish warned:\n{publishOutput}");
            Assert.True(
                Directory.Exists(Path.Combine(packages, "attentiongen", version)),
                $"AttentionGen {version} was not restored from the local feed:\n{publishOutput}");

            // The package's kernel step (buildTransitive) ran on the app's [Flex] layer: its kernels are beside the
            // executable, or, where this machine has no NVRTC, the step said they compile at first use.
            bool noNvrtc = publishOutput.Contains("no NVRTC on this build machine", StringComparison.Ordinal);
            Assert.True(
                noNvrtc || publishOutput.Contains($" for {KernelArchitecture} in ", StringComparison.Ordinal),
                $"The package's kernel step did not run for the app's {KernelArchitecture} alone:\n{publishOutput}");
            Assert.Equal(!noNvrtc, File.Exists(Path.Combine(work.FullName, "out", AttentionGen.Cuda.AppKernelStore.FileName)));

            string report = DotnetCli.Run(Path.Combine(work.FullName, "out", "Consumer"), work.FullName);
            AssertSameReport(ConsumerWorkload.Report(), report);
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    /// <summary>Packs the already built runtime (with its generator and analyzers) into a feed folder; returns it.</summary>
    private static string Pack(string work, string version)
    {
        string feed = Path.Combine(work, "feed");
        DotnetCli.Run(
            DotnetCli.DotnetPath, RepositoryLayout.Root,
            "pack", Path.Combine("runtime", "AttentionGen.csproj"), "-c", Configuration, "--no-build", "--disable-build-servers",
            "-o", feed, $"-p:PackageVersion={version}", $"-p:NuspecOutputPath={Path.Combine(work, "nuspec")}{Path.DirectorySeparatorChar}");
        return feed;
    }

    /// <summary>Writes the app: the workload the tests compile too, a one-line Program and a project with PublishAot.</summary>
    private static string WriteConsumerApp(string work, string version, string feed)
    {
        string app = Path.Combine(work, "app");
        Directory.CreateDirectory(app);
        File.Copy(Path.Combine(RepositoryLayout.Root, "tests", "Package", "ConsumerApp", "ConsumerWorkload.cs"), Path.Combine(app, "ConsumerWorkload.cs"));
        File.WriteAllText(Path.Combine(app, "Program.cs"), "System.Console.WriteLine(AttentionGen.Tests.Package.ConsumerApp.ConsumerWorkload.Report());\n");
        File.WriteAllText(Path.Combine(app, "Consumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net9.0</TargetFramework>
                <PublishAot>true</PublishAot>
                <AttentionGenCudaArchitectures>{KernelArchitecture}</AttentionGenCudaArchitectures>
                <AttentionGenKernelHeadDims>64</AttentionGenKernelHeadDims>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="AttentionGen" Version="{version}" />
              </ItemGroup>
            </Project>
            """);

        // The feed is added to the sources inherited from the machine; the machine's package folder is a read-only
        // fallback, so packages it already holds (the ILCompiler, the runtime packs) are neither fetched nor copied.
        string machinePackages = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        File.WriteAllText(Path.Combine(work, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="attentiongen-under-test" value="{feed}" />
              </packageSources>
              <fallbackPackageFolders>
                <add key="machine" value="{machinePackages}" />
              </fallbackPackageFolders>
            </configuration>
            """);

        // Empty MSBuild files stop the SDK's upward search, so nothing above the temp folder changes the build.
        foreach (string name in new[] { "Directory.Build.props", "Directory.Build.targets", "Directory.Packages.props" })
        {
            File.WriteAllText(Path.Combine(work, name), "<Project />\n");
        }

        return app;
    }

    /// <summary>Compares reports line by line: names and shapes exactly, sums within <see cref="SumTolerance"/>.</summary>
    private static void AssertSameReport(string expected, string actual)
    {
        string[] expectedLines = expected.Split('\n');
        string[] actualLines = actual.TrimEnd().Split('\n').Select(line => line.TrimEnd('\r')).ToArray();
        Assert.True(expectedLines.Length == actualLines.Length, $"Expected the report\n{expected}\nbut the app printed\n{actual}");
        foreach ((string want, string got) in expectedLines.Zip(actualLines))
        {
            int wantSplit = want.LastIndexOf(' ');
            int gotSplit = got.LastIndexOf(' ');
            if (wantSplit < 0 || !double.TryParse(want[(wantSplit + 1)..], System.Globalization.CultureInfo.InvariantCulture, out double wantSum))
            {
                Assert.Equal(want, got); // a line without a sum, "OK"
                continue;
            }

            Assert.Equal(want[..wantSplit], gotSplit < 0 ? got : got[..gotSplit]);
            double gotSum = double.Parse(got[(gotSplit + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(Math.Abs(wantSum - gotSum) <= SumTolerance, $"'{got}': expected a sum of {wantSum} ± {SumTolerance}.");
        }
    }
}
