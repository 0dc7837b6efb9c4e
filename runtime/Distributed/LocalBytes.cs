using System;

namespace AttentionGen.Distributed;

/// <summary>The bytes of contiguous CPU tensors as a <see cref="LocalCommunicator"/> moves and adds them.</summary>
internal static class LocalBytes
{
    /// <summary>The bytes of <paramref name="t"/>'s elements.</summary>
    public static Span<byte> Of(Tensor t)
    {
        int size = t.DType.SizeInBytes();
        return t.ByteStorage.Slice(checked((int)(t.Offset * size)), checked((int)(t.Numel * size)));
    }

    /// <summary>
    /// Slice <paramref name="slice"/> of <paramref name="slices"/> of the sum, in rank order and in float32, of every rank's
    /// send tensor, as the bytes of <paramref name="destination"/>'s dtype (rounded once).
    /// </summary>
    public static byte[] Sum(LocalExchange[] posted, Tensor destination, int slice, int slices)
    {
        int count = checked((int)destination.Numel);
        var sum = new float[count];
        foreach (LocalExchange part in posted)
        {
            float[] values = (slices == 1 ? part.Send : part.Send.Reshape(slices, count).Narrow(0, slice, 1)).ToFloatArray();
            for (int i = 0; i < count; i++)
            {
                sum[i] += values[i];
            }
        }

        using Tensor result = Tensor.FromArray(sum, destination.Shape.ToArray()).To(destination.DType);
        return Of(result).ToArray();
    }
}
