using System;
using System.Collections.Immutable;
using System.Linq;
using AttentionGen.CompileTime.Rules;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace AttentionGen.Analyzers;

/// <summary>
/// AG0030: in a project published with NativeAOT (the MSBuild property <c>PublishAot</c>, which the package's build
/// files make visible to analyzers), every call into the ILGPU backend, whose kernels ILGPU compiles from IL at run
/// time, which a NativeAOT app cannot do. Reported on the method's name.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class IlgpuUnderNativeAotAnalyzer : DiagnosticAnalyzer
{
    /// <summary>The attention entry points of the AttentionGen.ILGpu package.</summary>
    public const string IlgpuAttentionType = "AttentionGen.ILGpu.IlgpuAttention";

    /// <summary>The context and accelerator factory of the AttentionGen.ILGpu package.</summary>
    public const string IlgpuAcceleratorsType = "AttentionGen.ILGpu.IlgpuAccelerators";

    /// <summary>The scope that sends generated layers' attention to an ILGPU accelerator.</summary>
    public const string IlgpuExecutionType = "AttentionGen.ILGpu.IlgpuExecution";

    /// <summary>The analyzer config key of <c>&lt;CompilerVisibleProperty Include="PublishAot" /&gt;</c>.</summary>
    public const string PublishAotKey = "build_property.PublishAot";

    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(DiagnosticDescriptors.IlgpuUnderNativeAot);

    /// <inheritdoc/>
    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            ImmutableArray<INamedTypeSymbol> entryTypes = new[] { IlgpuAttentionType, IlgpuAcceleratorsType, IlgpuExecutionType }
                .Select(start.Compilation.GetTypeByMetadataName)
                .OfType<INamedTypeSymbol>()
                .ToImmutableArray();
            if (entryTypes.IsEmpty || !PublishesAot(start.Options.AnalyzerConfigOptionsProvider))
            {
                return;
            }

            start.RegisterOperationAction(
                operation =>
                {
                    var invocation = (IInvocationOperation)operation.Operation;
                    INamedTypeSymbol owner = invocation.TargetMethod.ContainingType.OriginalDefinition;
                    if (entryTypes.Contains(owner, SymbolEqualityComparer.Default))
                    {
                        operation.ReportDiagnostic(Diagnostic.Create(
                            DiagnosticDescriptors.IlgpuUnderNativeAot,
                            NameLocation(invocation),
                            $"{owner.Name}.{invocation.TargetMethod.Name}"));
                    }
                },
                OperationKind.Invocation);
        });
    }

    private static bool PublishesAot(AnalyzerConfigOptionsProvider options) =>
        options.GlobalOptions.TryGetValue(PublishAotKey, out string? value) && string.Equals(value.Trim(), "true", StringComparison.OrdinalIgnoreCase);

    // The method's name token: IlgpuAttention.[ScaledDotProduct](...), [Create](...) under using static, Name<T>'s Name.
    private static Location NameLocation(IInvocationOperation invocation)
    {
        ExpressionSyntax? callee = (invocation.Syntax as InvocationExpressionSyntax)?.Expression;
        SimpleNameSyntax? name = callee switch
        {
            MemberAccessExpressionSyntax member => member.Name,
            MemberBindingExpressionSyntax binding => binding.Name,
            SimpleNameSyntax simple => simple,
            _ => null,
        };
        return name?.Identifier.GetLocation() ?? invocation.Syntax.GetLocation();
    }
}
