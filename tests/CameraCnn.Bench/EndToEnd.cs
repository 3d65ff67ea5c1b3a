// EndToEnd: the whole model, ours against ONNX Runtime on the same file and input, every engine variant and thread
// count interleaved in one loop (so a change in the machine's load hits all of them alike), medians, the ratios per
// thread count and the two-thread scaling of each engine. Variants: our fused graph as the fusion chooses (Winograd
// where its rule says), the same without Winograd, and (on an AVX-512 CPU) the same with the AVX2 micro-kernels and
// transforms forced; the unfused graph on request. Prints; asserts nothing.
using System.Diagnostics;
using CameraCnn.Engine;
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Optimization;
using Microsoft.ML.OnnxRuntime;

namespace CameraCnn.Bench;

internal static class EndToEnd
{
    /// <summary>One engine variant: how to run it once (the caller sets the thread count first) and its times.</summary>
    private sealed class Variant(string name, Func<int, float[]> run)
    {
        public string Name { get; } = name;
        public Func<int, float[]> Run { get; } = run;
        public Dictionary<int, List<double>> Times { get; } = new();
        /// <summary>The calling thread's CPU time per run (1 thread: everything runs on it, ORT's ops included).</summary>
        public List<double> CpuTimes { get; } = [];
        /// <summary>Per thread count, the wall times of the runs during which that many threads each held a core throughout.</summary>
        public Dictionary<int, List<double>> CleanTimes { get; } = new();
        public Dictionary<int, double> MaxDiff { get; } = new();
        public double Median(int t) => Program.Median(Times[t]);
    }

    public static List<object> Run(string modelPath, Tensor x, int[] threads, int iterations, bool unfused)
    {
        var source = Model.Load(modelPath).Graph;
        var fused = InferenceFusion.Fuse(source);
        var noWinograd = InferenceFusion.Fuse(source, new FusionOptions { Winograd = false });
        Tensor[] inputs = [x];
        var variants = new List<Variant>
        {
            new("ours", _ => fused.Forward(x).Data),
            new("ours no-Winograd", _ => noWinograd.Forward(x).Data),
        };
        if (Gemm.DetectedPath == GemmPath.Avx512)
        {
            // Its own fused graph: a FusedConv2d repacks its weights when the path changes, so each graph keeps one.
            var avx2 = InferenceFusion.Fuse(source);
            variants.Add(new("ours AVX2", _ =>
            {
                Gemm.ForcePath(GemmPath.Avx2);
                try { return avx2.Forward(x).Data; }
                finally { Gemm.ForcePath(null); }
            }));
        }
        if (unfused) variants.Add(new("ours unfused", _ => source.Forward(x).Data));

        var sessions = new Dictionary<int, (InferenceSession Session, Func<float[]> Run)>();
        var ortOptions = new List<IDisposable>();
        foreach (int t in threads)
        {
            var options = new SessionOptions
            {
                IntraOpNumThreads = t,
                InterOpNumThreads = 1,
                ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
                GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            };
            var session = new InferenceSession(modelPath, options);
            var ortInput = OrtValue.CreateTensorValueFromMemory(x.Data, x.Shape.Select(d => (long)d).ToArray());
            var runOptions = new RunOptions();
            ortOptions.AddRange([options, ortInput, runOptions, session]);
            string[] inNames = [session.InputMetadata.Keys.First()];
            string[] outNames = session.OutputMetadata.Keys.ToArray();
            sessions[t] = (session, () =>
            {
                using var outputs = session.Run(runOptions, inNames, [ortInput], outNames);
                return outputs[0].GetTensorDataAsSpan<float>().ToArray();
            });
        }
        var ort = new Variant($"ORT {OrtVersion()}", t => sessions[t].Run());

        try
        {
            var all = variants.Append(ort).ToList();
            foreach (int t in threads)
            {
                Parallelism.Threads = t;
                foreach (var v in all)
                {
                    v.Times[t] = [];
                    for (int i = 0; i < 5; i++) v.Run(t); // warm-up: JIT tiers, buffers, ORT's arena
                }
                float[] want = ort.Run(t);
                double maxAbs = want.Max(Math.Abs);
                foreach (var v in variants)
                {
                    float[] got = v.Run(t);
                    double d = 0;
                    for (int i = 0; i < Math.Min(got.Length, want.Length); i++) d = Math.Max(d, Math.Abs(got[i] - want[i]));
                    v.MaxDiff[t] = d / maxAbs;
                }
            }
            for (int i = 0; i < iterations; i++)
                foreach (int t in threads)
                {
                    Parallelism.Threads = t;
                    // Each round starts with the next variant, so none always runs first after the pause.
                    for (int j = 0; j < all.Count; j++)
                    {
                        var v = all[(i + j) % all.Count];
                        // Every run starts with this process quiet: ORT's intra-op threads spin for 50-100 ms after a run
                        // (ours for ~1 ms), and a run started meanwhile shares the cores with them.
                        CpuTime.WaitForQuiet();
                        var before = CpuTime.AllThreads();
                        double c0 = CpuTime.ThreadMs();
                        long t0 = Stopwatch.GetTimestamp();
                        v.Run(t);
                        double wall = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                        v.Times[t].Add(wall);
                        if (t == 1) v.CpuTimes.Add(CpuTime.ThreadMs() - c0);
                        if (CpuTime.HeldCores(before, CpuTime.AllThreads(), wall) >= t)
                        {
                            if (!v.CleanTimes.TryGetValue(t, out var clean)) v.CleanTimes[t] = clean = [];
                            clean.Add(wall);
                        }
                    }
                }
            // Bytes allocated per forward, measured after the timed rounds (the JIT's tier-up allocates during the first ones).
            long bytes = GC.GetAllocatedBytesForCurrentThread();
            foreach (int t in threads)
            {
                Parallelism.Threads = t;
                for (int i = 0; i < 10; i++) fused.Forward(inputs);
            }
            long allocated = (GC.GetAllocatedBytesForCurrentThread() - bytes) / (10 * threads.Length);
            return Print(modelPath, x, threads, iterations, variants, ort, fused, allocated);
        }
        finally
        {
            foreach (var d in ortOptions) d.Dispose();
        }
    }

    private static List<object> Print(string modelPath, Tensor x, int[] threads, int iterations, List<Variant> variants, Variant ort,
        Graph fused, long allocatedPerForward)
    {
        var convs = fused.Nodes.Select(n => n.Layer).OfType<FusedConv2d>().ToList();
        string algorithms = string.Join(", ", convs.GroupBy(c => c.Algorithm == "winograd" ? $"winograd F({c.WinogradTile}x{c.WinogradTile},3x3)" : c.Algorithm)
            .Select(g => $"{g.Count()} {g.Key}"));
        bool avx512Off = !System.Runtime.Intrinsics.X86.Avx512F.IsSupported && System.Runtime.Intrinsics.X86.Avx2.IsSupported;
        Console.WriteLine();
        Console.WriteLine($"{Path.GetFileName(modelPath)} {Tensor.Format(x.Shape)}: ours against {ort.Name} (ORT_ENABLE_ALL, intra-op threads = ours, " +
            $"sequential) on the same file and input, {iterations} rounds with every variant and thread count interleaved, medians (min), ms:");
        Console.WriteLine($"  ours: GEMM path {Gemm.DetectedPath}{(avx512Off ? " (AVX-512 switched off: DOTNET_EnableAVX512=0)" : "")}; " +
            $"convs: {algorithms}; {allocatedPerForward} bytes allocated per forward");
        if (variants.Any(v => v.Name == "ours AVX2"))
            Console.WriteLine("  ours AVX2: the same fused graph with the AVX2 micro-kernels and Winograd transforms forced (ORT cannot be held to AVX2: " +
                "MLAS picks its kernels from CPUID)");
        Console.WriteLine($"  {"threads",7} | " + string.Join(" | ", variants.Append(ort).Select(v => $"{v.Name,20}")) + " | " +
            string.Join(" | ", variants.Select(v => $"{v.Name + "/ORT",24}")));
        var rows = new List<object>();
        foreach (int t in threads)
        {
            var entry = new Dictionary<string, object> { ["threads"] = t };
            string cells = string.Join(" | ", variants.Append(ort).Select(v => $"{v.Median(t),10:F2} ({v.Times[t].Min(),7:F2})"));
            string ratios = string.Join(" | ", variants.Select(v => $"{v.Median(t) / ort.Median(t),24:F3}"));
            Console.WriteLine($"  {t,7} | {cells} | {ratios}");
            foreach (var v in variants.Append(ort))
            {
                string key = Key(v.Name);
                entry[$"{key}_median_ms"] = Math.Round(v.Median(t), 3);
                entry[$"{key}_min_ms"] = Math.Round(v.Times[t].Min(), 3);
                if (v != ort) entry[$"{key}_over_ort"] = Math.Round(v.Median(t) / ort.Median(t), 3);
                if (v.MaxDiff.TryGetValue(t, out double d)) entry[$"{key}_max_diff_relative"] = d;
            }
            if (t == 1 && CpuTime.Available)
                foreach (var v in variants.Append(ort)) entry[$"{Key(v.Name)}_cpu_median_ms"] = Math.Round(Program.Median(v.CpuTimes), 3);
            entry["allocated_bytes_per_forward"] = allocatedPerForward;
            rows.Add(entry);
        }
        if (threads.Contains(1) && CpuTime.Available)
            Console.WriteLine("  1 thread, CPU time of the calling thread (blind to time the OS gave the core to other processes), medians: " +
                string.Join(", ", variants.Append(ort).Select(v => $"{v.Name} {Program.Median(v.CpuTimes):F2} ms")) + "; " +
                string.Join(", ", variants.Select(v => $"{v.Name}/ORT {Program.Median(v.CpuTimes) / Program.Median(ort.CpuTimes):F3}")));
        foreach (int t in threads.Where(t => t > 1 && CpuTime.Available))
        {
            // On a shared machine most runs lose a core to other processes for a while; the runs in which t threads of
            // this process each ran for (nearly) the whole wall time show what t free cores give.
            var clean = variants.Append(ort).Select(v => v.CleanTimes.GetValueOrDefault(t) ?? []).ToList();
            Console.WriteLine($"  {t} threads, only the runs in which {t} threads each held a core throughout (count of {iterations}): " +
                string.Join(", ", variants.Append(ort).Zip(clean, (v, c) => c.Count == 0 ? $"{v.Name} none" : $"{v.Name} {Program.Median(c):F2} ms ({c.Count})")) +
                (clean[0].Count > 0 && clean[^1].Count > 0 ? $"; ours/ORT {Program.Median(clean[0]) / Program.Median(clean[^1]):F3}" : ""));
        }
        Console.WriteLine("  max |ours - ORT| / max |ORT|: " + string.Join(", ",
            variants.Select(v => $"{v.Name} {v.MaxDiff.Values.Max():E1}")));
        if (threads.Contains(1) && threads.Length > 1)
            foreach (int t in threads.Where(t => t > 1))
                Console.WriteLine($"  {t}-thread scaling (1-thread median / {t}-thread median): " + string.Join(", ",
                    variants.Append(ort).Select(v => $"{v.Name} {v.Median(1) / v.Median(t):F2}x")));
        if (variants.FirstOrDefault(v => v.Name == "ours AVX2") is { } a2)
            Console.WriteLine("  ours AVX2 / ours AVX-512: " + string.Join(", ", threads.Select(t => $"{t} thr {a2.Median(t) / variants[0].Median(t):F2}")));
        return rows;
    }

    private static string Key(string name) => name.StartsWith("ORT") ? "ort" : name.Replace(' ', '_').Replace('-', '_').ToLowerInvariant();

    private static string OrtVersion() => typeof(InferenceSession).Assembly.GetName().Version?.ToString(3) ?? "?";
}

/// <summary>
/// Thread CPU times (Linux clock_gettime: CLOCK_THREAD_CPUTIME_ID, and the per-thread clock of any thread of this process
/// by its id); elsewhere unavailable.
/// </summary>
internal static class CpuTime
{
    /// <summary>CPU time (ms) of every thread of this process, by thread id.</summary>
    public static Dictionary<int, double> AllThreads()
    {
        var times = new Dictionary<int, double>();
        if (!Available) return times;
        foreach (var dir in Directory.EnumerateDirectories("/proc/self/task"))
            if (int.TryParse(Path.GetFileName(dir), out int tid) && ClockGetTime(ThreadClock(tid), out var t) == 0)
                times[tid] = t.Seconds * 1e3 + t.Nanoseconds * 1e-6;
        return times;
    }

    /// <summary>
    /// Sleeps until this process's threads use less than a tenth of a core over 5 ms (workers that spin after a run have
    /// stopped), at least 5 ms and at most 300 ms.
    /// </summary>
    public static void WaitForQuiet()
    {
        var watch = Stopwatch.StartNew();
        do
        {
            var before = AllThreads();
            Thread.Sleep(5);
            var after = AllThreads();
            double used = after.Sum(kv => before.TryGetValue(kv.Key, out double b) ? kv.Value - b : 0);
            if (used < 0.5) return;
        }
        while (watch.ElapsedMilliseconds < 300);
    }

    /// <summary>How many threads ran at least 95 % of the wall time between two snapshots (each held a core throughout).</summary>
    public static int HeldCores(Dictionary<int, double> before, Dictionary<int, double> after, double wallMs)
        => after.Count(kv => before.TryGetValue(kv.Key, out double b) && kv.Value - b >= 0.95 * wallMs);

    /// <summary>The kernel's CPU-time clock id of thread tid (MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)).</summary>
    private static int ThreadClock(int tid) => (~tid << 3) | 6;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out Timespec ts);

    private struct Timespec
    {
        public long Seconds, Nanoseconds;
    }

    public static bool Available { get; } = OperatingSystem.IsLinux();

    public static double ThreadMs()
    {
        if (!Available || ClockGetTime(3, out var t) != 0) return 0;
        return t.Seconds * 1e3 + t.Nanoseconds * 1e-6;
    }
}
