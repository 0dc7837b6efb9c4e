using System;
using AttentionGen.Modules;
using AttentionGen.Tests.Modules;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Reliability;

[FlashAttention(Dim = 16, Heads = 2, DimHead = 8, MixedPrecision = true)]
public partial class MixedPrecisionAttention
{
}

/// <summary>
/// Every module kind: after Dispose its computing and weight-exposing members throw <see cref="ObjectDisposedException"/>
/// naming the module's type, a second Dispose does nothing, the tensors it made are released and the caller's are not.
/// </summary>
public class ModuleDisposalTests
{
    [Fact]
    public void FlashAttentionModuleThrowsOnEveryUseAfterDispose()
    {
        var module = new TinyCausalAttention(seed: 1);
        Tensor x = Tensor.RandomNormal(new Random(2), DType.Float32, 1, 5, 24);
        module.Dispose();
        module.Dispose();

        AssertDisposed(nameof(TinyCausalAttention), () => module.Forward(x));
        AssertDisposed(nameof(TinyCausalAttention), () => module.To(Device.Cpu));
        AssertDisposed(nameof(TinyCausalAttention), () => module.ToQ);
        AssertDisposed(nameof(TinyCausalAttention), () => module.ToKv);
        AssertDisposed(nameof(TinyCausalAttention), () => module.ToOut);
        Assert.Equal(24, module.Config.Dim);   // constants stay readable, like a disposed tensor's shape
    }

    [Fact]
    public void FlashAttentionModuleReleasesTheWeightsItDrew()
    {
        var module = new TinyCausalAttention(seed: 3);
        Linear toQ = module.ToQ;
        Tensor weight = toQ.Weight;

        module.Dispose();

        Assert.Throws<ObjectDisposedException>(() => weight.ToFloatArray());
        AssertDisposed(nameof(Linear), () => toQ.Apply(Tensor.Zeros(DType.Float32, 1, 24)));
    }

    [Fact]
    public void FlashAttentionModuleLeavesTheCallersWeightsAlive()
    {
        var random = new Random(4);
        Tensor toQ = Linear.RandomWeight(random, 24, 24), toKv = Linear.RandomWeight(random, 24, 48), toOut = Linear.RandomWeight(random, 24, 24);
        float[] before = toQ.ToFloatArray();
        var module = new TinyCausalAttention(toQ, toKv, toOut);

        module.Dispose();

        Assert.Equal(before, toQ.ToFloatArray());
        _ = toKv.ToFloatArray();
        _ = toOut.ToFloatArray();
    }

    [Fact]
    public void MixedPrecisionModuleReleasesItsRoundingsButNotTheCallersBfloat16Weights()
    {
        var random = new Random(5);
        Tensor roundedByCaller = Linear.RandomWeight(random, 16, 16).To(DType.BFloat16);   // To returns it unchanged
        Tensor fp32 = Linear.RandomWeight(random, 16, 32), fp32Out = Linear.RandomWeight(random, 16, 16);
        var module = new MixedPrecisionAttention(roundedByCaller, fp32, fp32Out);
        Tensor rounding = module.ToKv.Weight;

        module.Dispose();

        _ = roundedByCaller.ToFloatArray();
        _ = fp32.ToFloatArray();
        Assert.Throws<ObjectDisposedException>(() => rounding.ToFloatArray());
    }

    [Fact]
    public void LinearThrowsAfterDisposeAndKeepsTheCallersTensors()
    {
        // A 1 × 1 float32 weight is its own packed transpose: the copy Linear releases is the caller's tensor itself.
        Tensor weight = Tensor.FromArray([2f], 1, 1), bias = Tensor.FromArray([0.5f], 1);
        var linear = new Linear(weight, 1, 1, "weight", bias);
        Assert.Equal(new[] { 6.5f }, linear.Apply(Tensor.FromArray([3f], 1, 1)).ToFloatArray());

        linear.Dispose();
        linear.Dispose();

        AssertDisposed(nameof(Linear), () => linear.Apply(Tensor.FromArray([3f], 1, 1)));
        AssertDisposed(nameof(Linear), () => linear.Weight);
        AssertDisposed(nameof(Linear), () => linear.Bias);
        Assert.Throws<ObjectDisposedException>(() => linear.Prepare(Device.Cpu, DType.Float32));
        Assert.Equal(new[] { 2f }, weight.ToFloatArray());
        Assert.Equal(new[] { 0.5f }, bias.ToFloatArray());
        Assert.Equal(1, linear.InFeatures);
    }

    [Fact]
    public void DilatedModuleReleasesTheProjectionsItMadeAndThrows()
    {
        var module = new CausalDilatedMixture(seed: 6);
        Linear qProj = module.QProj;
        Tensor qWeight = qProj.Weight, qBias = qProj.Bias!;
        module.Dispose();
        module.Dispose();

        AssertDisposed(nameof(CausalDilatedMixture), () => module.Forward(Tensor.Zeros(DType.Float32, 1, 4, 48)));
        AssertDisposed(nameof(CausalDilatedMixture), () => module.QProj);
        AssertDisposed(nameof(CausalDilatedMixture), () => module.KProj);
        AssertDisposed(nameof(CausalDilatedMixture), () => module.VProj);
        AssertDisposed(nameof(CausalDilatedMixture), () => module.OutProj);
        AssertDisposed(nameof(CausalDilatedMixture), () => module.RelPosBias);
        AssertDisposed(nameof(Linear), () => qProj.Apply(Tensor.Zeros(DType.Float32, 1, 48)));
        Assert.Throws<ObjectDisposedException>(() => qWeight.ToFloatArray());
        Assert.Throws<ObjectDisposedException>(() => qBias.ToFloatArray());
    }

    [Fact]
    public void DilatedModuleLeavesTheCallersProjectionsAlive()
    {
        var random = new Random(7);
        Linear Projection() => new(Linear.RandomWeight(random, 30, 30), 30, 30, "projection", Tensor.Zeros(DType.Float32, 30));
        Linear q = Projection(), k = Projection(), v = Projection(), o = Projection();
        var module = new DilatedWithRuntimeWidth(30, q, k, v, o);

        module.Dispose();

        Assert.Equal(new[] { 1, 30 }, q.Apply(Tensor.Zeros(DType.Float32, 1, 30)).Shape.ToArray());
        _ = o.Weight.ToFloatArray();
    }

    [Fact]
    public void SparseAndLocalModulesThrowAfterDispose()
    {
        Tensor q = Tensor.RandomNormal(new Random(8), DType.Float32, 1, 2, 16, 16);
        var sparse = new StridedSparse();
        var local = new CausalLocalXpos();
        sparse.Dispose();
        sparse.Dispose();
        local.Dispose();
        local.Dispose();

        AssertDisposed(nameof(StridedSparse), () => sparse.Forward(q, q, q));
        AssertDisposed(nameof(CausalLocalXpos), () => local.Forward(q, q, q));
        Assert.Equal(2, sparse.Heads);
    }

    [Fact]
    public void FlexModulesThrowAfterDispose()
    {
        Tensor q = Tensor.RandomNormal(new Random(9), DType.Float32, 1, 1, 8, 4);
        var flex = new CausalFlex();
        var captured = new CapturedDocumentFlex();
        flex.Dispose();
        flex.Dispose();
        captured.Dispose();

        AssertDisposed(nameof(CausalFlex), () => flex.Forward(q, q, q));
        AssertDisposed(nameof(CausalFlex), () => flex.CreateBlockMask(1, 1, 8, 8));
        AssertDisposed(nameof(CapturedDocumentFlex), () => captured.Forward(q, q, q, Tensor.Zeros(DType.Int32, 8)));
        AssertDisposed(nameof(CapturedDocumentFlex), () => captured.Forward(q, q, q));   // not the missing-capture ArgumentException
    }

    private static void AssertDisposed(string typeName, Func<object?> use)
    {
        ObjectDisposedException e = Assert.Throws<ObjectDisposedException>(use);
        Assert.Equal(typeName, e.ObjectName);
    }

    private static void AssertDisposed(string typeName, Action use)
    {
        ObjectDisposedException e = Assert.Throws<ObjectDisposedException>(use);
        Assert.Equal(typeName, e.ObjectName);
    }
}
