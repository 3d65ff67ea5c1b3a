// FineTuneBench: where a fine-tuning step's time goes. The part of a backbone after the cut before its last N residual
// blocks plus a 10-class head (the graph FineTuner trains), on random activations at the cut: per step the forward and
// the backward of every node, the zeroing of the gradients and the optimiser's update, as medians over the steps, with
// the CPU time the process used beside the wall time (how busy the cores were). Not a test: it prints.
// With --compare the steps alternate between the kernels as they were (one GEMM per image in the conv forward, backward
// chunks by floats only, the scalar serial AdamW; the shared small-map backward with W^T packed once is in both) and as
// they are. The alternation itself slows the new backward chunks (measured: no gain there, 11 .. 15 % in separate runs
// with --min-columns 0 against the default), so quote the backward from separate runs.
//   dotnet run -c Release --project tests/CameraCnn.Bench -- finetune [--model ResNet18.onnx] [--blocks 2] [--batch 32] [--steps 12] [--threads N] [--compare] [--min-columns N] [--dot-min-k K]
using System.Diagnostics;
using CameraCnn.Engine;
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Teach;
using CameraCnn.Engine.Training;

namespace CameraCnn.Bench;

internal static class FineTuneBench
{
    public static int Run(string[] args)
    {
        string? model = null;
        int blocks = 2, batch = 32, steps = 12, threads = Parallelism.Threads;
        bool compare = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--model": model = args[++i]; break;
                case "--blocks": blocks = int.Parse(args[++i]); break;
                case "--batch": batch = int.Parse(args[++i]); break;
                case "--steps": steps = int.Parse(args[++i]); break;
                case "--threads": threads = int.Parse(args[++i]); break;
                case "--compare": compare = true; break;
                case "--min-columns": DefaultMinColumns = int.Parse(args[++i]); break;
                case "--dot-min-k": Engine.Layers.Conv2d.DotGemmMinK = int.Parse(args[++i]); break;
                default:
                    Console.Error.WriteLine($"unknown argument '{args[i]}'\nusage: finetune [--model FILE.onnx] [--blocks 2] [--batch 32] [--steps 12] [--threads N] [--compare] [--min-columns N] [--dot-min-k K]");
                    return 2;
            }
        }
        model = Program.ResolveModel(model);
        if (model is null)
        {
            Console.Error.WriteLine("no model: pass --model FILE.onnx");
            return 2;
        }
        Parallelism.Threads = threads;
        var network = Model.Load(model).Graph;
        var cut = ResidualBlocks.CutBefore(network, blocks);
        var part = TrainedPart.Build(network, cut);
        int[] featureShape = TeachModel.OutputShape(part);
        featureShape[0] = -1;
        int d = (int)(Tensor.CheckedLength(featureShape.AsSpan(1)));
        var rng = new Random(1);
        const int classes = 10;
        var w1 = new float[classes * d];
        for (int i = 0; i < w1.Length; i++) w1[i] = 0.01f * (rng.NextSingle() - 0.5f);
        var head = new ClassifierHead(d, 0, Enumerable.Range(0, classes).Select(c => $"c{c}").ToArray(), w1, new float[classes], null, null);
        var graph = GraphChain.Chain(part, head.ToGraph(featureShape));
        var logits = graph.Output.Layer is Engine.Layers.Softmax ? graph.Output.Inputs[0] : graph.Output;
        var isHead = new HashSet<string>(graph.Nodes.Where(n => n.Name.StartsWith("teach_", StringComparison.Ordinal)).Select(n => n.Name));
        var blockParams = graph.Nodes.Where(n => n.Layer is not null && !isHead.Contains(n.Name)).SelectMany(n => n.Layer!.Parameters).ToArray();
        var headParams = graph.Nodes.Where(n => n.Layer is not null && isHead.Contains(n.Name)).SelectMany(n => n.Layer!.Parameters).ToArray();
        var optimizers = new[] { Optimizer.Create(OptimizerKind.AdamW, blockParams, 1e-4f, 0.9f, 1e-4f), Optimizer.Create(OptimizerKind.AdamW, headParams, 1e-3f, 0.9f, 1e-4f) };

        int[] shape = (int[])cut.Shape.Clone();
        shape[0] = batch;
        var x = new Tensor(shape);
        for (int i = 0; i < x.Length; i++) x.Data[i] = Math.Max(0, rng.NextSingle() * 2 - 0.8f); // post-ReLU-like
        var labels = Enumerable.Range(0, batch).Select(i => i % classes).ToArray();
        var dLogits = new Tensor(0);
        int n = graph.Nodes.Count;
        var runs = new[] { new Steps(), new Steps() }; // [0] as they were (with --compare), [1] as they are
        var inputs = new[] { x };
        var process = Process.GetCurrentProcess();
        int kinds = compare ? 2 : 1;
        for (int s = 0; s < (steps + 2) * kinds; s++) // 2 warm-up steps of each kind
        {
            var run = runs[compare && s % 2 == 0 ? 0 : 1];
            SetOld(compare && s % 2 == 0);
            var f = new long[n];
            var b = new long[n];
            process.Refresh();
            var cpu0 = process.TotalProcessorTime;
            long t0 = Stopwatch.GetTimestamp();
            graph.ForwardTimed(inputs, f);
            Loss.SoftmaxCrossEntropy(logits.Output, labels, dLogits, out _);
            long t1 = Stopwatch.GetTimestamp();
            graph.ZeroGrad();
            long t2 = Stopwatch.GetTimestamp();
            graph.BackwardTimed(logits, dLogits, b);
            long t3 = Stopwatch.GetTimestamp();
            foreach (var o in optimizers) o.Step();
            long t4 = Stopwatch.GetTimestamp();
            process.Refresh();
            if (s < 2 * kinds) continue;
            run.Fwd.Add(f);
            run.Bwd.Add(b);
            run.Zero.Add(Ms(t2 - t1));
            run.Opt.Add(Ms(t4 - t3));
            run.Step.Add(Ms(t4 - t0));
            run.Cpu.Add((process.TotalProcessorTime - cpu0).TotalMilliseconds);
        }
        SetOld(false);

        Console.WriteLine($"fine-tuning step: last {blocks} of {cut.TotalBlocks} blocks after '{cut.Node.Name}' {Tensor.Format(cut.Shape.AsSpan(1))} + a {classes}-class head, " +
                          $"batch {batch}, {threads} thread(s), {steps} steps (medians, ms); {Environment.ProcessorCount} cores" +
                          (compare ? "; old = as they were, new = as they are, steps interleaved" : ""));
        if (compare)
            Console.WriteLine($"{"node",-30} {"layer",-12} {"fwd old",8} {"fwd new",8} {"bwd old",8} {"bwd new",8}");
        else
            Console.WriteLine($"{"node",-28} {"layer",-14} {"forward",9} {"backward",9} {"bwd/fwd",8}");
        var fSum = new double[2];
        var bSum = new double[2];
        for (int k = 0; k < n; k++)
        {
            var node = graph.Nodes[k];
            if (node.Layer is null) continue;
            var fm = new double[2];
            var bm = new double[2];
            for (int r = 2 - kinds; r < 2; r++)
            {
                fm[r] = Median(runs[r].Fwd.Select(a => Ms(a[k])));
                bm[r] = Median(runs[r].Bwd.Select(a => Ms(a[k])));
                fSum[r] += fm[r];
                bSum[r] += bm[r];
            }
            if (compare)
                Console.WriteLine($"{node.Name,-30} {node.Layer.GetType().Name,-12} {fm[0],8:F2} {fm[1],8:F2} {bm[0],8:F2} {bm[1],8:F2}");
            else
                Console.WriteLine($"{node.Name,-28} {node.Layer.GetType().Name,-14} {fm[1],9:F2} {bm[1],9:F2} {(fm[1] > 0 ? bm[1] / fm[1] : 0),8:F2}");
        }
        // The forward-only passes (head-only features, validation) through the fused inference graph instead.
        var fused = Engine.Optimization.InferenceFusion.Fuse(graph);
        var fusedMs = new List<double>();
        for (int s = 0; s < steps + 2; s++)
        {
            long t0 = Stopwatch.GetTimestamp();
            fused.Forward(inputs);
            if (s >= 2) fusedMs.Add(Ms(Stopwatch.GetTimestamp() - t0));
        }
        Console.WriteLine($"forward only: training graph {fSum[1]:F1} ms, fused inference graph {Median(fusedMs):F1} ms ({fSum[1] / Median(fusedMs):F2}x)");
        for (int r = 2 - kinds; r < 2; r++)
        {
            var run = runs[r];
            double st = Median(run.Step), c = Median(run.Cpu);
            string label = compare ? (r == 0 ? "old: " : "new: ") : "";
            Console.WriteLine($"{label}sum of nodes forward {fSum[r]:F1} ms, backward {bSum[r]:F1} ms; zero grad {Median(run.Zero):F2} ms, optimiser step {Median(run.Opt):F2} ms " +
                              $"({blockParams.Sum(p => p.Value.Length) / 1e6:F2} M block parameters); whole step {st:F1} ms, CPU {c:F1} ms = {c / st:F2} cores busy");
        }
        return 0;
    }

    /// <summary>The kernels as they were before the batched forward, the wide backward chunks and the vector AdamW.</summary>
    private static void SetOld(bool old)
    {
        Convolution.ForceBatched = old ? false : null;
        Engine.Layers.Conv2d.BackwardMinColumns = old ? 0 : DefaultMinColumns;
        Adam.SerialScalar = old;
    }

    private static int DefaultMinColumns = Engine.Layers.Conv2d.BackwardMinColumns;

    private sealed class Steps
    {
        public readonly List<long[]> Fwd = [], Bwd = [];
        public readonly List<double> Zero = [], Opt = [], Step = [], Cpu = [];
    }

    private static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

    private static double Median(IEnumerable<double> values)
    {
        var a = values.Order().ToArray();
        return a.Length == 0 ? 0 : a[a.Length / 2];
    }
}
