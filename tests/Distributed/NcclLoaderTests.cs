using System;
using System.Runtime.InteropServices;
using AttentionGen.Cuda;
using AttentionGen.Distributed;
using AttentionGen.Tests.Cuda;
using Xunit;

namespace AttentionGen.Tests.Distributed;

/// <summary>What NCCL's loader and the communicator's arguments do on any machine, with or without GPU and NCCL.</summary>
[Collection(NcclCollection.Name)]
public sealed class NcclLoaderTests
{
    private const string LibraryVariable = "ATTENTIONGEN_LIBNCCL";
    private const string MulticastVariable = "NCCL_NVLS_ENABLE";
    private const string MissingLibrary = "/nonexistent/attentiongen-test/libnccl.so.2";

    [Fact]
    public void MissingNcclThrowsNamingTheVariableAndLeavesNvlinkMulticastOffForNativeCode()
    {
        string? previousLibrary = Environment.GetEnvironmentVariable(LibraryVariable);
        try
        {
            Environment.SetEnvironmentVariable(LibraryVariable, MissingLibrary);
            NativeEnvironment.Set(MulticastVariable, "1");   // what the loader must override; it runs next, at once
            var error = Assert.Throws<CudaUnavailableException>(() => Nccl.Load());
            Assert.Equal($"CUDA is not available: NCCL was not found (tried {MissingLibrary}); set {LibraryVariable} to its path.", error.Message);
            Assert.Equal("0", NativeGetEnv(MulticastVariable));
            Assert.Equal("0", Environment.GetEnvironmentVariable(MulticastVariable));
        }
        finally
        {
            Environment.SetEnvironmentVariable(LibraryVariable, previousLibrary);

            // Not put back if it was unset: multicast must stay off in this process whatever a failed assertion left.
            NativeEnvironment.Set(MulticastVariable, "0");
        }
    }

    // The public path on a machine without NCCL: the same clear exception, not a crash. On a GPU machine NCCL may
    // already be loaded by the GPU tests, so this runs where there is no GPU (nothing else in the process loads NCCL).
    [NoGpuFact]
    public void CreateUniqueIdWithoutNcclThrowsCudaUnavailable()
    {
        string? previousLibrary = Environment.GetEnvironmentVariable(LibraryVariable);
        try
        {
            Environment.SetEnvironmentVariable(LibraryVariable, MissingLibrary);
            var error = Assert.Throws<CudaUnavailableException>(NcclCommunicator.CreateUniqueId);
            Assert.Contains(LibraryVariable, error.Message, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable(LibraryVariable, previousLibrary);
        }
    }

    [NoGpuFact]
    public void CreateOnAMachineWithoutGpuThrowsCudaUnavailable()
    {
        NcclUniqueId id = NcclUniqueId.FromBytes(new byte[NcclUniqueId.Length]);
        Assert.Throws<CudaUnavailableException>(() => NcclCommunicator.Create(id, size: 1, rank: 0, deviceIndex: 0));
        Assert.Throws<CudaUnavailableException>(() => NcclCommunicator.CreateGroup(0));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(127)]
    [InlineData(129)]
    public void UniqueIdFromBytesRefusesAnyLengthBut128(int length)
    {
        var error = Assert.Throws<ArgumentException>(() => NcclUniqueId.FromBytes(new byte[length]));
        Assert.Equal("bytes", error.ParamName);
        Assert.Contains("exactly 128 bytes", error.Message, StringComparison.Ordinal);
        Assert.Contains($"got {length}.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UniqueIdBytesRoundTripAndToArrayIsACopy()
    {
        byte[] bytes = new byte[NcclUniqueId.Length];
        new Random(3).NextBytes(bytes);
        byte[] original = (byte[])bytes.Clone();
        NcclUniqueId id = NcclUniqueId.FromBytes(bytes);
        bytes[0] ^= 0xFF;
        id.ToArray()[1] ^= 0xFF;
        Assert.Equal(original, id.ToArray());
    }

    [Fact]
    public void CreateChecksSizeAndRankBeforeTouchingTheGpu()
    {
        NcclUniqueId id = NcclUniqueId.FromBytes(new byte[NcclUniqueId.Length]);
        Assert.Throws<ArgumentNullException>("id", () => NcclCommunicator.Create(null!, 1, 0, 0));
        var size = Assert.Throws<ArgumentOutOfRangeException>("size", () => NcclCommunicator.Create(id, 0, 0, 0));
        Assert.Contains("at least 1", size.Message, StringComparison.Ordinal);
        Assert.Contains("got 0.", size.Message, StringComparison.Ordinal);
        var rank = Assert.Throws<ArgumentOutOfRangeException>("rank", () => NcclCommunicator.Create(id, 2, 2, 0));
        Assert.Contains("0 to 1; got 2.", rank.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>("rank", () => NcclCommunicator.Create(id, 2, -1, 0));
    }

    [Fact]
    public void CreateGroupNeedsAtLeastOneGpu()
    {
        Assert.Throws<ArgumentNullException>("deviceIndices", () => NcclCommunicator.CreateGroup(null!));
        var none = Assert.Throws<ArgumentException>("deviceIndices", () => NcclCommunicator.CreateGroup());
        Assert.Contains("got none", none.Message, StringComparison.Ordinal);
    }

    // libc's own view of the environment (what NCCL reads), not .NET's copy. The pointer belongs to libc: not freed.
    [DllImport("libc", EntryPoint = "getenv")]
    private static extern IntPtr GetEnv(string name);

    private static string? NativeGetEnv(string name) => Marshal.PtrToStringUTF8(GetEnv(name));
}
