using ILGPU.Runtime.Cuda;

namespace AttentionGen.ILGpu.Kernels.TensorCores;

/// <summary>
/// The two mma.sync instructions, emitted through ILGPU's inline PTX (<see cref="CudaAsm"/>). D is C (the
/// accumulator registers are read and written: <c>Ref</c>), A and B are inputs. ILGPU's <c>EmitRef</c> passes its operands
/// through local variables, which ptxas folds back into registers where it can. Only a CUDA accelerator runs these:
/// the CPU and OpenCL accelerators skip inline PTX, so the launcher never selects this kernel there.
/// </summary>
internal static class Mma
{
    public const string BFloat16 =
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};";

    public const string Float16 =
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};";

    // One method per instruction, not one taking the string: ILGPU needs the inline PTX as a literal where EmitRef is
    // called, and a string parameter fails its compile even when inlined (an internal compiler error, tried).

    /// <summary>bf16 × bf16 + f32.</summary>
    public static void BFloat16Tile(ref MmaAccumulator c, MmaRowOperand a, MmaColumnOperand b)
    {
        Ref<float> d0 = c.C0, d1 = c.C1, d2 = c.C2, d3 = c.C3;
        Input<uint> a0 = a.A0, a1 = a.A1, a2 = a.A2, a3 = a.A3, b0 = b.B0, b1 = b.B1;
        CudaAsm.EmitRef(BFloat16, ref d0, ref d1, ref d2, ref d3, ref a0, ref a1, ref a2, ref a3, ref b0, ref b1);
        c.C0 = d0.Value;
        c.C1 = d1.Value;
        c.C2 = d2.Value;
        c.C3 = d3.Value;
    }

    /// <summary>fp16 × fp16 + f32.</summary>
    public static void Float16Tile(ref MmaAccumulator c, MmaRowOperand a, MmaColumnOperand b)
    {
        Ref<float> d0 = c.C0, d1 = c.C1, d2 = c.C2, d3 = c.C3;
        Input<uint> a0 = a.A0, a1 = a.A1, a2 = a.A2, a3 = a.A3, b0 = b.B0, b1 = b.B1;
        CudaAsm.EmitRef(Float16, ref d0, ref d1, ref d2, ref d3, ref a0, ref a1, ref a2, ref a3, ref b0, ref b1);
        c.C0 = d0.Value;
        c.C1 = d1.Value;
        c.C2 = d2.Value;
        c.C3 = d3.Value;
    }
}
