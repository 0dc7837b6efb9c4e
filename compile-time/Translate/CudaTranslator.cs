using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using AttentionGen.CompileTime.Kernels;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;

namespace AttentionGen.CompileTime.Translate;

/// <summary>
/// Translates <c>[MaskMod]</c>/<c>[ScoreMod]</c> methods — already checked by <see cref="ModMethodRules"/> — to CUDA C:
/// one <c>__device__ __forceinline__</c> function per C# method (the mod and every static method it calls), a
/// <c>__constant__</c> definition per static readonly field it reads, constants folded to literals. Works on the
/// operation tree, so C#'s meaning (conversions, constant folding, overloads) is what gets translated.
/// Returns null when something falls outside the subset (the analyzers report it).
/// </summary>
internal sealed class CudaTranslator
{
    // ag_i2f converts an int to float with an integer add and a float subtract, on the FP32 pipe (I2F issues at a
    // quarter rate, as exp2 does, and a score mod converting (kv - q) per score doubled that pipe's load); it is exact
    // for |x| < 2^22, which the translator proves from the index bounds before using it.
    private const long FastConversionLimit = 1L << 22;
    private const string FastConversion =
        "__device__ __forceinline__ float ag_i2f(int x) {\n" +
        "#ifdef AG_EXACT_I2F\n    return (float)x;\n#else\n    return __int_as_float(0x4B400000 + x) - 12582912.0f;\n#endif\n}\n";

    private readonly Compilation _compilation;
    private readonly HashSet<IParameterSymbol> _indices = new(SymbolEqualityComparer.Default);
    private readonly HashSet<IMethodSymbol> _called = new(SymbolEqualityComparer.Default);
    private readonly Dictionary<ILocalSymbol, (long Low, long High)> _localRanges = new(SymbolEqualityComparer.Default);
    private bool _usesFastConversion;
    private readonly StringBuilder _fields = new();
    private readonly StringBuilder _prototypes = new();
    private readonly StringBuilder _functions = new();
    private readonly HashSet<ISymbol> _emitted = new(SymbolEqualityComparer.Default);
    private readonly HashSet<IFieldSymbol> _fieldsAsBits = new(SymbolEqualityComparer.Default);
    private readonly Dictionary<ISymbol, string> _names = new(SymbolEqualityComparer.Default);
    private readonly HashSet<string> _usedNames = new(StringComparer.Ordinal);
    private readonly SortedSet<string> _helpers = new(StringComparer.Ordinal);

    private CudaTranslator(Compilation compilation) => _compilation = compilation;

    /// <summary>
    /// CUDA C defining <c>ag_mask_mod(b, h, q, kv)</c> and/or <c>ag_score_mod(score, b, h, q, kv)</c> with
    /// <c>AG_HAS_MASK_MOD</c>/<c>AG_HAS_SCORE_MOD</c>, or null when a body cannot be translated.
    /// </summary>
    public static string? Translate(IMethodSymbol? mask, IMethodSymbol? score, Compilation compilation)
    {
        try
        {
            // An entry mod's int parameters are the kernel's indices, below GpuIndices.Limit, unless a mod calls it with
            // values of its own (F(0f, b, h, q * 1000, kv)): then its body is translated again without that bound.
            IMethodSymbol[] entries = new[] { mask, score }.Where(m => m is not null).Select(m => m!).ToArray();
            CudaTranslator first = Translated(mask, score, compilation, entries, out string text);
            IMethodSymbol[] bounded = entries.Where(m => !first._called.Contains(Body(m, compilation))).ToArray();
            if (bounded.Length != entries.Length)
            {
                Translated(mask, score, compilation, bounded, out text);
            }

            return text;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Outside the subset (the analyzers say where), or source too broken to bind: no GPU header, no crash.
            return null;
        }
    }

    // The translation, with the int parameters of the bounded methods taken as kernel indices.
    private static CudaTranslator Translated(IMethodSymbol? mask, IMethodSymbol? score, Compilation compilation, IMethodSymbol[] bounded, out string text)
    {
        var t = new CudaTranslator(compilation);
        foreach (IParameterSymbol index in bounded.SelectMany(m => Body(m, compilation).Parameters).Where(p => p.Type.SpecialType == SpecialType.System_Int32))
        {
            t._indices.Add(index);
        }

        var entry = new StringBuilder();
        // A mod with a capture reads it through the kernel's table pointer: the entry is then a macro of p.
        if (mask is not null)
        {
            entry.Append(ModMethodRules.Capture(mask) is { } c
                ? KernelDefines.MaskTableMod($"{t.FunctionName(mask)}(b, h, q, kv, (const {ModMethodRules.CaptureElement(c.Type)}*)(p).table)")
                : KernelDefines.MaskMod($"{t.FunctionName(mask)}(b, h, q, kv)"));
        }

        if (score is not null)
        {
            entry.Append(ModMethodRules.Capture(score) is { } c
                ? KernelDefines.ScoreTableMod($"{t.FunctionName(score)}(s, b, h, q, kv, (const {ModMethodRules.CaptureElement(c.Type)}*)(p).table)")
                : KernelDefines.ScoreMod($"{t.FunctionName(score)}(s, b, h, q, kv)"));
        }

        // Prototypes first: mods may call each other in any order, recursion included.
        string helpers = string.Concat(t._helpers.Select(h => CudaKnownMethods.Helpers[h]));
        text = (t._usesFastConversion ? FastConversion : string.Empty) + helpers + t._fields + t._prototypes + t._functions + entry;
        return t;
    }

    // The method whose body is translated: a partial method's implementation, a library helper's copy of its source.
    private static IMethodSymbol Body(IMethodSymbol method, Compilation compilation) =>
        ModLibrary.WithSource(method.PartialImplementationPart ?? method, compilation);

    // Emits the method once (callees first, so C sees them declared) and returns its CUDA name.
    private string FunctionName(IMethodSymbol method)
    {
        method = Body(method, _compilation);
        string name = CudaName(method);
        if (!_emitted.Add(method))
        {
            return name;
        }

        if (method.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax() is not MethodDeclarationSyntax declaration)
        {
            throw new NotSupportedException();
        }

        SemanticModel model = ModLibrary.ModelFor(declaration.SyntaxTree, _compilation);
        string parameters = string.Join(", ", method.Parameters.Select(p => $"{TypeName(p.Type)} {Local(p.Name)}"));
        _prototypes.Append($"__device__ {TypeName(method.ReturnType)} {name}({parameters});\n");
        string body = declaration.ExpressionBody is { } arrow
            ? $"{{ return {Expression(model.GetOperation(arrow.Expression) ?? throw new NotSupportedException())}; }}"
            : Statement(model.GetOperation(declaration.Body ?? throw new NotSupportedException()) ?? throw new NotSupportedException());
        _functions.Append($"__device__ __forceinline__ {TypeName(method.ReturnType)} {name}({parameters}) {body}\n");
        return name;
    }

    private string Statement(IOperation op) => op switch
    {
        IBlockOperation block => "{ " + string.Concat(block.Operations.Select(s => Statement(s) + " ")) + "}",
        IReturnOperation { ReturnedValue: { } value } => $"return {Expression(value)};",
        IReturnOperation => "return;",
        IVariableDeclarationGroupOperation group => string.Concat(group.Declarations.SelectMany(d => d.Declarators).Select(Declarator)),
        IConditionalOperation { WhenFalse: var otherwise } branch when branch.Type is null || branch.Type.SpecialType == SpecialType.System_Void =>
            $"if ({Expression(branch.Condition)}) {Statement(branch.WhenTrue)}" + (otherwise is null ? string.Empty : $" else {Statement(otherwise)}"),
        IExpressionStatementOperation statement => Expression(statement.Operation) + ";",
        _ => throw new NotSupportedException(),
    };

    private string Declarator(IVariableDeclaratorOperation d)
    {
        IOperation value = d.Initializer?.Value ?? d.GetVariableInitializer()?.Value ?? throw new NotSupportedException();
        if (Range(value) is { } range)
        {
            _localRanges[d.Symbol] = range;
        }

        return $"const {TypeName(d.Symbol.Type)} {Local(d.Symbol.Name)} = {Expression(value)}; ";
    }

    private string Expression(IOperation op)
    {
        if (op.ConstantValue.HasValue && op.Type is not null)
        {
            return Literal(op.ConstantValue.Value, op.Type);
        }

        switch (op)
        {
            case IParameterReferenceOperation p:
                return Local(p.Parameter.Name);
            case ILocalReferenceOperation l:
                return Local(l.Local.Name);
            case IParenthesizedOperation p:
                return $"({Expression(p.Operand)})";
            case IConversionOperation { Type.SpecialType: SpecialType.System_Single, Operand.Type.SpecialType: SpecialType.System_Int32 } c
                when Range(c.Operand) is { } r && r.Low > -FastConversionLimit && r.High < FastConversionLimit:
                _usesFastConversion = true;
                return $"ag_i2f({Expression(c.Operand)})";
            // C's usual conversions match C#'s implicit ones (int to float, to double, to long long beside a long)
            // except for uint beside int: C# widens both to long, C makes the int unsigned. Widening to long is written.
            case IConversionOperation c when c.IsImplicit && c.Type?.SpecialType != SpecialType.System_Int64:
                return Expression(c.Operand);
            case IConversionOperation c:
                return $"(({TypeName(c.Type!)})({Expression(c.Operand)}))";
            case IUnaryOperation u:
                return $"({UnaryOperator(u.OperatorKind)}{Expression(u.Operand)})";
            case IBinaryOperation b when b.OperatorKind == BinaryOperatorKind.Remainder && b.Type?.SpecialType is SpecialType.System_Single or SpecialType.System_Double:
                return $"{(b.Type.SpecialType == SpecialType.System_Single ? "fmodf" : "fmod")}({Expression(b.LeftOperand)}, {Expression(b.RightOperand)})";
            case IBinaryOperation { OperatorKind: BinaryOperatorKind.LeftShift or BinaryOperatorKind.RightShift or BinaryOperatorKind.UnsignedRightShift } b:
                return Shift(b);
            case IBinaryOperation b:
                return $"({Expression(b.LeftOperand)} {BinaryOperator(b.OperatorKind)} {Expression(b.RightOperand)})";
            case IConditionalOperation c when c.WhenFalse is not null:
                return $"({Expression(c.Condition)} ? {Expression(c.WhenTrue)} : {Expression(c.WhenFalse)})";
            case IInvocationOperation call:
                string? known = CudaKnownMethods.Lookup(call.TargetMethod);
                string callee = known ?? FunctionName(call.TargetMethod);
                _called.Add(Body(call.TargetMethod, _compilation));
                if (CudaKnownMethods.Helpers.ContainsKey(callee))
                {
                    _helpers.Add(callee);
                }

                // Arguments come in the order written; C passes them by position: named arguments go to their parameters.
                return $"{callee}({string.Join(", ", call.Arguments.OrderBy(a => a.Parameter?.Ordinal ?? throw new NotSupportedException()).Select(a => known is null ? Expression(a.Value) : MathArgument(a.Value)))})";
            case IFieldReferenceOperation f:
                return FieldRead(f.Field, null);
            case IPropertyReferenceOperation { Property.IsIndexer: true, Instance: IParameterReferenceOperation span } index when index.Arguments.Length == 1:
                return $"{Local(span.Parameter.Name)}[{Expression(index.Arguments[0].Value)}]";
            case IArrayElementReferenceOperation e when e.ArrayReference is IFieldReferenceOperation array && e.Indices.Length == 1:
                return FieldRead(array.Field, Expression(e.Indices[0]));
            default:
                throw new NotSupportedException();
        }
    }

    // CUDA's math functions are overloaded for float and double (sqrt(int) is ambiguous): the conversion C# makes
    // implicitly to the .NET method's parameter type is written.
    private string MathArgument(IOperation value) =>
        value is IConversionOperation { IsImplicit: true, Type: { } type } && !value.ConstantValue.HasValue
            ? $"(({TypeName(type)})({Expression(value)}))"
            : Expression(value);

    // C# masks a shift count to the operand's width (x << 33 is x << 1 on an int); C leaves a count of the width or
    // more undefined, and PTX clamps it: the mask is written out. C has no >>>; it shifts the unsigned type.
    private string Shift(IBinaryOperation shift)
    {
        SpecialType operand = shift.LeftOperand.Type?.SpecialType ?? SpecialType.None;
        int mask = operand == SpecialType.System_Int64 ? 63 : 31;
        string count = shift.RightOperand.ConstantValue is { HasValue: true, Value: int constant }
            ? (constant & mask).ToString(CultureInfo.InvariantCulture)
            : $"({Expression(shift.RightOperand)} & {mask})";
        string left = Expression(shift.LeftOperand);
        if (shift.OperatorKind != BinaryOperatorKind.UnsignedRightShift || operand == SpecialType.System_UInt32)
        {
            return $"({left} {(shift.OperatorKind == BinaryOperatorKind.LeftShift ? "<<" : ">>")} {count})";
        }

        (string signed, string unsigned) = operand == SpecialType.System_Int64 ? ("long long", "unsigned long long") : ("int", "unsigned int");
        return $"(({signed})(({unsigned})({left}) >> {count}))";
    }

    // The values an int expression can take, where they follow from the index parameters' bounds and constants; null
    // where they do not (a helper's parameter, a table read, arithmetic that may leave int32 and wrap).
    private (long Low, long High)? Range(IOperation op)
    {
        if (op.ConstantValue is { HasValue: true, Value: int constant })
        {
            return (constant, constant);
        }

        return op switch
        {
            IParameterReferenceOperation p when _indices.Contains(p.Parameter) => (0, GpuIndices.Limit - 1),
            ILocalReferenceOperation l when _localRanges.TryGetValue(l.Local, out var local) => local,
            IParenthesizedOperation p => Range(p.Operand),
            IConversionOperation { Type.SpecialType: SpecialType.System_Int32, Operand.Type.SpecialType: SpecialType.System_Int32 } c => Range(c.Operand),
            IUnaryOperation { OperatorKind: UnaryOperatorKind.Minus } u => Range(u.Operand) is { } r ? (-r.High, -r.Low) : null,
            IUnaryOperation { OperatorKind: UnaryOperatorKind.Plus } u => Range(u.Operand),
            IBinaryOperation { Type.SpecialType: SpecialType.System_Int32 } b => Combine(b.OperatorKind, Range(b.LeftOperand), Range(b.RightOperand)),
            IConditionalOperation { WhenFalse: { } otherwise } c when Range(c.WhenTrue) is { } a && Range(otherwise) is { } z => (Math.Min(a.Low, z.Low), Math.Max(a.High, z.High)),
            _ => null,
        };
    }

    private static (long Low, long High)? Combine(BinaryOperatorKind kind, (long Low, long High)? left, (long Low, long High)? right)
    {
        if (left is not { } a || right is not { } b)
        {
            return null;
        }

        (long Low, long High)? range = kind switch
        {
            BinaryOperatorKind.Add => (a.Low + b.Low, a.High + b.High),
            BinaryOperatorKind.Subtract => (a.Low - b.High, a.High - b.Low),
            BinaryOperatorKind.Multiply => Corners(a.Low * b.Low, a.Low * b.High, a.High * b.Low, a.High * b.High),
            BinaryOperatorKind.Divide when b.Low > 0 => Corners(a.Low / b.Low, a.Low / b.High, a.High / b.Low, a.High / b.High),
            BinaryOperatorKind.Remainder when b.Low > 0 => (a.Low >= 0 ? 0 : -(b.High - 1), a.High <= 0 ? 0 : b.High - 1),
            _ => null,
        };
        // int32 arithmetic wraps: a range leaving it says nothing.
        return range is { } r && r.Low >= int.MinValue && r.High <= int.MaxValue ? r : null;
    }

    private static (long Low, long High) Corners(params long[] values) => (values.Min(), values.Max());

    // A static readonly field becomes a __constant__ definition initialised from its C# initializer.
    private string Field(IFieldSymbol field)
    {
        string name = CudaName(field);
        if (!_emitted.Add(field))
        {
            return name;
        }

        if (field.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax() is not VariableDeclaratorSyntax { Initializer: { } init } declarator
            || ModLibrary.ModelFor(declarator.SyntaxTree, _compilation).GetOperation(init) is not IFieldInitializerOperation { Value: var value })
        {
            throw new NotSupportedException();
        }

        if (field.Type is IArrayTypeSymbol array)
        {
            while (value is IConversionOperation conversion)
            {
                value = conversion.Operand;
            }

            IArrayInitializerOperation elements = value switch
            {
                IArrayCreationOperation { Initializer: { } i } => i,
                IArrayInitializerOperation i => i,
                _ => throw new NotSupportedException(),
            };
            if (elements.ElementValues.Any(e => IsNonFinite(e.ConstantValue.Value)))
            {
                _fieldsAsBits.Add(field);
                string bits = string.Join(", ", elements.ElementValues.Select(e => Bits(e.ConstantValue.Value, array.ElementType)));
                _fields.Append($"__constant__ {BitsType(array.ElementType)} {name}[{elements.ElementValues.Length}] = {{ {bits} }};\n");
                return name;
            }

            string items = string.Join(", ", elements.ElementValues.Select(Expression));
            _fields.Append($"__constant__ {TypeName(array.ElementType)} {name}[{elements.ElementValues.Length}] = {{ {items} }};\n");
        }
        else
        {
            // The value C# stores: the initializer folded and converted to the field's type ((int)7.9 in a float is 7).
            object? constant = value.ConstantValue.Value;
            if (IsNonFinite(constant))
            {
                _fieldsAsBits.Add(field);
                _fields.Append($"__constant__ {BitsType(field.Type)} {name} = {Bits(constant, field.Type)};\n");
                return name;
            }

            _fields.Append($"__constant__ {TypeName(field.Type)} {name} = {Literal(constant, field.Type)};\n");
        }

        return name;
    }

    // A field's value where the code reads it (an element of it, for an array): a field stored as bits is converted back.
    private string FieldRead(IFieldSymbol field, string? index)
    {
        string name = Field(field);
        string read = index is null ? name : $"{name}[{index}]";
        if (!_fieldsAsBits.Contains(field))
        {
            return read;
        }

        ITypeSymbol type = field.Type is IArrayTypeSymbol array ? array.ElementType : field.Type;
        return type.SpecialType == SpecialType.System_Single ? $"__int_as_float({read})" : $"__longlong_as_double({read})";
    }

    // NVRTC takes only constant initializers for a __constant__, and a NaN or an infinity is written as a call
    // (__int_as_float, "dynamic initialization is not supported"): a float or double field holding one is stored as
    // its bits (int, long long), which FieldRead converts back.
    private static bool IsNonFinite(object? value) => value switch
    {
        float f => float.IsNaN(f) || float.IsInfinity(f),
        double d => double.IsNaN(d) || double.IsInfinity(d),
        _ => false,
    };

    private static string BitsType(ITypeSymbol type) => type.SpecialType switch
    {
        SpecialType.System_Single => "int",
        SpecialType.System_Double => "long long",
        _ => throw new NotSupportedException(),
    };

    private static string Bits(object? value, ITypeSymbol type) => type.SpecialType switch
    {
        SpecialType.System_Single => IntLiteral(BitConverter.ToInt32(BitConverter.GetBytes(Convert.ToSingle(value, CultureInfo.InvariantCulture)), 0)),
        SpecialType.System_Double => KernelDefines.CudaLong(BitConverter.DoubleToInt64Bits(Convert.ToDouble(value, CultureInfo.InvariantCulture))),
        _ => throw new NotSupportedException(),
    };

    // The minimum is an expression: its magnitude is not a valid int literal.
    private static string IntLiteral(int value) => value == int.MinValue ? "(-2147483647 - 1)" : value.ToString(CultureInfo.InvariantCulture);

    private static string Literal(object? value, ITypeSymbol type) => (type.SpecialType, value) switch
    {
        (SpecialType.System_Boolean, bool v) => v ? "true" : "false",
        (SpecialType.System_Single, float v) => KernelDefines.FloatLiteral(v, "f"),
        (SpecialType.System_Double, double v) => KernelDefines.FloatLiteral(v, string.Empty),
        (SpecialType.System_Int64, long v) => KernelDefines.CudaLong(v),
        (SpecialType.System_UInt32, uint v) => v.ToString(CultureInfo.InvariantCulture) + "u",
        (SpecialType.System_Int32, int v) => IntLiteral(v),
        _ => throw new NotSupportedException(),
    };

    private static string TypeName(ITypeSymbol type) => ModMethodRules.CaptureElement(type) is { } element ? $"const {element}*" : type.SpecialType switch
    {
        SpecialType.System_Boolean => "bool",
        SpecialType.System_Int32 => "int",
        SpecialType.System_UInt32 => "unsigned int",
        SpecialType.System_Int64 => "long long",
        SpecialType.System_Single => "float",
        SpecialType.System_Double => "double",
        SpecialType.System_Void => "void",
        _ => throw new NotSupportedException(),
    };

    private static string UnaryOperator(UnaryOperatorKind kind) => kind switch
    {
        UnaryOperatorKind.Minus => "-",
        UnaryOperatorKind.Plus => "+",
        UnaryOperatorKind.Not => "!",
        UnaryOperatorKind.BitwiseNegation => "~",
        _ => throw new NotSupportedException(),
    };

    private static string BinaryOperator(BinaryOperatorKind kind) => kind switch
    {
        BinaryOperatorKind.Add => "+",
        BinaryOperatorKind.Subtract => "-",
        BinaryOperatorKind.Multiply => "*",
        BinaryOperatorKind.Divide => "/",
        BinaryOperatorKind.Remainder => "%",
        BinaryOperatorKind.And => "&",
        BinaryOperatorKind.Or => "|",
        BinaryOperatorKind.ExclusiveOr => "^",
        BinaryOperatorKind.ConditionalAnd => "&&",
        BinaryOperatorKind.ConditionalOr => "||",
        BinaryOperatorKind.Equals => "==",
        BinaryOperatorKind.NotEquals => "!=",
        BinaryOperatorKind.LessThan => "<",
        BinaryOperatorKind.LessThanOrEqual => "<=",
        BinaryOperatorKind.GreaterThan => ">",
        BinaryOperatorKind.GreaterThanOrEqual => ">=",
        _ => throw new NotSupportedException(),
    };

    // C# names are valid C identifiers; the prefix keeps them clear of C++ keywords and the kernel's own names.
    // C# names may hold any Unicode letter; NVRTC reads ASCII identifiers only ("unrecognized token" for v_ä). A name
    // with another character gets the prefix vu_, which no v_ name has, and an escape that cannot collide: "__" for '_',
    // "_" and four hex digits for each other character.
    private static string Local(string name) =>
        name.All(IsAsciiIdentifierChar) ? "v_" + name : "vu_" + string.Concat(name.Select(c => c == '_' ? "__" : IsAsciiIdentifierChar(c) ? c.ToString() : "_" + ((int)c).ToString("x4", CultureInfo.InvariantCulture)));

    private static bool IsAsciiIdentifierChar(char c) => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '_';

    // One C name per C# symbol. Mangling maps both A.B_C and A_B.C to A_B_C (Ä.M to __M: NVRTC reads ASCII only, and
    // every overload of a method to one name): a name already taken by another symbol gets a numbered suffix, so no two definitions share a name. The
    // agu_ prefix is the user's: the kernels' own names (ag_mask_mod, ag_kv_append_slot, ...) all begin with ag_.
    private string CudaName(ISymbol symbol)
    {
        if (_names.TryGetValue(symbol, out string? known))
        {
            return known;
        }

        string name = UserPrefix + Mangle(symbol);
        for (int n = 2; !_usedNames.Add(name); n++)
        {
            name = $"{UserPrefix}{Mangle(symbol)}_{n}";
        }

        _names[symbol] = name;
        return name;
    }

    private const string UserPrefix = "agu_";

    private static string Mangle(ISymbol symbol) =>
        new string((symbol.ContainingType.ToDisplayString() + "_" + symbol.Name).Select(c => IsAsciiIdentifierChar(c) ? c : '_').ToArray());
}
