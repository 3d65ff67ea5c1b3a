// ParallelismTests: the worker pool. Every index of the range is visited exactly once in contiguous slices with
// distinct worker ids; nested calls run inline; a body's exception reaches the caller and the pool keeps working;
// two threads calling at once both get complete results (one of them inline); a thread that asks for it runs every call
// alone, as one slice on itself; the struct form allocates nothing. ForChunks hands out the range in chunks that cover it
// once, each run by one worker slot.
using CameraCnn.Engine.Kernels;

namespace CameraCnn.Engine.Tests.Kernels;

[Collection("Parallelism")]
public sealed class ParallelismTests
{
    private struct CountBody : IParallelBody
    {
        public int[] Hits;
        public int[] WorkerOfIndex;

        public void Run(int start, int end, int worker)
        {
            for (int i = start; i < end; i++)
            {
                Interlocked.Increment(ref Hits[i]);
                WorkerOfIndex[i] = worker;
            }
        }
    }

    private static void WithThreads(int threads, Action body)
    {
        int saved = Parallelism.Threads;
        try
        {
            Parallelism.Threads = threads;
            body();
        }
        finally
        {
            Parallelism.Threads = saved;
        }
    }

    /// <summary>Records every chunk it is given: (start, end, worker).</summary>
    private struct ChunkLog : IParallelBody
    {
        public System.Collections.Concurrent.ConcurrentBag<(int Start, int End, int Worker)> Chunks;

        public void Run(int start, int end, int worker) => Chunks.Add((start, end, worker));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Chunks_cover_the_range_once_each_claimed_by_one_worker(int threads) => WithThreads(threads, () =>
    {
        foreach (int count in new[] { 0, 1, 5, 64, 1001 })
            foreach (int chunk in new[] { 1, 3, 64, 2000 })
            {
                var body = new ChunkLog { Chunks = [] };
                Parallelism.ForChunks(count, chunk, ref body);
                var got = body.Chunks.OrderBy(c => c.Start).ToList();
                int expected = count == 0 ? 0 : threads == 1 || chunk >= count ? 1 : (count + chunk - 1) / chunk;
                Assert.Equal(expected, got.Count);
                int next = 0;
                foreach (var (start, end, worker) in got)
                {
                    Assert.Equal(next, start); // contiguous, no gap, no overlap
                    Assert.True(end > start);
                    Assert.InRange(worker, 0, threads - 1);
                    next = end;
                }
                Assert.Equal(count, next);
            }
    });

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    public void Visits_every_index_once_in_contiguous_slices(int threads) => WithThreads(threads, () =>
    {
        foreach (int count in new[] { 0, 1, 2, 3, 7, 64, 1001 })
            foreach (int minPer in new[] { 1, 4, 100 })
                for (int rep = 0; rep < 20; rep++)
                {
                    var body = new CountBody { Hits = new int[count], WorkerOfIndex = new int[count] };
                    Parallelism.For(count, minPer, ref body);
                    int workers = Parallelism.WorkerCount(count, minPer);
                    Assert.All(body.Hits, h => Assert.Equal(1, h));
                    // Slice w is [count*w/workers, count*(w+1)/workers), and whoever runs it is told worker id w.
                    for (int w = 0; w < workers; w++)
                        for (int i = (int)((long)count * w / workers); i < (int)((long)count * (w + 1) / workers); i++)
                            Assert.Equal(w, body.WorkerOfIndex[i]);
                    if (count > 0) Assert.True(body.WorkerOfIndex[^1] < Math.Max(1, workers));
                }
    });

    [Fact]
    public void Nested_calls_run_inline() => WithThreads(2, () =>
    {
        int[] inner = new int[2];
        Parallelism.For(2, 1, (s, e, w) =>
        {
            Assert.True(Parallelism.InsideWorker);
            // A nested call is one slice on the current thread: worker 0, the whole range.
            Parallelism.For(10, 1, (s2, e2, w2) =>
            {
                Assert.Equal((0, 10, 0), (s2, e2, w2));
                Interlocked.Increment(ref inner[w]);
            });
        });
        Assert.Equal([1, 1], inner);
        Assert.False(Parallelism.InsideWorker);
    });

    [Fact]
    public void Exceptions_reach_the_caller_and_the_pool_recovers() => WithThreads(2, () =>
    {
        var ex = Assert.Throws<InvalidOperationException>(() =>
            Parallelism.For(2, 1, (s, e, w) => { if (s > 0) throw new InvalidOperationException("slice 1"); }));
        Assert.Equal("slice 1", ex.Message);
        var body = new CountBody { Hits = new int[100], WorkerOfIndex = new int[100] };
        Parallelism.For(100, 1, ref body);
        Assert.All(body.Hits, h => Assert.Equal(1, h));
    });

    [Fact]
    public void Two_calling_threads_both_complete_their_ranges() => WithThreads(2, () =>
    {
        // Whichever thread gets the pool, both see the same slices with the same worker ids (determinism).
        var errors = new List<string>();
        var threads = Enumerable.Range(0, 2).Select(t => new Thread(() =>
        {
            for (int rep = 0; rep < 300; rep++)
            {
                var body = new CountBody { Hits = new int[257], WorkerOfIndex = new int[257] };
                Parallelism.For(257, 1, ref body);
                if (body.Hits.Any(h => h != 1)) lock (errors) errors.Add($"thread {t} rep {rep}: coverage");
                for (int i = 0; i < 257; i++)
                    if (body.WorkerOfIndex[i] != (i < 128 ? 0 : 1)) lock (errors) errors.Add($"thread {t} rep {rep}: index {i} in slice {body.WorkerOfIndex[i]}");
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.Empty(errors);
    });

    [Fact]
    public void A_thread_marked_inline_runs_every_range_alone_as_one_slice() => WithThreads(2, () =>
    {
        int caller = -1;
        var threadOfIndex = new int[257];
        var workers = new HashSet<int>();
        var t = new Thread(() =>
        {
            Parallelism.InlineOnThisThread = true;
            caller = Environment.CurrentManagedThreadId;
            Parallelism.For(257, 1, (start, end, worker) =>
            {
                lock (workers) workers.Add(worker);
                for (int i = start; i < end; i++) threadOfIndex[i] = Environment.CurrentManagedThreadId;
            });
        });
        t.Start();
        t.Join();
        Assert.Equal([0], workers);
        Assert.All(threadOfIndex, id => Assert.Equal(caller, id));
        Assert.False(Parallelism.InlineOnThisThread); // per thread: this one still uses the pool
    });

    private struct NoopBody : IParallelBody
    {
        public void Run(int start, int end, int worker) { }
    }

    [Fact]
    public void Struct_body_dispatch_allocates_nothing() => WithThreads(2, () =>
    {
        var body = new NoopBody();
        for (int i = 0; i < 10; i++) Parallelism.For(64, 1, ref body); // pool threads started
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++) Parallelism.For(64, 1, ref body);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    });
}
