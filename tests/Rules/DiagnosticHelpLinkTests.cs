using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using AttentionGen.Analyzers;
using AttentionGen.Generator;
using AttentionGen.Tests.Package;
using Microsoft.CodeAnalysis;
using Xunit;

namespace AttentionGen.Tests.Rules;

/// <summary>
/// Every diagnostic's help link is an absolute address under the repository's one canonical URL
/// (AttentionGenRepositoryUrl in Directory.Build.props) and names its page in docs/diagnostics; every page belongs to
/// a descriptor, carries its title and is listed in docs/diagnostics.md; the package readme's links lead to files.
/// </summary>
public class DiagnosticHelpLinkTests
{
    private static readonly string RepositoryUrl = XDocument.Load(Path.Combine(RepositoryLayout.Root, "Directory.Build.props"))
        .Descendants("AttentionGenRepositoryUrl").Single().Value.Trim();

    private static readonly string PagesFolder = Path.Combine(RepositoryLayout.Root, "docs", "diagnostics");

    // The descriptors as each Roslyn component compiled them (compile-time/ is linked into both).
    public static TheoryData<string> Components => new() { "analyzers", "generator" };

    [Theory]
    [MemberData(nameof(Components))]
    public void EveryHelpLinkIsAbsoluteUnderTheRepositoryAndNamesItsPage(string component)
    {
        DiagnosticDescriptor[] descriptors = Descriptors(component);

        Assert.True(descriptors.Length >= 29, $"only {descriptors.Length} descriptors found in the {component}");
        Assert.All(descriptors, d =>
        {
            Assert.True(Uri.TryCreate(d.HelpLinkUri, UriKind.Absolute, out Uri? link) && link.Scheme == Uri.UriSchemeHttps, $"{d.Id}: '{d.HelpLinkUri}' is not an absolute https address");
            Assert.Equal($"{RepositoryUrl}/blob/main/docs/diagnostics/{d.Id}.md", d.HelpLinkUri);
            Assert.True(File.Exists(RepositoryFile(d.HelpLinkUri)), $"{d.Id}: no file behind {d.HelpLinkUri}");
        });
    }

    [Fact]
    public void EveryPageBelongsToADescriptorWithItsTitleAndIsListed()
    {
        Dictionary<string, DiagnosticDescriptor> byId = Descriptors("analyzers").ToDictionary(d => d.Id);
        string index = File.ReadAllText(Path.Combine(RepositoryLayout.Root, "docs", "diagnostics.md"));
        string[] pages = Directory.GetFiles(PagesFolder, "*.md");

        Assert.Equal(byId.Count, pages.Length);
        Assert.All(pages, page =>
        {
            string id = Path.GetFileNameWithoutExtension(page);
            Assert.True(byId.TryGetValue(id, out DiagnosticDescriptor? descriptor), $"{page} names no diagnostic");
            Assert.Equal($"# {id}: {descriptor!.Title}", File.ReadLines(page).First());
            Assert.Contains($"[{id}](diagnostics/{id}.md)", index, StringComparison.Ordinal);
        });
    }

    [Theory]
    [InlineData("runtime/PACKAGE.md")]
    [InlineData("README.md")]
    public void ReadmeLinksIntoTheRepositoryNameFilesUnderTheCanonicalUrl(string document)
    {
        string text = File.ReadAllText(Path.Combine(RepositoryLayout.Root, document));
        string[] links = Regex.Matches(text, @"https://github\.com/[^\s)]+").Select(m => m.Value).ToArray();

        Assert.All(links, link => Assert.True(File.Exists(RepositoryFile(link)), $"{document}: {link} leads to no file of the repository"));
    }

    private static DiagnosticDescriptor[] Descriptors(string component)
    {
        Assembly assembly = component == "analyzers" ? typeof(AttentionSpecAnalyzer).Assembly : typeof(AttentionGenerator).Assembly;
        Type type = assembly.GetType("AttentionGen.CompileTime.Rules.DiagnosticDescriptors", throwOnError: true)!;
        return type.GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.FieldType == typeof(DiagnosticDescriptor))
            .Select(f => (DiagnosticDescriptor)f.GetValue(null)!)
            .ToArray();
    }

    // The file an address under the canonical URL's main branch names, or a path that does not exist.
    private static string RepositoryFile(string link)
    {
        string prefix = RepositoryUrl + "/blob/main/";
        return link.StartsWith(prefix, StringComparison.Ordinal)
            ? Path.Combine(RepositoryLayout.Root, link[prefix.Length..].Split('#')[0])
            : Path.Combine(RepositoryLayout.Root, "not under " + prefix);
    }
}
