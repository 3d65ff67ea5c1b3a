// BackgroundPriority: lowers the calling thread's scheduling priority, for teach mode's trainer thread. On Windows
// Thread.Priority does it; on Linux it does nothing (every thread of the default policy has priority 0), so there the
// thread's nice value is raised with setpriority(2), which applies to one thread on Linux. Raising priority is not done.
using System.Runtime.InteropServices;

namespace CameraCnn.App.Teach;

/// <summary>A lower priority for a background thread, on every system the program runs on.</summary>
internal static partial class BackgroundPriority
{
    /// <summary>
    /// The nice value of a background thread: its share of a contended core is about 1.25^-5 = 0.33 of a normal thread's,
    /// so the capture, inference and render threads keep most of theirs while it still progresses on a busy machine
    /// (at nice 10, 0.11, a fine-tuning starved whenever other processes kept both cores busy).
    /// </summary>
    public const int Nice = 5;

    /// <summary>Lowers the calling thread (Thread.Priority below normal, and nice <see cref="Nice"/> on Linux). True if applied.</summary>
    public static bool Lower()
    {
        Thread.CurrentThread.Priority = ThreadPriority.BelowNormal;
        if (!OperatingSystem.IsLinux()) return true;
        try
        {
            return setpriority(PrioProcess, gettid(), Nice) == 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false; // a libc without gettid: the thread keeps the normal priority
        }
    }

    /// <summary>The calling thread's nice value on Linux (null elsewhere or when it cannot be read).</summary>
    public static int? CurrentNice()
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            Marshal.SetLastPInvokeError(0);
            int nice = getpriority(PrioProcess, gettid());
            return nice == -1 && Marshal.GetLastPInvokeError() != 0 ? null : nice;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    private const int PrioProcess = 0; // PRIO_PROCESS with a thread id: that thread alone (Linux)

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setpriority(int which, int who, int prio);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int getpriority(int which, int who);

    [LibraryImport("libc")]
    private static partial int gettid();
}
