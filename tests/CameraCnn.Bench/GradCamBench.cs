// GradCamBench: what Grad-CAM costs after a forward, as a share of that forward, on the fused ResNet18 backbone with a
// teach-style head (512 features -> 3 classes, the live window's case): at the default layer (the 512 x 7 x 7 output of
// the last stage) and at the last layer of each earlier stage (14 x 14, 28 x 28, 56 x 56: the backward then crosses
// fused convs). Every iteration times one forward, then each layer's Compute on that forward: medians and ratios.
// --per-conv instead times each fused conv's forward against its input-gradient backward (one thread, same input).
//   dotnet run -c Release --project tests/CameraCnn.Bench -- gradcam [--model FILE.onnx] [--threads 1,2] [--iterations 40] [--per-conv]
using System.Diagnostics;
using CameraCnn.Engine;
using CameraCnn.Engine.Explain;
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Optimization;
using CameraCnn.Engine.Teach;

namespace CameraCnn.Bench;

public static class GradCamBench
{
    public static int Run(string[] args)
    {
        string? model = null;
        int[] threads = [1, 2];
        int iterations = 40;
        bool perConv = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--model": model = args[++i]; break;
                case "--threads": threads = args[++i].Split(',').Select(int.Parse).ToArray(); break;
                case "--iterations": iterations = int.Parse(args[++i]); break;
                case "--per-conv": perConv = true; break;
                default:
                    Console.Error.WriteLine($"unknown argument '{args[i]}'\nusage: gradcam [--model FILE.onnx] [--threads 1,2] [--iterations 40] [--per-conv]");
                    return 2;
            }
        }
        string? path = Program.ResolveModel(model);
        if (path is null)
        {
            Console.Error.WriteLine("no model: pass --model FILE.onnx (the ResNet18 backbone)");
            return 2;
        }
        var graph = InferenceFusion.Fuse(Model.Load(path).Graph);
        var features = graph.Output;
        var layers = GradCam.SpatialLayers(graph, features);
        var rng = new Random(1);
        var input = graph.Inputs[0];
        var x = new Tensor(input.InputShape!.Select(d => d < 0 ? 1 : d).ToArray());
        for (int i = 0; i < x.Length; i++) x.Data[i] = rng.NextSingle() * 200 - 100;
        graph.Forward(x);
        int dim = features.Output.Length;
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => (rng.NextSingle() - 0.5f) * 0.1f).ToArray();
        var head = new ClassifierHead(dim, 0, ["a", "b", "c"], R(3 * dim), R(3), null, null);
        // The default layer, then the last layer at each larger map size.
        var chosen = layers.GroupBy(n => n.Output.H).OrderBy(g => g.Key).Select(g => g.Last()).ToList();
        var cams = chosen.Select(n => new GradCam(graph, features, n)).ToList();
        Console.WriteLine($"model {Path.GetFileName(path)} (fused), head {head}; {iterations} iterations after 5 warm-up");
        if (perConv)
        {
            PerConv(graph, rng, iterations);
            return 0;
        }
        foreach (int t in threads)
        {
            Parallelism.Threads = t;
            var forward = new List<double>();
            var cam = cams.Select(_ => new List<double>()).ToList();
            var ratio = cams.Select(_ => new List<double>()).ToList();
            var bytes = new long[cams.Count];
            for (int it = -5; it < iterations; it++)
            {
                long t0 = Stopwatch.GetTimestamp();
                graph.Forward(x);
                double f = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                if (it >= 0) forward.Add(f);
                for (int k = 0; k < cams.Count; k++)
                {
                    long a0 = GC.GetAllocatedBytesForCurrentThread();
                    long t1 = Stopwatch.GetTimestamp();
                    cams[k].Compute(head, it & 1);
                    double c = Stopwatch.GetElapsedTime(t1).TotalMilliseconds;
                    if (it < 0) continue;
                    bytes[k] += GC.GetAllocatedBytesForCurrentThread() - a0;
                    cam[k].Add(c);
                    ratio[k].Add(c / f);
                }
            }
            double fm = Program.Median(forward);
            Console.WriteLine($"{t} thread(s): forward median {fm:F2} ms");
            for (int k = 0; k < cams.Count; k++)
            {
                var n = cams[k].Layer;
                Console.WriteLine($"  Grad-CAM at {n.Name,-18} {n.Output.C}x{n.Output.H}x{n.Output.W}: median {Program.Median(cam[k]):F3} ms = " +
                                  $"{100 * Program.Median(cam[k]) / fm:F2} % of the forward (median of per-iteration ratios {100 * Program.Median(ratio[k]):F2} %); " +
                                  $"backward through {cams[k].Path.Steps.Count} layer(s); {bytes[k]} bytes allocated in {iterations} Computes");
            }
        }
        return 0;
    }

    /// <summary>Each fused conv of the graph: its forward and its input-gradient backward, one thread, alternated.</summary>
    private static void PerConv(Graph graph, Random rng, int iterations)
    {
        Parallelism.Threads = 1;
        foreach (var n in graph.Nodes.Where(n => n.Layer is FusedConv2d))
        {
            var conv = (FusedConv2d)n.Layer!;
            var values = n.Inputs.Select(i => i.Output).ToArray();
            var dY = new Tensor(n.Output.Shape);
            for (int i = 0; i < dY.Length; i++) dY.Data[i] = rng.NextSingle() - 0.5f;
            var dX = values.Select(v => (Tensor?)new Tensor(v.Shape)).ToArray();
            var forward = new List<double>();
            var backward = new List<double>();
            for (int r = -2; r < iterations; r++)
            {
                long t0 = Stopwatch.GetTimestamp();
                conv.Forward(values, n.Output);
                long t1 = Stopwatch.GetTimestamp();
                conv.BackwardInputs(values, n.Output, dY, dX);
                if (r < 0) continue;
                forward.Add(Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds);
                backward.Add(Stopwatch.GetElapsedTime(t1).TotalMilliseconds);
            }
            var w = conv.Window;
            Console.WriteLine($"{n.Name,-26} {Tensor.Format(n.Output.Shape)} {w.KH}x{w.KW}/{w.SH}: forward median {Program.Median(forward):F2} ms " +
                              $"(min {forward.Min():F2}), input backward median {Program.Median(backward):F2} ms (min {backward.Min():F2})");
        }
    }
}
