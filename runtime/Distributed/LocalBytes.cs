using System;

namespace AttentionGen.Distributed;

/// <summary>
/// The bytes of contiguous tensors as a <see cref="LocalCommunicator"/> moves and adds them: read out and written back in
/// place, on the CPU or, for a group whose ranks share a GPU, through host copies (a test device, not a fast path).
/// </summary>
internal static class LocalBytes
{
    /// <summary>A copy of the bytes of <paramref name="t"/>'s elements.</summary>
    public static byte[] Read(Tensor t)
    {
        if (t.Device.Kind == DeviceKind.Cpu)
        {
            return Of(t).ToArray();
        }

        using Tensor host = t.To(Device.Cpu);
        return Of(host).ToArray();
    }

    /// <summary>Overwrites <paramref name="t"/>'s elements with <paramref name="bytes"/> (as many as it holds).</summary>
    public static void Write(Tensor t, byte[] bytes)
    {
        if (t.Device.Kind == DeviceKind.Cpu)
        {
            bytes.CopyTo(Of(t));
        }
        else
        {
            Cuda.CudaTransfers.UploadInto(t.Device, t.DevicePointer, bytes);
        }
    }

    // The bytes of a contiguous CPU tensor's elements, in place.
    private static Span<byte> Of(Tensor t)
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
            Tensor send = part.Send.Device.Kind == DeviceKind.Cpu ? part.Send : part.Send.To(Device.Cpu);
            float[] values = (slices == 1 ? send : send.Reshape(slices, count).Narrow(0, slice, 1)).ToFloatArray();
            for (int i = 0; i < count; i++)
            {
                sum[i] += values[i];
            }
        }

        using Tensor result = Tensor.FromArray(sum, destination.Shape.ToArray()).To(destination.DType);
        return Read(result);
    }
}
