using System;
using Xunit;

namespace AttentionGen.Tests.Tensors;

/// <summary>
/// Devices made through the record's public constructor. Before, it took anything: cpu:3 (unequal to every tensor's
/// cpu, so a cache made there reported cpu and a layer moved there refused it), kind 9 (printed and treated as
/// "cuda:0"), cuda:-1 (past Device.Cuda's own check).
/// </summary>
public class DeviceHostileInputTests
{
    [Theory]
    [InlineData(DeviceKind.Cpu, 3, "Index", "must be 0")]
    [InlineData(DeviceKind.Cpu, -1, "Index", "must be 0")]
    [InlineData(DeviceKind.Cuda, -1, "Index", ">= 0")]
    [InlineData((DeviceKind)9, 0, "Kind", "Cpu or Cuda; got 9")]
    public void ConstructorRefusesWhatNamesNoDevice(DeviceKind kind, int index, string param, string expected)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new Device(kind, index));
        Assert.Equal(param, e.ParamName);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void WithRefusesAnIndexTheDeviceCannotHave()
    {
        Assert.Equal("Index", Assert.Throws<ArgumentOutOfRangeException>(() => Device.Cpu with { Index = 2 }).ParamName);
        Assert.Equal("Kind", Assert.Throws<ArgumentOutOfRangeException>(() => Device.Cpu with { Kind = (DeviceKind)(-1) }).ParamName);
        Assert.Equal(Device.Cuda(3), Device.Cuda(0) with { Index = 3 });
        Assert.Equal(Device.Cpu, default(Device));
    }
}
