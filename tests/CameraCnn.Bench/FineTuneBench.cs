// FineTuneBench: where a fine-tuning step's time goes. The part of a backbone after the cut before its last N residual
// blocks plus a 10-class head (the graph FineTuner trains), on random activations at the cut: per step the forward and
// the backward of every node, the zeroing of the gradients and the optimiser's update, as medians over the steps, with
// the CPU time the process used beside the wall time (how busy the cores were). Not a test: it prints.
//   dotnet run -c Release --project tests/CameraCnn.Bench -- finetune [--model ResNet18.onnx] [--blocks 2] [--batch 32] [--steps 12]
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
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--model": model = args[++i]; break;
                case "--blocks": blocks = int.Parse(args[++i]); break;
                case "--batch": batch = int.Parse(args[++i]); break;
                case "--steps": steps = int.Parse(args[++i]); break;
                case "--threads": threads = int.Parse(args[++i]); break;
                default:
                    Console.Error.WriteLine($"unknown argument '{args[i]}'\nusage: finetune [--model FILE.onnx] [--blocks 2] [--batch 32] [--steps 12] [--threads N]");
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
        var fwd = new List<long[]>();
        var bwd = new List<long[]>();
        var zero = new List<double>();
        var opt = new List<double>();
        var step = new List<double>();
        var cpu = new List<double>();
        var inputs = new[] { x };
        var process = Process.GetCurrentProcess();
        for (int s = 0; s < steps + 2; s++) // 2 warm-up steps
        {
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
            if (s < 2) continue;
            fwd.Add(f);
            bwd.Add(b);
            zero.Add(Ms(t2 - t1));
            opt.Add(Ms(t4 - t3));
            step.Add(Ms(t4 - t0));
            cpu.Add((process.TotalProcessorTime - cpu0).TotalMilliseconds);
        }

        Console.WriteLine($"fine-tuning step: last {blocks} of {cut.TotalBlocks} blocks after '{cut.Node.Name}' {Tensor.Format(cut.Shape.AsSpan(1))} + a {classes}-class head, " +
                          $"batch {batch}, {threads} thread(s), {steps} steps (medians, ms); {Environment.ProcessorCount} cores");
        Console.WriteLine($"{"node",-28} {"layer",-14} {"forward",9} {"backward",9} {"bwd/fwd",8}");
        double fSum = 0, bSum = 0;
        for (int k = 0; k < n; k++)
        {
            var node = graph.Nodes[k];
            if (node.Layer is null) continue;
            double fm = Median(fwd.Select(a => Ms(a[k]))), bm = Median(bwd.Select(a => Ms(a[k])));
            fSum += fm;
            bSum += bm;
            Console.WriteLine($"{node.Name,-28} {node.Layer.GetType().Name,-14} {fm,9:F2} {bm,9:F2} {(fm > 0 ? bm / fm : 0),8:F2}");
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
        double st = Median(step), c = Median(cpu);
        Console.WriteLine($"forward only: training graph {fSum:F1} ms, fused inference graph {Median(fusedMs):F1} ms ({fSum / Median(fusedMs):F2}x)");
        Console.WriteLine($"{"sum of nodes",-43} {fSum,9:F2} {bSum,9:F2}");
        Console.WriteLine($"zero grad {Median(zero):F2} ms, optimiser step {Median(opt):F2} ms ({blockParams.Sum(p => p.Value.Length) / 1e6:F2} M block parameters); " +
                          $"whole step {st:F1} ms, CPU {c:F1} ms = {c / st:F2} cores busy");
        return 0;
    }

    private static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

    private static double Median(IEnumerable<double> values)
    {
        var a = values.Order().ToArray();
        return a.Length == 0 ? 0 : a[a.Length / 2];
    }
}
