using System;
using System.Diagnostics;
using System.IO;
using System.Threading.Tasks;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>
/// Named pipes where a kernel file is expected: opening one for reading blocks until a writer comes, so a reader that
/// opens it hangs. Unix only (mkfifo); .NET has no call that makes one.
/// </summary>
internal static class Fifo
{
    public static bool IsSupported => !OperatingSystem.IsWindows();

    public static void Make(string path)
    {
        using Process mkfifo = Process.Start(new ProcessStartInfo("mkfifo") { ArgumentList = { path } })!;
        mkfifo.WaitForExit();
        Assert.Equal(0, mkfifo.ExitCode);
    }

    /// <summary>
    /// The result of <paramref name="read"/> of the pipe at <paramref name="path"/>, failing when it has not returned
    /// within 10 s; a reader still blocked is then released (a writer opens and closes the pipe) so no thread stays stuck.
    /// </summary>
    public static async Task<T> ReadWithin10Seconds<T>(string path, Func<T> read)
    {
        Task<T> reading = Task.Factory.StartNew(read, TaskCreationOptions.LongRunning);
        if (await Task.WhenAny(reading, Task.Delay(TimeSpan.FromSeconds(10))) != reading)
        {
            using (new FileStream(path, FileMode.Open, FileAccess.Write))
            {
            }

            await reading;
            Assert.Fail($"Reading the named pipe {path} blocked.");
        }

        return await reading;
    }
}
