using System.Linq;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;
using AttentionGen.Analyzers;
using AttentionGen.Tests.Verifiers;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Testing;
using Xunit;

namespace AttentionGen.Tests.Analyzers;

/// <summary>
/// AG0030: every call into the ILGPU backend is reported, on the method's name, when the project publishes with
/// NativeAOT (build_property.PublishAot = true in the analyzer config MSBuild writes); nothing otherwise.
/// </summary>
public class IlgpuUnderNativeAotTests
{
    private static readonly DiagnosticDescriptor Descriptor = new IlgpuUnderNativeAotAnalyzer().SupportedDiagnostics.Single();

    private const string Calls = """
        using AttentionGen.Cpu; using AttentionGen.ILGpu; using ILGPU; using ILGPU.Runtime;
        class C
        {
            void Run(Tensor q, Tensor k, Tensor v)
            {
                using Context context = IlgpuAccelerators.{|#0:CreateContext|}();
                using Accelerator accelerator = IlgpuAccelerators.{|#1:Create|}(context, AcceleratorType.CPU);
                using AttentionOutput plain = IlgpuAttention.{|#2:ScaledDotProduct|}(accelerator, q, k, v, causal: true);
                using AttentionOutput modded = IlgpuAttention.{|#3:ScaledDotProduct|}<CausalMask, SoftcapScore>(accelerator, q, k, v, default, new SoftcapScore(30f));
                using (IlgpuExecution.{|#4:Use|}(accelerator)) { }
                int kinds = IlgpuAccelerators.Preference.Count; // a property, not a call into the backend
                System.Func<Context> factory = IlgpuAccelerators.CreateContext; // a method group: reported where it is invoked
            }
        }
        """;

    [Fact]
    public async Task UnderPublishAotEveryCallIsReportedOnItsNameWithItsName()
    {
        var test = new AttentionAnalyzerTest(Calls);
        test.TestState.AnalyzerConfigFiles.Add(TestProject.PublishAotConfig);
        test.ExpectedDiagnostics.AddRange(
        [
            Expected(0, "IlgpuAccelerators.CreateContext"),
            Expected(1, "IlgpuAccelerators.Create"),
            Expected(2, "IlgpuAttention.ScaledDotProduct"),
            Expected(3, "IlgpuAttention.ScaledDotProduct"),
            Expected(4, "IlgpuExecution.Use"),
        ]);

        await test.RunAsync(CancellationToken.None);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("false")]
    [InlineData("")]
    public async Task WithoutPublishAotNothingIsReported(string? publishAot)
    {
        var test = new AttentionAnalyzerTest(Regex.Replace(Calls, @"\{\|#\d:(\w+)\|\}", "$1")); // the same calls, unmarked
        if (publishAot is not null)
        {
            test.TestState.AnalyzerConfigFiles.Add(("/.globalconfig", $"is_global = true\nbuild_property.PublishAot = {publishAot}\n"));
        }

        await test.RunAsync(CancellationToken.None);
    }

    private static DiagnosticResult Expected(int location, string call) =>
        new DiagnosticResult(Descriptor).WithLocation(location).WithArguments(call);
}
