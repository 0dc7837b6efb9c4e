using System;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Xunit;

namespace AttentionGen.Tests.Generator;

public class ReadmeExampleTests
{
    [Fact]
    public void UsageExampleCompilesAsWritten()
    {
        string readme = File.ReadAllText(Path.Combine(RepositoryRoot(), "README.md"));
        string example = Regex.Match(readme, "```csharp\n(.*?)```", RegexOptions.Singleline).Groups[1].Value;
        Assert.Contains("[FlashAttention(", example);

        (Compilation output, GeneratorRunResult result) = GeneratorHarness.Run(example);

        Assert.Null(result.Exception);
        Assert.Single(result.GeneratedSources);
        Assert.Empty(GeneratorHarness.WarningsAndErrors(output));
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (dir.GetFiles("AttentionGen.sln").Any())
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No AttentionGen.sln above {AppContext.BaseDirectory}.");
    }
}
