using System;
using System.Threading;
using AttentionGen.Cpu.Native;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>
/// A thread about to use the AMX tiles gets an alternate signal stack with room for a frame that carries them, and the
/// runtime still handles its signals there: a null dereference after the swap is a NullReferenceException, not a crash.
/// Runs on any Linux x64 machine (the swap does not need AMX).
/// </summary>
public class SignalStackTests
{
    [Fact]
    public void AThreadAboutToUseTheTilesGetsARoomyAlternateStackTheRuntimeStillHandlesSignalsOn()
    {
        if (!ExecutableMemory.IsSupported)
        {
            return;   // no tiles off Linux x64, so nothing is swapped
        }

        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                SignalStack.StackT before = SignalStack.Current();
                Assert.True(SignalStack.EnsureForTiles());
                SignalStack.StackT after = SignalStack.Current();
                if ((before.Flags & 2) != 0)
                {
                    Assert.NotEqual(0, after.Flags & 2);   // no alternate stack: signals use the thread's own, left alone
                }
                else
                {
                    Assert.True(after.Size >= SignalStack.Bytes, $"alternate stack of {after.Size} bytes, expected at least {SignalStack.Bytes} (was {before.Size})");
                    Assert.Equal(0, after.Flags);
                }

                Assert.True(SignalStack.EnsureForTiles());
                Assert.Equal(after.Pointer, SignalStack.Current().Pointer);   // once per thread
                Assert.Throws<NullReferenceException>(() => Dereference(null));
            }
            catch (Exception ex)
            {
                failure = ex;
            }
        });
        thread.Start();
        thread.Join();
        Assert.Null(failure);
    }

    private static int Dereference(int[]? array) => array![0];
}
