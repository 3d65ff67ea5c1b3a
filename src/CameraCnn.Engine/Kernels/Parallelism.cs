// Parallelism: splits a range into contiguous slices, one per worker (ggml's ith/nth), run by long-lived worker
// threads created once (never a thread or task per call). Small ranges and nested calls run inline as one slice; a
// call made while another thread holds the pool runs its slices on the caller. The slicing depends only on the
// range, minPerWorker and Threads, never on timing. Not a general task scheduler: one job at a time.
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;

namespace CameraCnn.Engine.Kernels;

/// <summary>A slice of work for <see cref="Parallelism.For{TBody}"/>: a struct, so dispatching it allocates nothing.</summary>
public interface IParallelBody
{
    /// <summary>Processes [start, end) as worker <paramref name="worker"/> (0 = the calling thread).</summary>
    void Run(int start, int end, int worker);
}

/// <summary>Thread count used by the engine's kernels and how a range is split among workers.</summary>
public static unsafe class Parallelism
{
    private static int _threads = Environment.ProcessorCount;
    [ThreadStatic] private static bool _insideWorker;
    [ThreadStatic] private static bool _inlineThread;

    /// <summary>Worker count (1 = everything on the calling thread). Defaults to the processor count.</summary>
    public static int Threads
    {
        get => _threads;
        set => _threads = Math.Clamp(value, 1, MaxWorkers);
    }

    /// <summary>The most workers <see cref="Threads"/> allows.</summary>
    internal const int MaxWorkers = 256;

    /// <summary>
    /// Kernels called from this thread run on it alone, never on the pool's workers (set it on the thread itself). For a
    /// background thread (teach mode's trainer) whose work must not take the workers, which run at normal priority, from
    /// the inference thread's jobs: while it held the pool, every job of another thread would run on that thread alone.
    /// </summary>
    public static bool InlineOnThisThread
    {
        get => _inlineThread;
        set => _inlineThread = value;
    }

    /// <summary>
    /// Runs body(start, end, worker) over [0, count) in at most <see cref="Threads"/> contiguous slices,
    /// each at least <paramref name="minPerWorker"/> long. worker is in [0, workers).
    /// A capturing lambda allocates a closure per call; the frame path uses <see cref="For{TBody}"/> instead.
    /// </summary>
    public static void For(int count, int minPerWorker, Action<int, int, int> body)
    {
        var wrapper = new ActionBody(body);
        For(count, minPerWorker, ref wrapper);
    }

    private readonly struct ActionBody(Action<int, int, int> body) : IParallelBody
    {
        public void Run(int start, int end, int worker) => body(start, end, worker);
    }

    /// <summary>
    /// The allocation-free form of <see cref="For(int, int, Action{int, int, int})"/>: the body is a struct passed by
    /// reference, run in place by the workers while the caller waits (the caller runs slice 0 itself).
    /// </summary>
    public static void For<TBody>(int count, int minPerWorker, ref TBody body) where TBody : struct, IParallelBody
    {
        int workers = _insideWorker || _inlineThread ? 1 : WorkerCount(count, minPerWorker);
        if (workers <= 1)
        {
            if (count > 0) body.Run(0, count, 0);
            return;
        }
        // One job at a time: a second thread calling in while the pool is busy runs the same slices itself, one after
        // the other. The slicing never depends on contention, so per-slice partial sums (Conv2d's dW) stay bit-exact.
        if (!Monitor.TryEnter(Pool.Gate))
        {
            for (int w = 0; w < workers; w++)
            {
                var (s, e) = Slice(count, workers, w);
                if (e > s) body.Run(s, e, w);
            }
            return;
        }
        try
        {
            Pool.Run(workers, count, &Invoke<TBody>, Unsafe.AsPointer(ref body));
        }
        finally
        {
            Monitor.Exit(Pool.Gate);
        }
    }

    /// <summary>
    /// Runs body over [0, count) cut into chunks of <paramref name="chunk"/> that the workers claim one at a time from a
    /// shared counter, so a worker the OS delays leaves its share to the others (the slices of <see cref="For{TBody}"/>
    /// are fixed). body.Run(start, end, worker) is called once per chunk, with worker = the running thread's slot. For
    /// bodies whose result does not depend on which worker ran which chunk (no per-worker partial sums).
    /// </summary>
    public static void ForChunks<TBody>(int count, int chunk, ref TBody body) where TBody : struct, IParallelBody
    {
        if (count <= 0) return;
        chunk = Math.Max(1, chunk);
        int chunks = (count + chunk - 1) / chunk;
        if (_insideWorker || _threads <= 1 || chunks <= 1)
        {
            body.Run(0, count, 0);
            return;
        }
        var claimed = new ChunkedBody<TBody> { Body = body, Count = count, Chunk = chunk, Chunks = chunks };
        For(Math.Min(_threads, chunks), 1, ref claimed);
        body = claimed.Body;
    }

    /// <summary>The body of <see cref="ForChunks{TBody}"/>: each thread claims chunks until none is left.</summary>
    private struct ChunkedBody<TBody> : IParallelBody where TBody : struct, IParallelBody
    {
        public TBody Body;
        public int Count, Chunk, Chunks, Next;

        public void Run(int start, int end, int worker)
        {
            for (int c; (c = Interlocked.Increment(ref Next) - 1) < Chunks;)
                Body.Run(c * Chunk, Math.Min(Count, (c + 1) * Chunk), worker);
        }
    }

    /// <summary>How many workers <see cref="For(int, int, Action{int, int, int})"/> will use for this range.</summary>
    public static int WorkerCount(int count, int minPerWorker)
        => Math.Max(1, Math.Min(_threads, count / Math.Max(1, minPerWorker)));

    /// <summary>True on a pool worker and on the caller while it runs its own slice (nested calls run inline).</summary>
    internal static bool InsideWorker => _insideWorker;

    private static void Invoke<TBody>(void* state, int start, int end, int worker) where TBody : struct, IParallelBody
        => Unsafe.AsRef<TBody>(state).Run(start, end, worker);

    /// <summary>Slice w of [0, count) split into `workers` nearly equal contiguous parts.</summary>
    private static (int Start, int End) Slice(int count, int workers, int w)
        => ((int)((long)count * w / workers), (int)((long)count * (w + 1) / workers));

    /// <summary>
    /// The long-lived workers. A job is cut into `workers` slices; each slice is claimed by exactly one thread with an
    /// atomic exchange. Worker w is woken for slice w (its mailbox generation is bumped), but the caller, after its
    /// own slice, claims every slice nobody has started: on a busy machine a worker that is not scheduled in time
    /// costs nothing. Idle workers spin for a short while (layers come back to back), then sleep on a monitor.
    /// </summary>
    private static class Pool
    {
        public static readonly object Gate = new();
        private static readonly object Sleep = new();
        private static readonly List<Mailbox> Workers = [];

        private sealed class Mailbox
        {
            public long Generation;
        }

        private const int MaxSlices = 256;
        private static readonly int[] Claimed = Init();
        private static int _sleepers;
        private static int _remaining;
        private static int _jobCount, _jobWorkers;
        private static delegate*<void*, int, int, int, void> _jobFn;
        private static void* _jobState;
        private static ExceptionDispatchInfo? _failure;

        /// <summary>How long the caller spins at the end of a job before it starts yielding (200 us).</summary>
        private static readonly long BarrierSpinTicks = Stopwatch.Frequency / 5000;

        /// <summary>Spin iterations before an idle worker sleeps (about 0.1-0.3 ms).</summary>
        private const int SpinLimit = 2000;

        private static int[] Init()
        {
            var a = new int[MaxSlices];
            a.AsSpan().Fill(1);
            return a;
        }

        public static void Run(int workers, int count, delegate*<void*, int, int, int, void> fn, void* state)
        {
            while (Workers.Count < workers - 1) StartWorker(Workers.Count + 1);
            _jobFn = fn;
            _jobState = state;
            _jobCount = count;
            _jobWorkers = workers;
            _failure = null;
            Volatile.Write(ref _remaining, workers);
            // Open the slices last: a worker that claims one reads the job fields written above.
            for (int w = 0; w < workers; w++) Volatile.Write(ref Claimed[w], 0);
            for (int w = 1; w < workers; w++) Interlocked.Increment(ref Workers[w - 1].Generation);
            if (Volatile.Read(ref _sleepers) > 0)
                lock (Sleep) Monitor.PulseAll(Sleep);

            bool outer = _insideWorker;
            _insideWorker = true;
            try
            {
                for (int w = 0; w < workers; w++) TryRunSlice(w);
            }
            finally
            {
                _insideWorker = outer;
                // The body lives on this thread's stack: never return while a slice is still running. A worker's last
                // unit ends within microseconds, so spin on the core first: a yield on a busy machine hands the core to
                // another process for a scheduler quantum (milliseconds). Only a worker the OS has descheduled makes
                // the wait long; then yield, so it may get this core.
                long spinUntil = Stopwatch.GetTimestamp() + BarrierSpinTicks;
                while (Volatile.Read(ref _remaining) > 0 && Stopwatch.GetTimestamp() < spinUntil) Thread.SpinWait(10);
                var spin = new SpinWait();
                while (Volatile.Read(ref _remaining) > 0) spin.SpinOnce(sleep1Threshold: -1);
            }
            _jobFn = null;
            _jobState = null;
            _failure?.Throw();
        }

        /// <summary>Runs slice w if no other thread has claimed it.</summary>
        private static void TryRunSlice(int w)
        {
            if (Interlocked.Exchange(ref Claimed[w], 1) != 0) return;
            try
            {
                var (s, e) = Slice(_jobCount, _jobWorkers, w);
                if (e > s) _jobFn(_jobState, s, e, w);
            }
            catch (Exception ex)
            {
                Interlocked.CompareExchange(ref _failure, ExceptionDispatchInfo.Capture(ex), null);
            }
            finally
            {
                Interlocked.Decrement(ref _remaining);
            }
        }

        private static void StartWorker(int index)
        {
            var box = new Mailbox();
            var t = new Thread(() => WorkerLoop(box, index), 256 * 1024)
            {
                IsBackground = true,
                Name = $"camcnn-worker-{index}",
            };
            Workers.Add(box);
            t.Start();
        }

        private static void WorkerLoop(Mailbox box, int index)
        {
            _insideWorker = true; // a For called from inside a slice runs inline
            long seen = 0;
            while (true)
            {
                seen = WaitForJob(box, seen);
                // Its own slice first, then any other nobody has started. A late worker finds them all claimed.
                TryRunSlice(index);
                int workers = Volatile.Read(ref _jobWorkers);
                for (int w = 0; w < workers && w < MaxSlices; w++) TryRunSlice(w);
            }
        }

        private static long WaitForJob(Mailbox box, long seen)
        {
            for (int i = 0; i < SpinLimit; i++)
            {
                long g = Volatile.Read(ref box.Generation);
                if (g != seen) return g;
                if (i < SpinLimit - 100) Thread.SpinWait(20);
                else Thread.Yield();
            }
            lock (Sleep)
            {
                Interlocked.Increment(ref _sleepers); // full fence, paired with the Increment of Generation in Run
                long g;
                while ((g = Volatile.Read(ref box.Generation)) == seen) Monitor.Wait(Sleep);
                Interlocked.Decrement(ref _sleepers);
                return g;
            }
        }
    }
}
