// FmaPeak: measures what the machine's FMA units deliver, the ceiling every GEMM figure is quoted against, and whether
// AVX-512 runs at full width (512-bit FMAs at twice the 256-bit rate, Zen 5 / recent Xeons) or half width (each zmm FMA
// split into two 256-bit halves, Zen 4). Each thread runs 16 independent FMA chains (enough to cover 4-cycle latency on
// two FMA pipes); nothing is loaded or stored inside the loop. Several threads start their loops together at a barrier,
// on threads of their own, so the figure is what the cores deliver at once. Not a benchmark of anything else.
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CameraCnn.Engine.Kernels;

/// <summary>How the CPU executes 512-bit FMAs, as measured by <see cref="FmaPeak.MeasureAvx512Width"/>.</summary>
public enum Avx512Width
{
    /// <summary>No AVX-512F.</summary>
    None,
    /// <summary>Half width: a 512-bit FMA delivers about as many flops per second as a 256-bit one (double-pumped).</summary>
    Half,
    /// <summary>Full width: a 512-bit FMA delivers about twice the 256-bit rate.</summary>
    Full,
}

/// <summary>Measured peak single-precision FMA throughput.</summary>
public static class FmaPeak
{
    /// <summary>Floats per FMA instruction of the loop (the GEMM's widest vector).</summary>
    public static int Lanes => Avx512F.IsSupported ? 16 : Fma.IsSupported ? 8 : 1;

    /// <summary>
    /// GFLOP/s (2 per multiply-add) of <paramref name="threads"/> threads running the FMA loop at the same time, in the
    /// widest vector the GEMM uses: the best of <paramref name="trials"/> runs of about <paramref name="trialMilliseconds"/>
    /// each, spread out with short pauses (interference on a shared machine only ever slows a run down, so the fastest
    /// run is the machine's capability). A run's time is from the first thread's start to the last thread's end.
    /// </summary>
    public static double MeasureGflops(int threads, int trials = 15, double trialMilliseconds = 30)
        => Measure(threads, Lanes, trials, trialMilliseconds);

    /// <summary>
    /// This machine's AVX-512 width, measured once (3 short interleaved runs of each loop, ~20 ms) on first use: the
    /// kernels that are laid out differently for the two (Winograd's products) read it.
    /// </summary>
    public static Avx512Width Avx512 => _avx512 ??= MeasureAvx512Width(trials: 3, trialMilliseconds: 3).Width;

    private static Avx512Width? _avx512;

    /// <summary>
    /// One thread's 512-bit against 256-bit FMA rate (GFLOP/s each, best of <paramref name="trials"/> interleaved runs):
    /// Full when the 512-bit loop delivers at least 1.5 times the 256-bit one, Half otherwise, None without AVX-512F.
    /// </summary>
    public static (Avx512Width Width, double Gflops512, double Gflops256) MeasureAvx512Width(int trials = 9, double trialMilliseconds = 20)
    {
        if (!Avx512F.IsSupported || !Fma.IsSupported) return (Avx512Width.None, 0, 0);
        double best512 = 0, best256 = 0;
        for (int t = 0; t < trials; t++)
        {
            best512 = Math.Max(best512, Measure(1, 16, 1, trialMilliseconds));
            best256 = Math.Max(best256, Measure(1, 8, 1, trialMilliseconds));
        }
        return (best512 >= 1.5 * best256 ? Avx512Width.Full : Avx512Width.Half, best512, best256);
    }

    private static double Measure(int threads, int lanes, int trials, double trialMilliseconds)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), "at least one thread");
        // Size the trials from a short single-thread run (it also compiles the loop).
        var sw = Stopwatch.StartNew();
        Sink += Loop(lanes, 20_000);
        double perIteration = Math.Max(1e-9, sw.Elapsed.TotalSeconds / 20_000);
        long iterations = Math.Max(10_000, (long)(trialMilliseconds / 1000 / perIteration));

        var start = new long[threads];
        var end = new long[threads];
        var sinks = new float[threads];
        using var go = new Barrier(threads + 1);
        var workers = new Thread[threads];
        for (int w = 0; w < threads; w++)
        {
            int id = w;
            workers[w] = new Thread(() =>
            {
                float sink = 0;
                for (int t = 0; t < trials; t++)
                {
                    go.SignalAndWait(); // every thread released together
                    start[id] = Stopwatch.GetTimestamp();
                    sink += Loop(lanes, iterations);
                    end[id] = Stopwatch.GetTimestamp();
                    go.SignalAndWait(); // the trial is over for everyone
                }
                sinks[id] = sink;
            }, 256 * 1024) { IsBackground = true, Name = $"camcnn-fma-{id}" };
            workers[w].Start();
        }
        double best = 0;
        for (int trial = 0; trial < trials; trial++)
        {
            if (trial > 0) Thread.Sleep(10); // another job holding a core now may be gone in a moment
            go.SignalAndWait();
            go.SignalAndWait();
            double seconds = (end.Max() - start.Min()) / (double)Stopwatch.Frequency;
            best = Math.Max(best, threads * (double)iterations * 16 * lanes * 2 / seconds / 1e9);
        }
        foreach (var w in workers) w.Join();
        Sink += sinks.Sum();
        return best;
    }

    /// <summary>Keeps the loops' results alive so the JIT cannot drop them.</summary>
    private static float Sink;

    private static float Loop(int lanes, long iterations) => lanes switch
    {
        16 => Loop512(iterations),
        8 => Loop256(iterations),
        _ => LoopScalar(iterations),
    };

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float LoopScalar(long iterations)
    {
        float a0 = 1, a1 = 1, a2 = 1, a3 = 1, a4 = 1, a5 = 1, a6 = 1, a7 = 1, a8 = 1, a9 = 1, a10 = 1, a11 = 1, a12 = 1, a13 = 1, a14 = 1, a15 = 1;
        const float m = 0.99999f, c = 1e-5f;
        for (long i = 0; i < iterations; i++)
        {
            a0 = a0 * m + c; a1 = a1 * m + c; a2 = a2 * m + c; a3 = a3 * m + c; a4 = a4 * m + c; a5 = a5 * m + c; a6 = a6 * m + c; a7 = a7 * m + c;
            a8 = a8 * m + c; a9 = a9 * m + c; a10 = a10 * m + c; a11 = a11 * m + c; a12 = a12 * m + c; a13 = a13 * m + c; a14 = a14 * m + c; a15 = a15 * m + c;
        }
        return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11 + a12 + a13 + a14 + a15;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Loop512(long iterations)
    {
        var m = Vector512.Create(0.99999f);
        var c = Vector512.Create(1e-5f);
        Vector512<float> a0 = Vector512<float>.One, a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        Vector512<float> a8 = a0, a9 = a0, a10 = a0, a11 = a0, a12 = a0, a13 = a0, a14 = a0, a15 = a0;
        for (long i = 0; i < iterations; i++)
        {
            a0 = Avx512F.FusedMultiplyAdd(a0, m, c); a1 = Avx512F.FusedMultiplyAdd(a1, m, c);
            a2 = Avx512F.FusedMultiplyAdd(a2, m, c); a3 = Avx512F.FusedMultiplyAdd(a3, m, c);
            a4 = Avx512F.FusedMultiplyAdd(a4, m, c); a5 = Avx512F.FusedMultiplyAdd(a5, m, c);
            a6 = Avx512F.FusedMultiplyAdd(a6, m, c); a7 = Avx512F.FusedMultiplyAdd(a7, m, c);
            a8 = Avx512F.FusedMultiplyAdd(a8, m, c); a9 = Avx512F.FusedMultiplyAdd(a9, m, c);
            a10 = Avx512F.FusedMultiplyAdd(a10, m, c); a11 = Avx512F.FusedMultiplyAdd(a11, m, c);
            a12 = Avx512F.FusedMultiplyAdd(a12, m, c); a13 = Avx512F.FusedMultiplyAdd(a13, m, c);
            a14 = Avx512F.FusedMultiplyAdd(a14, m, c); a15 = Avx512F.FusedMultiplyAdd(a15, m, c);
        }
        var s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11 + a12 + a13 + a14 + a15;
        return Vector512.Sum(s);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Loop256(long iterations)
    {
        var m = Vector256.Create(0.99999f);
        var c = Vector256.Create(1e-5f);
        Vector256<float> a0 = Vector256<float>.One, a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        Vector256<float> a8 = a0, a9 = a0, a10 = a0, a11 = a0, a12 = a0, a13 = a0, a14 = a0, a15 = a0;
        for (long i = 0; i < iterations; i++)
        {
            a0 = Fma.MultiplyAdd(a0, m, c); a1 = Fma.MultiplyAdd(a1, m, c); a2 = Fma.MultiplyAdd(a2, m, c); a3 = Fma.MultiplyAdd(a3, m, c);
            a4 = Fma.MultiplyAdd(a4, m, c); a5 = Fma.MultiplyAdd(a5, m, c); a6 = Fma.MultiplyAdd(a6, m, c); a7 = Fma.MultiplyAdd(a7, m, c);
            a8 = Fma.MultiplyAdd(a8, m, c); a9 = Fma.MultiplyAdd(a9, m, c); a10 = Fma.MultiplyAdd(a10, m, c); a11 = Fma.MultiplyAdd(a11, m, c);
            a12 = Fma.MultiplyAdd(a12, m, c); a13 = Fma.MultiplyAdd(a13, m, c); a14 = Fma.MultiplyAdd(a14, m, c); a15 = Fma.MultiplyAdd(a15, m, c);
        }
        var s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11 + a12 + a13 + a14 + a15;
        return Vector256.Sum(s);
    }
}
