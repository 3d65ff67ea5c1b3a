// SpeedShares: how much of a split each worker gets, learned from how fast each one ran the same split last time.
// For work that divides into contiguous ranges whose cost follows their size (output channels of a Winograd conv,
// output rows of a direct conv): a core the host slows down gets less. On a 2-vCPU Zen 5 VM one vCPU ran 20-30 %
// slower than the other for minutes at a time (another guest on its core, most likely), and an even split left every
// layer waiting for it. The split never changes a result, only which thread computes what.
using System.Diagnostics;

namespace CameraCnn.Engine.Kernels;

/// <summary>
/// One split's shares (summing to 1) and the slices' last timings. A job cuts its units with <see cref="Cut"/>, each
/// slice calls <see cref="Record"/>, and the caller calls <see cref="Learn"/> after the job.
/// </summary>
internal sealed unsafe class SpeedShares
{
    private double[] _shares = [];
    private readonly long[] _ticks = GC.AllocateArray<long>(Parallelism.MaxWorkers, pinned: true);
    private readonly int[] _threads = GC.AllocateArray<int>(Parallelism.MaxWorkers, pinned: true);

    /// <summary>The current shares (tests and benchmarks); empty until the first cut.</summary>
    public double[] Values => _shares;

    /// <summary>Tests: the shares the next cut starts from.</summary>
    public void Set(double[] shares) => _shares = (double[])shares.Clone();

    /// <summary>cuts[0..workers] over [0, units): contiguous ranges by the shares, each at least one unit.</summary>
    public void Cut(int workers, int units, int* cuts)
    {
        if (_shares.Length != workers)
        {
            _shares = new double[workers];
            Array.Fill(_shares, 1.0 / workers);
        }
        Cuts(_shares, units, cuts);
        new Span<int>(_threads, 0, workers).Clear();
    }

    /// <summary>Slice <paramref name="slice"/> took the ticks since <paramref name="start"/> on this thread.</summary>
    public void Record(int slice, long start)
    {
        _ticks[slice] = Stopwatch.GetTimestamp() - start;
        _threads[slice] = Environment.CurrentManagedThreadId;
    }

    /// <summary>Moves the shares toward the speeds the last job measured, unless a thread ran two slices (no speed to learn).</summary>
    public void Learn(int* cuts)
    {
        int workers = _shares.Length;
        for (int i = 0; i < workers; i++)
        {
            if (_threads[i] == 0) return;
            for (int j = 0; j < i; j++)
                if (_threads[i] == _threads[j]) return;
        }
        Span<int> units = stackalloc int[workers];
        for (int i = 0; i < workers; i++) units[i] = cuts[i + 1] - cuts[i];
        Rebalance(_shares, units, _ticks.AsSpan(0, workers));
    }

    internal static void Cuts(ReadOnlySpan<double> shares, int units, int* cuts)
    {
        int workers = shares.Length;
        double sum = 0;
        cuts[0] = 0;
        for (int i = 0; i < workers; i++)
        {
            sum += shares[i];
            int cut = i == workers - 1 ? units : (int)Math.Round(units * sum);
            cuts[i + 1] = Math.Clamp(cut, cuts[i] + 1, units - (workers - 1 - i));
        }
    }

    /// <summary>
    /// Moves the shares halfway toward each slice's speed (its units per tick), with a floor of a quarter of an even
    /// share: a slice that once ran slow (descheduled for a moment) gets its work back within a few jobs.
    /// </summary>
    internal static void Rebalance(Span<double> shares, ReadOnlySpan<int> units, ReadOnlySpan<long> ticks)
    {
        int n = shares.Length;
        double total = 0;
        Span<double> speed = stackalloc double[n];
        for (int i = 0; i < n; i++)
        {
            if (ticks[i] <= 0) return;
            speed[i] = units[i] / (double)ticks[i];
            total += speed[i];
        }
        double floor = 0.25 / n, sum = 0;
        for (int i = 0; i < n; i++)
        {
            shares[i] = Math.Max(floor, 0.5 * shares[i] + 0.5 * speed[i] / total);
            sum += shares[i];
        }
        for (int i = 0; i < n; i++) shares[i] /= sum;
    }
}
