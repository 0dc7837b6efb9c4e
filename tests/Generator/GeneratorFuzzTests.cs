using System;
using System.Linq;
using AttentionGen.Tests.Analyzers;
using CsCheck;
using Microsoft.CodeAnalysis;
using Xunit;

namespace AttentionGen.Tests.Generator;

/// <summary>
/// Random and malformed declarations (<see cref="DeclarationGrammar"/>) through the generator and the analyzers in
/// process. A failure prints the source and the seed; set ATTENTIONGEN_FUZZ_SEED to that seed to replay it, and
/// ATTENTIONGEN_FUZZ_ITER to run longer.
/// </summary>
public class GeneratorFuzzTests
{
    private static readonly string? Seed = Environment.GetEnvironmentVariable("ATTENTIONGEN_FUZZ_SEED");
    private static readonly long Iterations = long.TryParse(Environment.GetEnvironmentVariable("ATTENTIONGEN_FUZZ_ITER"), out long n) ? n : 150;

    [Fact]
    public void AnyDeclarationIsServedOrDiagnosedNeverBrokenGeneratedCode()
    {
        DeclarationGrammar.Any.Sample(
            source =>
            {
                Reported[] reported = AnalyzerHarness.AnalyzeAsync(source).GetAwaiter().GetResult();
                (Compilation output, GeneratorRunResult result) = GeneratorHarness.Run(AnalyzerHarness.Usings + source);

                Assert.Null(result.Exception);
                Assert.DoesNotContain(reported, d => d.Id == "AD0001");
                Assert.Empty(GeneratorHarness.ErrorsInGeneratedCode(output, result));
                if (!reported.Any(d => d.Id.StartsWith("AG", StringComparison.Ordinal) && d.Severity == DiagnosticSeverity.Error))
                {
                    Assert.Empty(output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
                }
            },
            seed: Seed,
            iter: Iterations,
            threads: 1);
    }

    [Fact]
    public void ValidDeclarationHasNoDiagnosticAndCompiles()
    {
        DeclarationGrammar.Valid.Sample(
            source =>
            {
                Reported[] reported = AnalyzerHarness.AnalyzeAsync(source).GetAwaiter().GetResult();
                (Compilation output, GeneratorRunResult result) = GeneratorHarness.Run(AnalyzerHarness.Usings + source);

                Assert.Empty(reported);
                Assert.Single(result.GeneratedSources);
                Assert.Empty(output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
            },
            seed: Seed,
            iter: Iterations / 3,
            threads: 1);
    }
}
