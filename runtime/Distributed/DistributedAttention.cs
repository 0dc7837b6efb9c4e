using System;
using System.Collections.Generic;
using System.Linq;

namespace AttentionGen.Distributed;

/// <summary>
/// Attention split across the ranks of a <see cref="Communicator"/>: sequence-parallel dense and causal attention
/// (<see cref="Ring"/>), head-parallel attention (<see cref="HeadParallel"/>) and LongNet's sequence-parallel dilated
/// attention (<see cref="Dilated"/>). Every rank calls the same method with operands of the same shapes; each gets the
/// result a single device computes, within the rounding of the merges. A group of one rank exchanges nothing.
/// </summary>
public static partial class DistributedAttention
{
    // The checks every layer makes before it exchanges anything (see RankAgreement): q, k and v as attention takes them, on
    // the communicator's device, then the layer's own checks; the ranks then agree on the verdict, the settings and shapes.
    private static void Agree(Communicator comm, Tensor q, Tensor k, Tensor v, Action layerChecks, IEnumerable<AgreedSetting> settings)
    {
        ArgumentNullException.ThrowIfNull(comm);
        RankAgreement.Check(
            comm,
            () =>
            {
                Attention.CheckOperands(q, k, v);
                ShapeCheck.Rank(k, 4, "[B, Hkv, M, E]", nameof(k));
                string owner = $"rank {comm.Rank}'s communicator";
                ShapeCheck.OnDevice(q, comm.Device, nameof(q), owner);
                ShapeCheck.OnDevice(k, comm.Device, nameof(k), owner);
                ShapeCheck.OnDevice(v, comm.Device, nameof(v), owner);
                q.ThrowIfDisposed(nameof(q));
                k.ThrowIfDisposed(nameof(k));
                v.ThrowIfDisposed(nameof(v));
                layerChecks();
            },
            settings.ToArray(),
            (q, nameof(q)),
            (k, nameof(k)),
            (v, nameof(v)));
    }
}
