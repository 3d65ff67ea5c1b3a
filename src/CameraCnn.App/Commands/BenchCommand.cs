// camcnn bench: how fast the engine runs a model (median ms of whole forwards, then the per-layer split measured in
// separate instrumented runs, each layer's algorithm, the machine's CPU and measured FMA peak and our share of it,
// bytes allocated per steady-state forward) or how fast it trains (--train lenet: ms per SGD step on Fashion-MNIST
// batches). Both warm up until the JIT has tiered up and the time settles. The ONNX Runtime comparison lives apart, in
// tests/CameraCnn.Bench, so ORT never becomes a dependency of the program.
using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using CameraCnn.App.Cli;
using CameraCnn.Engine;
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Optimization;
using CameraCnn.Engine.Training;
using Spectre.Console;

namespace CameraCnn.App.Commands;

public static class BenchCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = $"an ONNX model to time: a path or {ModelCatalog.NamesHelp}" };
        var train = new Option<string?>("--train") { Description = $"time training steps of an architecture instead ({string.Join(", ", Architectures.Names)})" };
        var threads = new Option<int>("--threads") { Description = "worker threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        var input = new Option<string?>("--input") { Description = "input shape NxCxHxW (default: the model's input with batch 1)" };
        var iterations = new Option<int>("--iterations") { Description = "timed forwards (or training steps)", DefaultValueFactory = _ => 20 };
        var unfused = new Option<bool>("--unfused") { Description = "time the graph as loaded, without InferenceFusion (conv+BN+add+ReLU fusion, pre-packed weights)" };
        var noWinograd = new Option<bool>("--no-winograd") { Description = "fuse without Winograd convolutions: 3x3 stride-1 convs run im2col + GEMM" };
        var noDirect = new Option<bool>("--no-direct") { Description = "fuse without the direct kernel: stride-2 convs run im2col + GEMM" };
        var batch = new Option<int>("--batch") { Description = "--train: batch size", DefaultValueFactory = _ => 64 };
        var data = new Option<string>("--data") { Description = "--train: the data set batches are drawn from", DefaultValueFactory = _ => "fashion-mnist" };
        var json = new Option<bool>("--json") { Description = "print a JSON summary as the last line" };
        var cmd = new Command("bench", "Time forwards of a model (per layer, against the measured FMA peak) or training steps.")
        {
            model, train, threads, input, iterations, unfused, noWinograd, noDirect, batch, data, json,
        };
        cmd.SetAction(r => CliRunner.Run(() =>
        {
            int t = r.GetValue(threads), k = r.GetValue(iterations);
            if (t < 1) throw new CliException("--threads must be at least 1");
            if (k < 1) throw new CliException("--iterations must be at least 1");
            string? m = r.GetValue(model), arch = r.GetValue(train);
            if ((m is null) == (arch is null)) throw new CliException("give either --model or --train");
            Parallelism.Threads = t;
            return arch is not null
                ? RunTrain(arch, r.GetValue(data)!, r.GetValue(batch), k, t, r.GetValue(json))
                : RunModel(m!, r.GetValue(input), k, t, !r.GetValue(unfused), new FusionOptions { Winograd = !r.GetValue(noWinograd), Direct = !r.GetValue(noDirect) }, r.GetValue(json));
        }));
        return cmd;
    }

    private static int[] ParseShape(string text)
    {
        var parts = text.Split('x', ',');
        var shape = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], out shape[i]) || shape[i] <= 0)
                throw new CliException($"bad --input '{text}' (expected positive sizes like 1x3x224x224)");
        return shape;
    }

    private sealed record LayerTime(string Name, string Kind, string Algorithm, double MedianMs, double Share, double Gflops);

    private static double Median(double[] v) => BenchSupport.Median(v);

    private static int RunModel(string modelArg, string? inputArg, int iterations, int threads, bool fuse, FusionOptions options, bool json)
    {
        var model = ModelCatalog.Load(modelArg);
        var graph = fuse ? InferenceFusion.Fuse(model.Graph, options) : model.Graph;
        if (graph.Inputs.Count != 1) throw new CliException($"bench needs a single-input model; this one has {graph.Inputs.Count}");
        int[] shape = inputArg is null ? graph.Inputs[0].InputShape!.Select(d => d < 0 ? 1 : d).ToArray() : ParseShape(inputArg);
        var x = new Tensor(shape);
        var rng = new Random(1);
        for (int i = 0; i < x.Length; i++) x.Data[i] = rng.NextSingle();
        Tensor[] inputs = [x];
        string variant = !fuse ? "unfused graph"
            : "fused graph" + (options.Winograd, options.Direct) switch
            {
                (true, true) => "",
                (false, true) => " without Winograd",
                (true, false) => " without the direct kernel",
                _ => " without Winograd or the direct kernel",
            };
        Report.Note($"bench: {modelArg} {Tensor.Format(shape)}, {threads} thread(s), GEMM path {Gemm.ActivePath}, {variant}");

        graph.Forward(inputs); // sizes every buffer and starts the workers
        var warmUp = BenchSupport.WarmUpUntilSettled(() =>
        {
            long t0 = Stopwatch.GetTimestamp();
            graph.Forward(inputs);
            return Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        });
        Report.Note("bench: " + warmUp.Describe("forward"));

        // The headline: whole forwards, nothing inside them timed.
        var total = new double[iterations];
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < iterations; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            graph.Forward(inputs);
            total[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        long allocated = (GC.GetAllocatedBytesForCurrentThread() - before) / iterations;
        double median = Median(total);

        // The per-layer split, from separate forwards that time every node.
        var nodes = graph.Nodes;
        var ticks = new long[iterations][];
        for (int i = 0; i < iterations; i++) ticks[i] = new long[nodes.Count];
        var timed = new double[iterations];
        for (int i = 0; i < iterations; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            graph.ForwardTimed(inputs, ticks[i]);
            timed[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        double timedMedian = Median(timed);
        long macs = 0;
        var layers = new List<LayerTime>();
        var perNode = new double[iterations];
        foreach (var node in nodes)
        {
            if (node.Layer is not { } layer || layer is OutputAlias) continue;
            for (int i = 0; i < iterations; i++) perNode[i] = ticks[i][node.Index] * 1000.0 / Stopwatch.Frequency;
            long m = layer.MultiplyAdds(node.Inputs.Select(n => n.Output.Shape).ToList());
            macs += m;
            double ms = Median(perNode);
            layers.Add(new LayerTime(node.Name, layer.GetType().Name, BenchSupport.Algorithm(layer), ms, ms / timedMedian,
                m > 0 && ms > 0 ? 2.0 * m / ms / 1e6 : 0));
        }
        double gflops = 2.0 * macs / median / 1e6;
        Report.Note("bench: measuring the FMA peak ...");
        var machine = BenchSupport.MeasureMachine(threads);
        double peak = machine.PeakGflops;

        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                model = modelArg,
                input = shape,
                threads,
                path = Gemm.ActivePath.ToString(),
                fused = fuse,
                winograd = fuse && options.Winograd,
                direct = fuse && options.Direct,
                iterations,
                cpu = machine.Json,
                warmup_forwards = warmUp.Steps,
                warmup_seconds = Math.Round(warmUp.Seconds, 2),
                warmup_settled = warmUp.Settled,
                median_ms = Math.Round(median, 3),
                min_ms = Math.Round(total.Min(), 3),
                gflops = Math.Round(gflops, 2),
                peak_gflops = Math.Round(peak, 2),
                peak_gflops_1thread = Math.Round(machine.PeakGflops1, 2),
                percent_of_peak = Math.Round(100 * gflops / peak, 1),
                multiply_adds = macs,
                allocated_bytes_per_forward = allocated,
                layered_median_ms = Math.Round(timedMedian, 3),
                layers = layers.Select(l => new
                {
                    name = l.Name, kind = l.Kind, algorithm = l.Algorithm, median_ms = Math.Round(l.MedianMs, 4),
                    share = Math.Round(l.Share, 4), gflops = Math.Round(l.Gflops, 2),
                }),
            }));
            return CliRunner.Ok;
        }
        var table = new Table().AddColumns("layer", "kind", "algorithm", "median ms", "share", "GFLOP/s");
        foreach (var l in layers)
            table.AddRow(Markup.Escape(l.Name), l.Kind, l.Algorithm, l.MedianMs.ToString("F3"), l.Share.ToString("P1"), l.Gflops > 0 ? l.Gflops.ToString("F1") : "");
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });
        console.Write(table);
        Console.WriteLine($"cpu: {machine.Cpu}, {Environment.ProcessorCount} logical processors; {machine.Avx512Text}");
        Console.WriteLine(warmUp.Describe("forward"));
        Console.WriteLine($"median {median:F2} ms per forward (min {total.Min():F2}, {iterations} whole forwards, nothing inside them timed), " +
            $"{gflops:F1} GFLOP/s ({2.0 * macs / 1e9:F2} GFLOP per forward)");
        Console.WriteLine($"per-layer table: medians of {iterations} separate forwards that time every layer (median {timedMedian:F2} ms each); share = of that");
        string on = threads == 1 ? "1 thread" : $"{threads} threads running at once ({machine.PeakGflops1:F1} on one)";
        Console.WriteLine($"measured FMA peak {peak:F1} GFLOP/s on {on}: {100 * gflops / peak:F1} % of peak");
        if (layers.Any(l => l.Algorithm == "winograd"))
            Console.WriteLine("(GFLOP/s counts a direct convolution's multiply-adds; Winograd layers do fewer, so a layer or the whole can exceed the peak)");
        Console.WriteLine($"allocated per steady-state forward: {allocated} bytes");
        return CliRunner.Ok;
    }

    private static int RunTrain(string arch, string data, int batch, int iterations, int threads, bool json)
    {
        if (!Architectures.Names.Contains(arch))
            throw new CliException($"unknown architecture '{arch}' (choose one of: {string.Join(", ", Architectures.Names)})");
        if (batch < 1) throw new CliException("--batch must be at least 1");
        // Steps cycle through these samples: enough distinct batches that the data is not all in cache.
        var loaded = DataSets.Load(data, null, false, batch * 200, 1);
        var set = loaded.Train;
        int[] sample = set.SampleShape;
        var pre = new Preprocessing { Channels = sample[0], Height = sample[1], Width = sample[2] };
        var model = Model.Create(arch, pre, set.ClassNames);
        Initializer.Initialize(model.Graph, 1);
        var sgd = new Sgd(model.Graph.Parameters, 0.05f, 0.9f, 5e-4f);
        var graph = model.Graph;
        var logits = model.Logits;
        var x = new Tensor([batch, .. sample]);
        var labels = new int[batch];
        var dLogits = new Tensor(0);
        int per = set.Images.SampleLength, batches = Math.Max(1, set.Count / batch), step = 0;
        var nodes = graph.Nodes;
        static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

        // One SGD step on the next batch; phases[0..3] get forward, loss + zeroing the gradients, backward, optimizer
        // step (ms); with node tick arrays, the forward and backward also time every layer.
        double Step(Span<double> phases, long[]? forwardTicks, long[]? backwardTicks)
        {
            int b = step++ % batches;
            for (int i = 0; i < batch; i++)
            {
                int src = (b * batch + i) % set.Count;
                set.Images.Data.AsSpan(src * per, per).CopyTo(x.Data.AsSpan(i * per, per));
                labels[i] = set.Labels[src];
            }
            pre.NormalizeUnit(x);
            long t0 = Stopwatch.GetTimestamp();
            if (forwardTicks is null) graph.Forward([x], training: true);
            else graph.ForwardTimed([x], forwardTicks, training: true);
            long t1 = Stopwatch.GetTimestamp();
            float loss = Loss.SoftmaxCrossEntropy(logits.Output, labels, dLogits, out _);
            sgd.ZeroGrad();
            long t2 = Stopwatch.GetTimestamp();
            if (backwardTicks is null) graph.Backward(logits, dLogits);
            else graph.BackwardTimed(logits, dLogits, backwardTicks);
            long t3 = Stopwatch.GetTimestamp();
            sgd.Step();
            long t4 = Stopwatch.GetTimestamp();
            if (!float.IsFinite(loss)) throw new DivergedException($"the loss became {loss} at step {step}");
            if (!phases.IsEmpty) (phases[0], phases[1], phases[2], phases[3]) = (Ms(t1 - t0), Ms(t2 - t1), Ms(t3 - t2), Ms(t4 - t3));
            return Ms(t4 - t0);
        }

        Report.Note($"bench: training {arch} on {loaded.Description}, batch {batch}, {threads} thread(s), GEMM path {Gemm.ActivePath}");
        var warmUp = BenchSupport.WarmUpUntilSettled(() => Step(default, null, null));
        Report.Note("bench: " + warmUp.Describe("step"));

        // The headline: whole steps, only their four phases timed.
        var times = new double[iterations];
        var phases = new double[4][]; // forward, loss + zeroing the gradients, backward, optimizer step
        for (int p = 0; p < phases.Length; p++) phases[p] = new double[iterations];
        Span<double> phase = stackalloc double[4];
        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        int collectionsBefore = GC.CollectionCount(0);
        for (int i = 0; i < iterations; i++)
        {
            times[i] = Step(phase, null, null);
            for (int p = 0; p < 4; p++) phases[p][i] = phase[p];
        }
        long allocatedPerStep = (GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore) / iterations;
        int collections = GC.CollectionCount(0) - collectionsBefore;
        double median = Median(times);

        // The per-layer split, from separate steps that time every layer's forward and backward.
        var forwardTicks = new long[iterations][];
        var backwardTicks = new long[iterations][];
        var timedSteps = new double[iterations];
        for (int i = 0; i < iterations; i++)
        {
            (forwardTicks[i], backwardTicks[i]) = (new long[nodes.Count], new long[nodes.Count]);
            timedSteps[i] = Step(default, forwardTicks[i], backwardTicks[i]);
        }
        double timedMedian = Median(timedSteps);
        var layers = new List<(string Name, string Kind, string Algorithm, double Forward, double Backward, double Share)>();
        var fw = new double[iterations];
        var bw = new double[iterations];
        foreach (var node in nodes)
        {
            if (node.Layer is not { } layer) continue;
            for (int i = 0; i < iterations; i++)
                (fw[i], bw[i]) = (Ms(forwardTicks[i][node.Index]), Ms(backwardTicks[i][node.Index]));
            double f = Median(fw), b = Median(bw);
            layers.Add((node.Name, layer.GetType().Name, BenchSupport.Algorithm(layer), f, b, (f + b) / timedMedian));
        }
        var cpu = CpuInfo.Current;
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                train = arch,
                data = loaded.Description,
                batch,
                threads,
                path = Gemm.ActivePath.ToString(),
                iterations,
                cpu = new { vendor = cpu.Vendor, model_name = cpu.ModelName, family = cpu.Family, model = cpu.Model, stepping = cpu.Stepping },
                warmup_steps = warmUp.Steps,
                warmup_seconds = Math.Round(warmUp.Seconds, 2),
                warmup_settled = warmUp.Settled,
                median_ms_per_step = Math.Round(median, 3),
                min_ms_per_step = Math.Round(times.Min(), 3),
                median_over_min = Math.Round(median / times.Min(), 3),
                samples_per_second = Math.Round(batch * 1000 / median, 1),
                forward_ms = Math.Round(Median(phases[0]), 3),
                loss_ms = Math.Round(Median(phases[1]), 3),
                backward_ms = Math.Round(Median(phases[2]), 3),
                optimizer_ms = Math.Round(Median(phases[3]), 3),
                allocated_bytes_per_step = allocatedPerStep,
                gc_collections = collections,
                layered_median_ms_per_step = Math.Round(timedMedian, 3),
                layers = layers.Select(l => new
                {
                    name = l.Name, kind = l.Kind, algorithm = l.Algorithm, forward_ms = Math.Round(l.Forward, 4),
                    backward_ms = Math.Round(l.Backward, 4), share = Math.Round(l.Share, 4),
                }),
            }));
            return CliRunner.Ok;
        }
        var table = new Table().AddColumns("layer", "kind", "algorithm", "forward ms", "backward ms", "share");
        foreach (var l in layers)
            table.AddRow(Markup.Escape(l.Name), l.Kind, l.Algorithm, l.Forward.ToString("F3"), l.Backward.ToString("F3"), l.Share.ToString("P1"));
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });
        console.Write(table);
        Console.WriteLine($"cpu: {cpu}, {Environment.ProcessorCount} logical processors");
        Console.WriteLine(warmUp.Describe("step"));
        Console.WriteLine($"{arch} training step (forward + backward + SGD), batch {batch}: median {median:F2} ms " +
            $"(min {times.Min():F2}, median/min {median / times.Min():F2}, {iterations} steps) = {batch * 1000 / median:F0} samples/s on {threads} thread(s)");
        Console.WriteLine($"phases (medians): forward {Median(phases[0]):F2} ms, loss {Median(phases[1]):F2} ms, backward {Median(phases[2]):F2} ms, " +
            $"optimizer step {Median(phases[3]):F2} ms");
        Console.WriteLine($"per-layer table: medians of {iterations} separate steps that time every layer (median {timedMedian:F2} ms each; " +
            $"layers' backward {layers.Sum(l => l.Backward):F2} ms); share = of that");
        Console.WriteLine($"allocated per step (all threads): {allocatedPerStep} bytes; {collections} gen-0 collection(s) in the run");
        return CliRunner.Ok;
    }
}
