using System;
using System.Buffers;
using AttentionGen.Cpu.Simd;

namespace AttentionGen.Cpu;

public static partial class FlashAttentionCpu
{
    /// <summary>
    /// One call's parallel work, in two phases on <see cref="CpuWorkerTeam"/>: the keys of each (batch, kv head) are
    /// transposed, then the (batch, head, query tile) items run heaviest first, each worker taking the next from a shared
    /// counter, so the threads finish together under any plan (a causal one's last query tiles, a prefix's first). A
    /// class, since the workers reach the call through it; each thread keeps one per kernel specialization and reuses it,
    /// so a call allocates nothing. It holds the call's pinned addresses only while the call runs.
    /// </summary>
    private sealed class TileJob<TVec, TPlan, TMask, TScore> : IParallelWork
        where TVec : struct, ISimd<TVec>
        where TPlan : struct, ITilePlan
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        private KernelOperands _operands;
        private TPlan _plan;
        private TMask _mask;
        private TScore _score;
        private TileShape _shape;
        private int _heads;
        private TransposedKeys _keys;
        private PairedValues _values;
        private int[] _order = [];
        private bool _transposing;
        private WorkCounter _counter;

        public static void Run(in KernelOperands operands, TPlan plan, TMask mask, TScore score, TileShape shape, int heads, int items)
        {
            // Taken out of the slot while it runs: a mod that calls attention again on this thread gets a job of its own.
            TileJob<TVec, TPlan, TMask, TScore> job = ThreadSpare<TileJob<TVec, TPlan, TMask, TScore>>.Take();
            try
            {
                job.Execute(operands, plan, mask, score, shape, heads, items);
            }
            finally
            {
                job.Clear();
                ThreadSpare<TileJob<TVec, TPlan, TMask, TScore>>.Return(job);
            }
        }

        public void Work()
        {
            try
            {
                if (_transposing)
                {
                    while (_counter.TryTake(out int bh))
                    {
                        _keys.Fill(_operands, bh);
                        if (_shape.Pairs)
                        {
                            _values.Fill(_operands, bh);
                        }
                    }

                    return;
                }

                Workspace ws = Workspace.Take(_operands, _shape);
                try
                {
                    while (_counter.TryTake(out int i))
                    {
                        int bh = _order[i] % _heads, tile = _order[i] / _heads;
                        RunTile<TVec, TPlan, TMask, TScore>(_operands, _plan, _mask, _score, ws, _keys, _values, _shape, bh / _operands.QueryHeads, bh % _operands.QueryHeads, tile);
                    }
                }
                finally
                {
                    ws.Release();
                }
            }
            catch
            {
                // No further item starts; those other threads already took finish (a user's mod threw, say).
                _counter.Stop();
                throw;
            }
        }

        private unsafe void Execute(in KernelOperands operands, TPlan plan, TMask mask, TScore score, TileShape shape, int heads, int items)
        {
            (_operands, _plan, _mask, _score, _shape, _heads) = (operands, plan, mask, score, shape, heads);
            _order = ArrayPool<int>.Shared.Rent(items);
            _keys = TransposedKeys.Rent(operands, shape.Lanes, shape.Pairs);
            _values = PairedValues.Rent(operands, shape.Pairs);
            try
            {
                WorkOrder(plan, operands.QueryHeads, heads, operands.QueryLength, operands.KeyLength, shape.QueryTile, shape.KeyTile, _order.AsSpan(0, items));

                // Keys are transposed once per call into [E × M] panels that every query tile of the head reads:
                // O(M·E) extra memory, and the transposition is not repeated per query tile.
                int kvHeads = operands.Batch * operands.KeyHeads;
                // Pinned for the call: the bf16 pair kernels take addresses in them.
                fixed (float* panels = &_keys.Head(0, 0), valuePairs = _values.Panels)
                {
                    _transposing = true;
                    _counter.Reset(kvHeads);
                    CpuWorkerTeam.Run(this, Math.Min(CpuExecution.MaxThreads, kvHeads));

                    _transposing = false;
                    _counter.Reset(items);
                    CpuWorkerTeam.Run(this, Math.Min(CpuExecution.MaxThreads, items));
                }
            }
            finally
            {
                _keys.Return();
                _values.Return();
                ArrayPool<int>.Shared.Return(_order);
            }
        }

        // Drops the call's addresses and the mods' references, so nothing of the call outlives it.
        private void Clear()
        {
            (_operands, _plan, _mask, _score, _keys, _values, _order) = (default, default, default, default, default, default, []);
        }
    }
}
