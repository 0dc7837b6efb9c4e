using System;
using System.IO;
using System.Linq;

namespace AttentionGen.Tests.Package;

/// <summary>Paths in the source tree the tests run from.</summary>
internal static class RepositoryLayout
{
    /// <summary>The folder holding AttentionGen.sln, found above the test binaries.</summary>
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
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
