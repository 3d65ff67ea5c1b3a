// Parallelism: splits a range into contiguous slices, one per worker (ggml's ith/nth). Small ranges stay inline.
namespace CameraCnn.Engine.Kernels;

/// <summary>Thread count used by the engine's kernels and how a range is split among workers.</summary>
public static class Parallelism
{
    private static int _threads = Environment.ProcessorCount;
    [ThreadStatic] private static bool _insideWorker;

    /// <summary>Worker count (1 = everything on the calling thread). Defaults to the processor count.</summary>
    public static int Threads
    {
        get => _threads;
        set => _threads = Math.Clamp(value, 1, 256);
    }

    /// <summary>
    /// Runs body(start, end, worker) over [0, count) in at most <see cref="Threads"/> contiguous slices,
    /// each at least <paramref name="minPerWorker"/> long. worker is in [0, workers).
    /// </summary>
    public static void For(int count, int minPerWorker, Action<int, int, int> body)
    {
        int workers = _insideWorker ? 1 : WorkerCount(count, minPerWorker);
        if (workers <= 1)
        {
            if (count > 0) body(0, count, 0);
            return;
        }
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, w =>
        {
            int start = (int)((long)count * w / workers), end = (int)((long)count * (w + 1) / workers);
            bool outer = _insideWorker;
            _insideWorker = true; // nested For calls (a GEMM inside a per-image loop) run inline
            try { if (end > start) body(start, end, w); }
            finally { _insideWorker = outer; }
        });
    }

    /// <summary>How many workers <see cref="For"/> will use for this range.</summary>
    public static int WorkerCount(int count, int minPerWorker)
        => Math.Max(1, Math.Min(_threads, count / Math.Max(1, minPerWorker)));
}
