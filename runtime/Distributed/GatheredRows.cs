using System;

namespace AttentionGen.Distributed;

/// <summary>
/// Every rank's kept rows [B, H, n / r, W] of one tensor on their way to every rank: an all-gather (which stacks the ranks
/// first) started at once, then laid out as the sequence's kept rows in order, [B, H, P·n / r, W].
/// </summary>
internal sealed class GatheredRows : IDisposable
{
    private readonly Tensor _mine;
    private readonly Tensor _stacked;
    private readonly PendingExchange _pending;
    private Tensor? _ordered;

    private GatheredRows(Tensor mine, Tensor stacked, PendingExchange pending)
    {
        _mine = mine;
        _stacked = stacked;
        _pending = pending;
    }

    /// <summary>Starts gathering <paramref name="mine"/> (which this object now owns) from every rank.</summary>
    public static GatheredRows Start(Communicator comm, Tensor mine)
    {
        int[] shape = mine.Shape.ToArray();
        shape[0] *= comm.Size;
        Tensor stacked = Tensor.Zeros(mine.DType, mine.Device, shape);
        try
        {
            return new GatheredRows(mine, stacked, comm.StartAllGather(mine, stacked));
        }
        catch
        {
            mine.Dispose();
            stacked.Dispose();
            throw;
        }
    }

    /// <summary>Waits for the exchange and returns the rows in sequence order, [B, H, P·n / r, W] (owned by this object).</summary>
    public Tensor Finish()
    {
        if (_ordered is null)
        {
            _pending.Wait();
            int ranks = _stacked.Size(0) / _mine.Size(0);
            int batch = _mine.Size(0), heads = _mine.Size(1), rows = _mine.Size(2), width = _mine.Size(3);

            // [P, B·H, rows, W] → [B·H, P, rows, W]: four dimensions, which a GPU lays out without a trip to the host.
            _ordered = _stacked.Reshape(ranks, batch * heads, rows, width).Transpose(0, 1).Contiguous().Reshape(batch, heads, ranks * rows, width);
        }

        return _ordered;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        // An exchange still in flight reads and writes these buffers: let it end first (its failure is already reported).
        _pending.WaitQuietly();

        _mine.Dispose();
        _stacked.Dispose();
        _ordered?.Dispose();
    }
}
