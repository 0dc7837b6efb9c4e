using System;
using System.Collections.Generic;
using System.Globalization;

namespace AttentionGen.Distributed;

/// <summary>
/// One value every rank must pass alike, with the parameter a mismatch names (the exception's ParamName) and the way of
/// showing it. An array's entries keep the array's name and their index: the label is formatted only for a message, not
/// on every call.
/// </summary>
internal readonly record struct AgreedSetting(string Name, int Value, AgreedSetting.Kind As, int Element = AgreedSetting.Whole)
{
    /// <summary><see cref="Element"/> of a setting that is not an array's entry, and of an array's length.</summary>
    public const int Whole = -1, Length = -2;

    /// <summary>How <see cref="Value"/> reads back.</summary>
    public enum Kind
    {
        Number,
        Flag,
        FloatBits,

        /// <summary>Whether an optional argument is given (its label says so).</summary>
        Given,
    }

    public static AgreedSetting Of(string name, int value) => new(name, value, Kind.Number);

    public static AgreedSetting Flag(string name, bool value) => new(name, value ? 1 : 0, Kind.Flag);

    /// <summary>Whether the optional argument <paramref name="name"/> is given (not null).</summary>
    public static AgreedSetting Given(string name, bool given) => new(name, given ? 1 : 0, Kind.Given);

    /// <summary>An optional scale: whether it is given, and its bits (so that -0 and NaN payloads compare as passed).</summary>
    public static IEnumerable<AgreedSetting> Scale(float? scale) =>
        [Given("scale", scale.HasValue), new("scale", BitConverter.SingleToInt32Bits(scale ?? 0f), Kind.FloatBits)];

    /// <summary>An array's length, then its elements, each named by its index.</summary>
    public static IEnumerable<AgreedSetting> Array(string name, int[]? values)
    {
        yield return new(name, values?.Length ?? 0, Kind.Number, Length);
        for (int i = 0; i < (values?.Length ?? 0); i++)
        {
            yield return new(name, values![i], Kind.Number, i);
        }
    }

    /// <summary>The name a message gives: <c>causal</c>, <c>segmentSizes.Length</c>, <c>segmentSizes[1]</c>.</summary>
    public string Label => Element switch
    {
        Whole when As == Kind.Given => Name + " is given",
        Whole => Name,
        Length => Name + ".Length",
        _ => $"{Name}[{Element}]",
    };

    /// <summary><paramref name="value"/> (this setting's, or another rank's) as the caller passed it.</summary>
    public string Show(int value) => As switch
    {
        Kind.Flag or Kind.Given => value != 0 ? "true" : "false",
        Kind.FloatBits => BitConverter.Int32BitsToSingle(value).ToString("R", CultureInfo.InvariantCulture),
        _ => value.ToString(CultureInfo.InvariantCulture),
    };
}
