using System.IO;
using System.Linq;
using System.Xml.Linq;
using Xunit;

namespace AttentionGen.Tests.Package;

/// <summary>
/// AG0030 reads PublishAot from the analyzer config, which MSBuild fills only with the properties a project declares
/// compiler-visible: the package's build files declare it for consumers (build and buildTransitive), and the repository's
/// own app that references the analyzers as a project declares it too.
/// </summary>
public class AnalyzerBuildFilesTests
{
    [Fact]
    public void ThePackageShipsTargetsThatMakePublishAotVisibleToTheAnalyzers()
    {
        Assert.True(DeclaresPublishAotVisible(Path.Combine("runtime", "build", "AttentionGen.targets")));
        XElement packed = Load(Path.Combine("runtime", "AttentionGen.csproj")).Descendants("None")
            .Single(e => (string?)e.Attribute("Include") == @"build\AttentionGen.targets");
        Assert.Equal("build;buildTransitive", (string?)packed.Attribute("PackagePath"));
    }

    [Fact]
    public void TheSampleAppMakesPublishAotVisibleToTheAnalyzersItReferences() =>
        Assert.True(DeclaresPublishAotVisible(Path.Combine("sample-app", "AttentionGen.SampleApp.csproj")));

    private static bool DeclaresPublishAotVisible(string file) =>
        Load(file).Descendants("CompilerVisibleProperty").Any(e => (string?)e.Attribute("Include") == "PublishAot");

    private static XDocument Load(string file) => XDocument.Load(Path.Combine(RepositoryLayout.Root, file));
}
