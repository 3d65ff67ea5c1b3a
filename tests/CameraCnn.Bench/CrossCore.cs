// CrossCore: how long a cache line takes to go from one thread to another and back, two threads bouncing a counter.
// On a 2-vCPU VM the host may put the vCPUs in one core complex (a Zen 5 VM: 100-180 ns) or in two (400-500 ns), and
// may move them within a run. Work split over two threads pays it whenever data crosses, so the bench prints the round
// trip before and after the model runs, beside the two-thread figures.
using System.Diagnostics;

namespace CameraCnn.Bench;

internal static class CrossCore
{
    /// <summary>Median ns per round trip over 5 runs of 20,000 trips; NaN with one processor.</summary>
    public static double RoundTripNs()
    {
        if (Environment.ProcessorCount < 2) return double.NaN;
        var runs = new double[5];
        for (int r = 0; r < runs.Length; r++) runs[r] = OneRun(20_000);
        return Program.Median(runs);
    }

    private static double OneRun(int trips)
    {
        var line = new long[32]; // element 8 sits in a cache line of its own
        var other = new Thread(() =>
        {
            for (long i = 1; i < 2L * trips; i += 2)
            {
                while (Volatile.Read(ref line[8]) != i) { }
                Volatile.Write(ref line[8], i + 1);
            }
        }) { IsBackground = true };
        other.Start();
        while (other.ThreadState == System.Threading.ThreadState.Unstarted) Thread.Yield();
        long t0 = Stopwatch.GetTimestamp();
        for (long i = 0; i < 2L * trips; i += 2)
        {
            Volatile.Write(ref line[8], i + 1);
            while (Volatile.Read(ref line[8]) != i + 2) { }
        }
        double ns = (Stopwatch.GetTimestamp() - t0) * 1e9 / Stopwatch.Frequency / trips;
        other.Join();
        return ns;
    }

    public static string Describe(double ns) => double.IsNaN(ns) ? "n/a (one processor)" : $"{ns:F0} ns";
}
