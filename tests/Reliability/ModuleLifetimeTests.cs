using System;
using System.Threading;
using System.Threading.Tasks;
using AttentionGen.Modules;
using AttentionGen.Tests.Modules;
using Xunit;

namespace AttentionGen.Tests.Reliability;

/// <summary>
/// Dispose racing with a call: the running call keeps the module's tensors until it returns, later calls throw, and the
/// tensors are released exactly once, by whichever of Dispose and the last running call comes second.
/// </summary>
public class ModuleLifetimeTests
{
    [Fact]
    public void DisposeDuringACallReleasesWhenTheCallEnds()
    {
        var module = new ProbeModule();
        Assert.True(module.Run(() =>
        {
            module.Dispose();
            Assert.Equal(0, module.Releases);   // the running call still holds the tensors
            Assert.Throws<ObjectDisposedException>(() => module.Run(() => true));
            return true;
        }));

        Assert.Equal(1, module.Releases);
        module.Dispose();
        Assert.Equal(1, module.Releases);
    }

    [Fact]
    public void DisposeWithNoCallRunningReleasesAtOnce()
    {
        var module = new ProbeModule();
        Assert.True(module.Run(() => true));

        module.Dispose();

        Assert.Equal(1, module.Releases);
        ObjectDisposedException e = Assert.Throws<ObjectDisposedException>(() => module.Run(() => true));
        Assert.Equal(nameof(ProbeModule), e.ObjectName);
    }

    [Fact]
    public void ACallThatThrowsStillEnds()
    {
        var module = new ProbeModule();
        Assert.Throws<InvalidOperationException>(() => module.Run<bool>(() => throw new InvalidOperationException()));

        module.Dispose();

        Assert.Equal(1, module.Releases);
    }

    [Fact]
    public async Task ForwardsRacingWithDisposeEitherFinishOrThrowObjectDisposed()
    {
        // Each Forward either ran before Dispose (its output is whole) or started after (ObjectDisposedException): never
        // a kernel reading a released weight, which surfaced as an AggregateException out of the parallel GEMM.
        for (int round = 0; round < 8; round++)
        {
            var module = new TinyCausalAttention(seed: round);
            Tensor x = Tensor.RandomNormal(new Random(round), DType.Float32, 2, 40, 24);
            float[] expected = module.Forward(x).ToFloatArray();
            using var start = new Barrier(3);
            Task<float[]?> Call() => Task.Run(() =>
            {
                start.SignalAndWait();
                try
                {
                    return module.Forward(x).ToFloatArray();
                }
                catch (ObjectDisposedException e) when (e.ObjectName == nameof(TinyCausalAttention))
                {
                    return null;
                }
            });
            Task<float[]?> first = Call(), second = Call();
            start.SignalAndWait();
            module.Dispose();

            foreach (float[]? output in await Task.WhenAll(first, second))
            {
                if (output is not null)
                {
                    Assert.Equal(expected, output);
                }
            }
        }
    }

    private sealed class ProbeModule : DisposableModule
    {
        private int _releases;

        public int Releases => Volatile.Read(ref _releases);

        public T Run<T>(Func<T> body)
        {
            using Call call = BeginCall();
            return body();
        }

        private protected override void ReleaseOwnedTensors() => Interlocked.Increment(ref _releases);
    }
}
