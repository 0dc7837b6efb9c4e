using System;
using System.Collections.Generic;
using System.Globalization;

namespace AttentionGen.Distributed;

/// <summary>One value every rank must pass alike, with the name (and the way of showing it) a mismatch is reported by.</summary>
internal readonly record struct AgreedSetting(string Name, int Value, AgreedSetting.Kind As)
{
    /// <summary>How <see cref="Value"/> reads back.</summary>
    public enum Kind
    {
        Number,
        Flag,
        FloatBits,
    }

    public static AgreedSetting Of(string name, int value) => new(name, value, Kind.Number);

    public static AgreedSetting Flag(string name, bool value) => new(name, value ? 1 : 0, Kind.Flag);

    /// <summary>An optional scale: whether it is given, and its bits (so that -0 and NaN payloads compare as passed).</summary>
    public static IEnumerable<AgreedSetting> Scale(float? scale) =>
        [Flag("scale is given", scale.HasValue), new("scale", BitConverter.SingleToInt32Bits(scale ?? 0f), Kind.FloatBits)];

    /// <summary>An array's length, then its elements, each named by its index.</summary>
    public static IEnumerable<AgreedSetting> Array(string name, int[]? values)
    {
        yield return Of($"{name}.Length", values?.Length ?? 0);
        for (int i = 0; i < (values?.Length ?? 0); i++)
        {
            yield return Of($"{name}[{i}]", values![i]);
        }
    }

    /// <summary><paramref name="value"/> (this setting's, or another rank's) as the caller passed it.</summary>
    public string Show(int value) => As switch
    {
        Kind.Flag => value != 0 ? "true" : "false",
        Kind.FloatBits => BitConverter.Int32BitsToSingle(value).ToString("R", CultureInfo.InvariantCulture),
        _ => value.ToString(CultureInfo.InvariantCulture),
    };
}
