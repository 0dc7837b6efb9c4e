using System.Collections.Generic;
using System.Linq;
using AttentionGen.CompileTime.Rules;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;

namespace AttentionGen.CompileTime.Translate;

/// <summary>Which flex function a method is.</summary>
internal enum ModKind
{
    /// <summary><c>static bool M(int b, int h, int q, int kv)</c>.</summary>
    Mask,

    /// <summary><c>static float F(float score, int b, int h, int q, int kv)</c>.</summary>
    Score,
}

/// <summary>A problem with a mod method, at the node that causes it.</summary>
internal sealed record ModIssue(DiagnosticDescriptor Descriptor, Location Location, object[] MessageArgs);

/// <summary>
/// Checks that a <c>[MaskMod]</c>/<c>[ScoreMod]</c> method can run on a GPU: its signature, and that its body
/// stays inside the subset the C# → CUDA translator handles (ARCHITECTURE.md): arithmetic, comparisons, logic,
/// ternaries and if/return, locals assigned once, constants, <c>static readonly</c> primitives and arrays,
/// <see cref="CudaKnownMethods"/>, the mod library (<see cref="ModLibrary"/>), and other static methods that pass the same check.
/// </summary>
internal static class ModMethodRules
{
    public const string MaskSignature = "static bool M(int b, int h, int q, int kv) (optionally followed by one ReadOnlySpan<int> or ReadOnlySpan<float> capture)";
    public const string ScoreSignature = "static float F(float score, int b, int h, int q, int kv) (optionally followed by one ReadOnlySpan<int> or ReadOnlySpan<float> capture)";

    public static List<ModIssue> Check(IMethodSymbol method, ModKind kind, Compilation? compilation = null)
    {
        var issues = new List<ModIssue>();
        Location name = method.Locations.FirstOrDefault() ?? Location.None;
        if (!method.IsStatic)
        {
            issues.Add(new(DiagnosticDescriptors.ModNotStatic, name, [method.Name, kind == ModKind.Mask ? "MaskMod" : "ScoreMod"]));
        }

        if (!HasSignature(method, kind))
        {
            issues.Add(new(DiagnosticDescriptors.ModWrongSignature, name, [method.Name, kind == ModKind.Mask ? MaskSignature : ScoreSignature]));
        }

        // The GPU needs the body to translate it, and the CPU module calls it: extern and bodiless partial mods have none.
        if (HasNoBody(method))
        {
            issues.Add(new(DiagnosticDescriptors.ModNotTranslatable, name, [method.Name, "it has no body (extern, abstract or a partial method without an implementation); write the body in C#"]));
        }

        // The generated structs and delegates call the mod: an error-level [Obsolete] would be an error in generated code.
        if (method.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == "System.ObsoleteAttribute"
            && a.ConstructorArguments.Length == 2 && a.ConstructorArguments[1].Value is true))
        {
            issues.Add(new(DiagnosticDescriptors.ModObsoleteAsError, name, [method.Name]));
        }

        // The generated module binds the mod to a delegate, which an [UnmanagedCallersOnly] method cannot be (CS8902 in
        // generated code, with nothing on the user's line).
        if (method.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == "System.Runtime.InteropServices.UnmanagedCallersOnlyAttribute"))
        {
            issues.Add(new(DiagnosticDescriptors.ModNotTranslatable, name, [method.Name, "it is [UnmanagedCallersOnly], and the module calls it from C#; remove the attribute"]));
        }

        // A [Conditional] method cannot become a delegate (CS1618 in generated code).
        if (method.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == "System.Diagnostics.ConditionalAttribute"))
        {
            issues.Add(new(DiagnosticDescriptors.ModNotTranslatable, name, [method.Name, "it is [Conditional], and the module binds it to a delegate; remove the attribute"]));
        }

        // The generated module mutes the ids of [Experimental] and [Obsolete(DiagnosticId = ...)] where it calls the mod
        // (SpecParser.ModDiagnosticIds); an id that is not an identifier no #pragma can name.
        if (UnnamableDiagnosticId(method) is { } id)
        {
            issues.Add(new(DiagnosticDescriptors.ModNotTranslatable, name, [method.Name, $"its diagnostic id \"{id}\" is not an identifier, so the generated module cannot mute it where it calls the mod; use an identifier"]));
        }

        // A partial mod's body is in its implementation part.
        CheckBody(method.PartialImplementationPart ?? method, compilation, issues, new HashSet<IMethodSymbol>(SymbolEqualityComparer.Default));
        return issues;
    }

    private static string? UnnamableDiagnosticId(IMethodSymbol method) =>
        method.GetAttributes().Select(DiagnosticIdOf).FirstOrDefault(id => id is not null && !SyntaxFacts.IsValidIdentifier(id));

    /// <summary>The id that an [Experimental] or [Obsolete(DiagnosticId = ...)] attribute reports at a use, or null.</summary>
    public static string? DiagnosticIdOf(AttributeData attribute) => attribute.AttributeClass?.ToDisplayString() switch
    {
        "System.Diagnostics.CodeAnalysis.ExperimentalAttribute" => attribute.ConstructorArguments.FirstOrDefault().Value as string,
        "System.ObsoleteAttribute" => attribute.NamedArguments.FirstOrDefault(n => n.Key == "DiagnosticId").Value.Value as string,
        _ => null,
    };

    public static bool HasSignature(IMethodSymbol method, ModKind kind)
    {
        SpecialType[] expected = kind == ModKind.Mask
            ? [SpecialType.System_Int32, SpecialType.System_Int32, SpecialType.System_Int32, SpecialType.System_Int32]
            : [SpecialType.System_Single, SpecialType.System_Int32, SpecialType.System_Int32, SpecialType.System_Int32, SpecialType.System_Int32];
        SpecialType result = kind == ModKind.Mask ? SpecialType.System_Boolean : SpecialType.System_Single;
        int captures = method.Parameters.Length - expected.Length;
        return method.ReturnType.SpecialType == result
            && !method.ReturnsByRef && !method.ReturnsByRefReadonly
            && !method.IsGenericMethod
            && (captures == 0 || (captures == 1 && CaptureElement(method.Parameters[expected.Length].Type) is not null))
            && method.Parameters.Take(expected.Length).Select((p, i) => p.Type.SpecialType == expected[i] && p.RefKind == RefKind.None).All(ok => ok);
    }

    /// <summary>
    /// The element type ("int" or "float") of a capture parameter — <c>ReadOnlySpan&lt;int&gt;</c> or
    /// <c>ReadOnlySpan&lt;float&gt;</c>: run-time data a mod reads, passed to the module's Forward — or null.
    /// </summary>
    public static string? CaptureElement(ITypeSymbol type) =>
        type is INamedTypeSymbol { Name: "ReadOnlySpan", TypeArguments.Length: 1 } span
        && span.ContainingNamespace?.ToDisplayString() == "System"
            ? span.TypeArguments[0].SpecialType switch
            {
                SpecialType.System_Int32 => "int",
                SpecialType.System_Single => "float",
                _ => null,
            }
            : null;

    /// <summary>The capture parameter of a mod, or null.</summary>
    public static IParameterSymbol? Capture(IMethodSymbol method) =>
        method.Parameters.LastOrDefault() is { } last && CaptureElement(last.Type) is not null ? last : null;

    private static void CheckBody(IMethodSymbol method, Compilation? compilation, List<ModIssue> issues, HashSet<IMethodSymbol> visited)
    {
        if (!visited.Add(method))
        {
            return;
        }

        foreach (SyntaxReference reference in method.DeclaringSyntaxReferences)
        {
            if (reference.GetSyntax() is not MethodDeclarationSyntax declaration)
            {
                continue;
            }

            SyntaxNode? body = (SyntaxNode?)declaration.Body ?? declaration.ExpressionBody;
            if (body is null || compilation is null || !compilation.ContainsSyntaxTree(declaration.SyntaxTree))
            {
                continue;
            }

            SemanticModel model = compilation.GetSemanticModel(declaration.SyntaxTree);
            IOperation? operation = model.GetOperation(body);
            if (operation is not null)
            {
                Walk(operation, compilation, issues, visited);
            }

            ReportCheckedArithmetic(body, model, issues);
        }
    }

    // An explicit checked context around arithmetic that can overflow: the CPU throws OverflowException there, and the GPU
    // has no overflow trap (its integers wrap), so the two would differ. (A project-wide CheckForOverflowUnderflow is not
    // reported: it would flag every sum; the GPU wraps there too, as docs/diagnostics/AG0019.md says.)
    private static void ReportCheckedArithmetic(SyntaxNode body, SemanticModel model, List<ModIssue> issues)
    {
        foreach (SyntaxNode node in body.DescendantNodesAndSelf())
        {
            SyntaxToken keyword = node switch
            {
                CheckedExpressionSyntax expression => expression.Keyword,
                CheckedStatementSyntax statement => statement.Keyword,
                _ => default,
            };
            if (keyword.IsKind(SyntaxKind.CheckedKeyword) && node.DescendantNodes().Any(n => model.GetOperation(n) is
                    IBinaryOperation { IsChecked: true } or IUnaryOperation { IsChecked: true } or IConversionOperation { IsChecked: true }))
            {
                issues.Add(new(DiagnosticDescriptors.ModNotTranslatable, keyword.GetLocation(),
                    ["checked", "it throws on overflow on the CPU, and the GPU has no overflow trap (its integers wrap); keep the values in range without it"]));
            }
        }
    }

    private static void Walk(IOperation operation, Compilation compilation, List<ModIssue> issues, HashSet<IMethodSymbol> visited, bool underUnbound = false)
    {
        // A constant of a GPU type is emitted as a literal, whatever produced it (nameof, const, arithmetic).
        if (operation.ConstantValue.HasValue && IsGpuType(operation.Type))
        {
            return;
        }

        // Code the compiler cannot parse or bind (half typed, or naming what does not exist) is its error alone: AG0019
        // would say that a type '?' has no GPU equivalent, or that 'int ' (a local not named yet) has no value, at an
        // empty span. What it holds is still checked, but for the parts the compiler could not bind either (the receiver of
        // Math.Nope(q) or Nope.F(q), which have no operation kind of their own).
        bool unbound = operation is IInvalidOperation || HasErrorType(operation.Type) || operation.Syntax.ContainsDiagnostics
            || (underUnbound && operation.Kind == OperationKind.None);
        string? problem = unbound ? null : Problem(operation, compilation, issues, visited);
        if (problem is not null)
        {
            issues.Add(new(DiagnosticDescriptors.ModNotTranslatable, operation.Syntax.GetLocation(), [operation.Syntax.ToString(), problem]));
            return;
        }

        foreach (IOperation child in operation.ChildOperations)
        {
            Walk(child, compilation, issues, visited, unbound);
        }
    }

    // A type the compiler could not bind whole: an error type, or a generic holding one (a parameter typed ReadOnlySpan<>,
    // CS7003's, reads as ReadOnlySpan<?>).
    private static bool HasErrorType(ITypeSymbol? type) =>
        type is { TypeKind: TypeKind.Error } || (type is INamedTypeSymbol { IsGenericType: true } named && named.TypeArguments.Any(HasErrorType));

    /// <summary>Why <paramref name="operation"/> cannot be translated, or null when it can.</summary>
    private static string? Problem(IOperation operation, Compilation compilation, List<ModIssue> issues, HashSet<IMethodSymbol> visited)
    {
        // A capture parameter (ReadOnlySpan<int|float>) may be read and indexed; it becomes a device pointer.
        if (operation is IParameterReferenceOperation { Parameter.Type: var captured } && CaptureElement(captured) is not null)
        {
            return null;
        }

        if (operation is IPropertyReferenceOperation { Property.IsIndexer: true, Instance: IParameterReferenceOperation { Parameter.Type: var spanType } } && CaptureElement(spanType) is not null)
        {
            return null;
        }

        if (operation.Type is { } type && !IsGpuType(type) && operation is not IFieldReferenceOperation && type.SpecialType != SpecialType.System_Void)
        {
            return $"type '{type.ToDisplayString()}' has no GPU equivalent (use int, float, double or bool)";
        }

        switch (operation)
        {
            case IBinaryOperation { OperatorKind: BinaryOperatorKind.Divide or BinaryOperatorKind.Remainder, RightOperand.ConstantValue.Value: 0 or 0L or 0U or 0UL }:
                return "an integer division by zero throws on the CPU and has no defined result on the GPU";
            case IVariableDeclaratorOperation declarator when declarator.GetVariableInitializer() is null:
                return "a local must get its value where it is declared (locals are assigned once)";
            case IBlockOperation or IReturnOperation or IExpressionStatementOperation or IArgumentOperation or ILiteralOperation or IParameterReferenceOperation
                or ILocalReferenceOperation or IBinaryOperation or IUnaryOperation or IConditionalOperation
                or IParenthesizedOperation or IVariableDeclarationGroupOperation or IVariableDeclarationOperation
                or IVariableDeclaratorOperation or IVariableInitializerOperation or IConversionOperation:
                return null;
            case ILoopOperation:
                return "loops cannot be translated; write the condition in closed form";
            case IObjectCreationOperation or IArrayCreationOperation or IAnonymousObjectCreationOperation or ITupleOperation
                or IDelegateCreationOperation or ICollectionExpressionOperation or IInterpolatedStringOperation:
                return "allocations cannot run on the GPU";
            case IAssignmentOperation or IIncrementOrDecrementOperation:
                return "mutable state: assign a local once, where it is declared";
            case IAnonymousFunctionOperation or ILocalFunctionOperation:
                return "lambdas and local functions cannot be translated";
            case IInstanceReferenceOperation:
                return "instance state cannot be captured; mods are static";
            case IFieldReferenceOperation field:
                return FieldProblem(field.Field, compilation);
            case IArrayElementReferenceOperation element:
                return element.ArrayReference is IFieldReferenceOperation { Field: { IsStatic: true, IsReadOnly: true } } ? null
                    : "only static readonly arrays can be indexed";
            case IInvocationOperation invocation:
                return InvocationProblem(invocation.TargetMethod, compilation, issues, visited);
            default:
                return $"'{operation.Kind}' is outside the translatable subset";
        }
    }

    private static string? FieldProblem(IFieldSymbol field, Compilation compilation)
    {
        if (field.IsConst)
        {
            return null;
        }

        if (!field.IsStatic || !field.IsReadOnly)
        {
            return $"mutable state: field '{field.Name}' must be const or static readonly";
        }

        ITypeSymbol element = field.Type is IArrayTypeSymbol array ? array.ElementType : field.Type;
        if (!IsGpuType(element) || field.Type is IArrayTypeSymbol { Rank: not 1 })
        {
            return $"field '{field.Name}' of type '{field.Type.ToDisplayString()}' has no GPU equivalent";
        }

        if (!HasConstantInitializer(field, compilation))
        {
            return $"field '{field.Name}' must be initialized where it is declared, in this project, with a constant (or a non-empty array of constants): the GPU code copies that value at compile time";
        }

        return IsWrittenAfterItsInitializer(field, compilation)
            ? $"field '{field.Name}' is assigned, or its elements are or may be (the array is passed on or aliased), outside its initializer, which the GPU code copies at compile time; set its value only where it is declared and only index it elsewhere"
            : null;
    }

    /// <summary>
    /// True when the containing type's code — a static constructor, or any method for an array's elements — assigns the
    /// field or an element of it (=, compound assignment, ++/--, ref or out), or hands an array on where its elements could
    /// be changed (an argument, the instance of a call, an alias: Array.Reverse(T), T.AsSpan().Fill(0)): the CPU would then
    /// see a value the <c>__constant__</c> copy of the initializer lacks. Only the type's own syntax is read, where a
    /// readonly field can be assigned and where the analyzer can afford to look.
    /// </summary>
    private static bool IsWrittenAfterItsInitializer(IFieldSymbol field, Compilation compilation)
    {
        foreach (SyntaxReference type in field.ContainingType.DeclaringSyntaxReferences)
        {
            SyntaxNode root = type.GetSyntax();
            if (!compilation.ContainsSyntaxTree(root.SyntaxTree))
            {
                continue;
            }

            SemanticModel model = compilation.GetSemanticModel(root.SyntaxTree);
            foreach (IdentifierNameSyntax name in root.DescendantNodes().OfType<IdentifierNameSyntax>().Where(n => n.Identifier.ValueText == field.Name))
            {
                if (model.GetOperation(name) is IFieldReferenceOperation reference
                    && SymbolEqualityComparer.Default.Equals(reference.Field, field)
                    && (reference.Parent is IArrayElementReferenceOperation element && element.ArrayReference == reference
                        ? IsWritten(element)
                        : IsWritten(reference) || (field.Type is IArrayTypeSymbol && IsHandedOn(reference))))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static bool IsWritten(IOperation target) => target.Parent switch
    {
        IAssignmentOperation assignment => assignment.Target == target,
        IIncrementOrDecrementOperation => true,
        IArgumentOperation argument => argument.Parameter?.RefKind is RefKind.Ref or RefKind.Out,
        ITupleOperation tuple => tuple.Parent is IDeconstructionAssignmentOperation deconstruction && deconstruction.Target == tuple,
        IConversionOperation conversion => IsWritten(conversion),
        _ => target.Parent is IVariableInitializerOperation && target.Syntax.Parent is RefExpressionSyntax,
    };

    // An array reference used other than to index it, read its length or loop over it: whoever receives it may change
    // its elements.
    private static bool IsHandedOn(IOperation array) => array.Parent switch
    {
        IConversionOperation conversion => IsHandedOn(conversion),
        IArgumentOperation or IInvocationOperation or IMethodReferenceOperation or IAssignmentOperation or IVariableInitializerOperation
            or IReturnOperation or IArrayInitializerOperation or ITupleOperation or IConditionalOperation or ICoalesceOperation => true,
        _ => false,
    };

    /// <summary>
    /// True when the field's declaration initializes it with a constant, or a one-dimensional array of one or more constants:
    /// what <see cref="CudaTranslator"/> can copy into a <c>__constant__</c> (a value computed at run time, in a static
    /// constructor, or in a referenced assembly cannot be).
    /// </summary>
    private static bool HasConstantInitializer(IFieldSymbol field, Compilation compilation)
    {
        if (field.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax() is not VariableDeclaratorSyntax { Initializer.Value: { } initializer }
            || !compilation.ContainsSyntaxTree(initializer.SyntaxTree)
            || compilation.GetSemanticModel(initializer.SyntaxTree).GetOperation(initializer) is not { } value)
        {
            return false;
        }

        if (field.Type is not IArrayTypeSymbol)
        {
            return value.ConstantValue.HasValue;
        }

        while (value is IConversionOperation conversion)
        {
            value = conversion.Operand;
        }

        IArrayInitializerOperation? elements = value switch
        {
            IArrayCreationOperation { Initializer: { } i } => i,
            IArrayInitializerOperation i => i,
            _ => null,
        };
        return elements is { ElementValues.Length: > 0 } && elements.ElementValues.All(e => e.ConstantValue.HasValue);
    }

    private static string? InvocationProblem(IMethodSymbol target, Compilation compilation, List<ModIssue> issues, HashSet<IMethodSymbol> visited)
    {
        // The library's helpers are translated from the generator's copy of their source (tests translate each one).
        if (CudaKnownMethods.Lookup(target) is not null || ModLibrary.Contains(target))
        {
            return null;
        }

        bool inSource = target.DeclaringSyntaxReferences.Length > 0;
        if (!target.IsStatic || !inSource)
        {
            return $"'{target.ToDisplayString()}' has no CUDA equivalent";
        }

        // Another static method of the user's: translatable when its own body is (a partial one's is in its implementation
        // part); its problems are reported at their own nodes. One without a body leaves the translator nothing to copy.
        if (HasNoBody(target))
        {
            return $"'{target.ToDisplayString()}' has no body to translate (extern, abstract or a partial method without an implementation)";
        }

        CheckBody(target.PartialImplementationPart ?? target, compilation, issues, visited);
        return null;
    }

    // No body for the translator to copy or the CPU module to call: extern, abstract, or a partial definition without an
    // implementation part.
    private static bool HasNoBody(IMethodSymbol method) =>
        method.IsExtern || method.IsAbstract || (method.IsPartialDefinition && method.PartialImplementationPart is null);

    private static bool IsGpuType(ITypeSymbol? type) => type?.SpecialType is SpecialType.System_Boolean or SpecialType.System_Int32
        or SpecialType.System_UInt32 or SpecialType.System_Int64 or SpecialType.System_Single or SpecialType.System_Double;
}
