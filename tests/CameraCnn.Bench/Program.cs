// CameraCnn.Bench: the engine against ONNX Runtime on the same ONNX file in the same run (1 and 2 threads, every
// variant interleaved, medians and ratios, EndToEnd), each layer inside whole forwards with and without Winograd
// (LayerBench) beside ONNX Runtime's own per-node times (OrtLayers), the packed GEMM at the model's conv shapes against
// the machine's measured FMA peak, and the SIMD micro-kernels against the scalar reference; the machine line includes
// the cache line round trip between two threads (CrossCore). `--rule` times one conv over channel counts and map
// sizes, GEMM against Winograd. Not a test: nothing here asserts; it prints.
//   dotnet run -c Release --project tests/CameraCnn.Bench -- --model resnet18.onnx [--threads 1,2] [--iterations 30]
//   dotnet run -c Release --project tests/CameraCnn.Bench -- gradcam [...]   (GradCamBench.cs)
//   dotnet run -c Release --project tests/CameraCnn.Bench -- finetune [...]  (FineTuneBench.cs)
using System.Diagnostics;
using System.Text.Json;
using CameraCnn.Engine;
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Optimization;
using Microsoft.ML.OnnxRuntime;

namespace CameraCnn.Bench;

public static unsafe class Program
{
    internal static readonly Dictionary<string, object> Json = new();

    public static int Main(string[] args)
    {
        if (args.FirstOrDefault() == "gradcam") return GradCamBench.Run(args[1..]);
        if (args.FirstOrDefault() == "finetune") return FineTuneBench.Run(args[1..]);
        string? model = null;
        int[] threads = [1, 2];
        int iterations = 30;
        bool gemm = true, e2e = true, reference = true, json = false, layers = true, unfused = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--model": model = args[++i]; break;
                case "--threads": threads = args[++i].Split(',').Select(int.Parse).ToArray(); break;
                case "--iterations": iterations = int.Parse(args[++i]); break;
                case "--no-gemm": gemm = false; break;
                case "--no-model": e2e = false; break;
                case "--no-reference": reference = false; break;
                case "--no-layers": layers = false; break;
                case "--unfused": unfused = true; break;
                case "--rule": LayerBench.Rule(); return 0;
                case "--json": json = true; break;
                default:
                    Console.Error.WriteLine($"unknown argument '{args[i]}'\nusage: --model FILE.onnx [--threads 1,2] [--iterations 30] [--no-gemm] [--no-model] [--no-reference] [--no-layers] [--unfused] [--json] | --rule");
                    return 2;
            }
        }
        model = ResolveModel(model);
        if (model is null)
        {
            Console.Error.WriteLine("no model: pass --model FILE.onnx (the ResNet18 backbone ships in the NuGet package microsoft.ml.dnnimagefeaturizer.resnet18)");
            return 2;
        }

        Machine(threads);
        var source = Model.Load(model).Graph;
        var graph = InferenceFusion.Fuse(source);
        Json["model"] = Path.GetFileName(model);
        if (e2e)
        {
            Json["end_to_end"] = EndToEnd.Run(model, ModelInput(graph), threads, iterations, unfused);
            double after = CrossCore.RoundTripNs();
            Console.WriteLine($"cache line round trip between two threads after the model runs: {CrossCore.Describe(after)}");
            Json["round_trip_ns_after"] = Math.Round(after);
        }
        if (layers)
        {
            Json["layers"] = LayerBench.Run(source, ModelInput(graph), threads, Math.Max(5, iterations / 2));
            Json["ort_layers"] = OrtLayers.Run(model, ModelInput(graph), threads, Math.Max(20, iterations));
        }
        if (gemm) GemmAtLayerShapes(graph, threads);
        if (reference) VersusScalar();
        if (json) Console.WriteLine(JsonSerializer.Serialize(Json));
        return 0;
    }

    internal static string? ResolveModel(string? arg)
    {
        if (arg is not null && File.Exists(arg)) return arg;
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        string[] candidates =
        [
            Path.Combine(AppContext.BaseDirectory, "models", arg ?? "resnet18.onnx"),
            Path.Combine(home, ".nuget/packages/microsoft.ml.dnnimagefeaturizer.resnet18/0.23.1/tools/DnnImageModels/ResNet18Onnx/ResNet18.onnx"),
        ];
        if (arg is not null && arg != "resnet18.onnx" && arg != "resnet18") return null;
        return candidates.FirstOrDefault(File.Exists);
    }

    internal static double Median(IEnumerable<double> values)
    {
        var s = values.Order().ToArray();
        return s.Length == 0 ? double.NaN : s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    private static readonly Dictionary<int, double> Peak = new();

    private static void Machine(int[] threads)
    {
        string cpu = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"))?.Split(':', 2)[1].Trim() ?? "?" : "?";
        Console.WriteLine($"machine: {cpu}, {Environment.ProcessorCount} logical processors, GEMM path {Gemm.DetectedPath} " +
            $"(AVX-512 8x48, AVX2 6x16, scalar 4x4 micro-kernels; this CPU: {string.Join(", ", Enum.GetValues<GemmPath>().Where(Gemm.IsSupported))})");
        foreach (int t in threads.Append(1).Distinct().Order())
        {
            Peak[t] = FmaPeak.MeasureGflops(t, trials: 41);
            Console.WriteLine($"measured FMA peak, {t} thread(s): {Peak[t]:F1} GFLOP/s (best of 41 runs of 30 ms; {FmaPeak.Lanes}-float FMAs)");
        }
        double trip = CrossCore.RoundTripNs();
        Console.WriteLine($"cache line round trip between two threads: {CrossCore.Describe(trip)} (CrossCore.cs: on a 2-vCPU VM, " +
            "100-180 ns when the host puts both in one core complex, 400-500 ns in two)");
        Json["round_trip_ns"] = Math.Round(trip);
        Json["cpu"] = cpu;
        Json["path"] = Gemm.DetectedPath.ToString();
        Json["peak_gflops"] = Peak.ToDictionary(p => p.Key.ToString(), p => Math.Round(p.Value, 1));
    }

    /// <summary>One product C[M x N] = A (pre-packed, as conv weights are) * B, timed: median ms of `runs`.</summary>
    private static double TimeGemm(int M, int N, int K, int runs, GemmPath path)
    {
        var rng = new Random(1);
        var a = new float[M * K];
        var b = GC.AllocateUninitializedArray<float>(K * N, pinned: true);
        var c = GC.AllocateUninitializedArray<float>(M * N, pinned: true);
        for (int i = 0; i < a.Length; i++) a[i] = rng.NextSingle() - 0.5f;
        for (int i = 0; i < b.Length; i++) b[i] = rng.NextSingle() - 0.5f;
        var packed = new PackedMatrix();
        packed.Pack(a, M, K, K, false, path);
        var times = new double[runs];
        fixed (float* pb = b, pc = c)
        {
            for (int r = -2; r < runs; r++)
            {
                var src = new MatrixPanels(pb, N, false);
                long t0 = Stopwatch.GetTimestamp();
                GemmDriver.Run(path, new GemmDriver.ASource { Packed = packed }, ref src, M, N, K, pc, N, false);
                if (r >= 0) times[r] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            }
        }
        return Median(times);
    }

    private static void GemmAtLayerShapes(Graph graph, int[] threads)
    {
        var shapes = graph.InferShapes(graph.Inputs.Select(i => i.InputShape!.Select(d => d < 0 ? 1 : d).ToArray()).ToList());
        var gemms = new List<(int M, int N, int K, int Count)>();
        foreach (var node in graph.Nodes)
            if (node.Layer is FusedConv2d conv && conv.Groups == 1)
            {
                var y = shapes[node.Name];
                var key = (conv.OutChannels, y[2] * y[3], conv.InChannels * conv.Window.KH * conv.Window.KW);
                int at = gemms.FindIndex(g => (g.M, g.N, g.K) == key);
                if (at >= 0) gemms[at] = gemms[at] with { Count = gemms[at].Count + 1 };
                else gemms.Add((key.Item1, key.Item2, key.Item3, 1));
            }
        gemms.Add((1024, 1024, 1024, 0)); // the "large GEMM"
        Console.WriteLine();
        Console.WriteLine("GEMM C[M x N] = A[M x K] (pre-packed) * B[K x N] at the model's conv shapes (M = out channels, N = output pixels,");
        Console.WriteLine("K = in channels x kernel), median of 15 runs, against the measured peak of the same thread count:");
        Console.WriteLine($"{"M",6} {"N",6} {"K",6} {"convs",5} | " + string.Join(" | ", threads.Select(t => $"{t} thr: ms   GFLOP/s  %peak")));
        var rows = new List<object>();
        foreach (var (M, N, K, count) in gemms)
        {
            var cells = new List<string>();
            var entry = new Dictionary<string, object> { ["m"] = M, ["n"] = N, ["k"] = K, ["convs"] = count };
            foreach (int t in threads)
            {
                Parallelism.Threads = t;
                double ms = TimeGemm(M, N, K, 15, Gemm.DetectedPath);
                double gf = 2.0 * M * N * K / ms / 1e6;
                cells.Add($"{ms,8:F3} {gf,8:F1} {100 * gf / Peak[t],5:F1}%");
                entry[$"t{t}_ms"] = Math.Round(ms, 3);
                entry[$"t{t}_gflops"] = Math.Round(gf, 1);
                entry[$"t{t}_percent_of_peak"] = Math.Round(100 * gf / Peak[t], 1);
            }
            rows.Add(entry);
            Console.WriteLine($"{M,6} {N,6} {K,6} {(count == 0 ? "large" : count.ToString()),5} | " + string.Join(" | ", cells));
        }
        Json["gemm"] = rows;
    }

    private static void VersusScalar()
    {
        const int M = 128, N = 784, K = 1152; // the ResNet18 layer2 3x3 conv
        Console.WriteLine();
        Console.WriteLine($"one thread, GEMM {M}x{N}x{K} (ResNet18 layer2 3x3 conv): the scalar reference (GemmReference, double sums)");
        Console.WriteLine("and each micro-kernel path (median ms; speed-up over the reference):");
        Parallelism.Threads = 1;
        var rng = new Random(2);
        var a = new float[M * K];
        var b = new float[K * N];
        var c = new float[M * N];
        for (int i = 0; i < a.Length; i++) a[i] = rng.NextSingle();
        for (int i = 0; i < b.Length; i++) b[i] = rng.NextSingle();
        var refTimes = new double[3];
        for (int r = 0; r < refTimes.Length; r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            GemmReference.Multiply(false, false, M, N, K, a, K, b, N, c, N, false);
            refTimes[r] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        double refMs = Median(refTimes);
        Console.WriteLine($"  GemmReference      {refMs,9:F2} ms   1.0x");
        var result = new Dictionary<string, object> { ["shape"] = new[] { M, N, K }, ["reference_ms"] = Math.Round(refMs, 2) };
        foreach (var path in Enum.GetValues<GemmPath>().Where(Gemm.IsSupported))
        {
            double ms = TimeGemm(M, N, K, 9, path);
            Console.WriteLine($"  packed {path,-10} {ms,9:F2} ms {refMs / ms,5:F0}x   ({2.0 * M * N * K / ms / 1e6:F1} GFLOP/s)");
            result[$"{path}_ms"] = Math.Round(ms, 3);
        }
        Json["versus_reference"] = result;
    }

    /// <summary>The model's input at batch 1, random in roughly the backbone's range (BGR minus a mean image).</summary>
    internal static Tensor ModelInput(Graph graph)
    {
        if (graph.Inputs.Count != 1) throw new InvalidOperationException("the bench needs a single-input model");
        var x = new Tensor(graph.Inputs[0].InputShape!.Select(d => d < 0 ? 1 : d).ToArray());
        var rng = new Random(3);
        for (int i = 0; i < x.Length; i++) x.Data[i] = rng.NextSingle() * 255 - 128;
        return x;
    }

}
