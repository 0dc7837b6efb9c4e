using System;
using AttentionGen.Cuda;

namespace AttentionGen.Distributed;

/// <summary>
/// The token that joins the ranks of one NCCL group (ncclUniqueId, <see cref="Length"/> opaque bytes). One rank creates it
/// with <see cref="NcclCommunicator.CreateUniqueId"/> and hands it to the others, e.g. through <see cref="ToArray"/>, a
/// file or a socket, and <see cref="FromBytes"/> in each of their processes.
/// </summary>
public sealed class NcclUniqueId
{
    /// <summary>The id's size in bytes (NCCL_UNIQUE_ID_BYTES).</summary>
    public const int Length = Nccl.UniqueIdBytes;

    private readonly byte[] _bytes;

    private NcclUniqueId(byte[] bytes) => _bytes = bytes;

    /// <summary>An id read back from the <see cref="Length"/> bytes <see cref="ToArray"/> gave; any other length throws.</summary>
    public static NcclUniqueId FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != Length)
        {
            throw new ArgumentException($"bytes must hold an NCCL unique id, exactly {Length} bytes (from NcclUniqueId.ToArray); got {bytes.Length}.", nameof(bytes));
        }

        return new NcclUniqueId(bytes.ToArray());
    }

    /// <summary>A copy of the id's bytes, to pass to the other ranks.</summary>
    public byte[] ToArray() => (byte[])_bytes.Clone();

    internal static unsafe NcclUniqueId FromNative(in Nccl.NativeUniqueId id)
    {
        fixed (byte* bytes = id.Internal)
        {
            return new NcclUniqueId(new ReadOnlySpan<byte>(bytes, Length).ToArray());
        }
    }

    internal unsafe Nccl.NativeUniqueId ToNative()
    {
        Nccl.NativeUniqueId id = default;
        _bytes.CopyTo(new Span<byte>(id.Internal, Length));
        return id;
    }
}
