// HeadlessSession: `camcnn run --headless`: the live pipeline the window runs, without a window: one line per second
// on stdout with the top classes of the newest result (the worker already applied the teach head, if any) and the
// figures, stats at the end. With a backbone and a teach folder the head is trained on start from the folder.
using System.Diagnostics;
using System.Text;
using CameraCnn.App.Cli;
using CameraCnn.App.Teach;
using CameraCnn.Engine.Models;
using CameraCnn.Vision;

namespace CameraCnn.App.Live;

/// <summary>The live pipeline without a display (servers, CI, no GPU at all).</summary>
internal sealed class HeadlessSession(RunOptions o, Model model, CaptureThread capture, TeachSession? teach = null, Engine.Node? featureNode = null)
{
    private static volatile bool _interrupted;

    public int Run()
    {
        // The loop sleeps until the worker publishes (a poll would wake it a thousand times a second, each time taking a
        // core from the engine's threads for a moment); the timeout notices a stopped feed or Ctrl+C. Made before the
        // pipeline, so it outlives the worker thread that sets it.
        using var published = new AutoResetEvent(false);
        using var pipeline = new LivePipeline(model, capture, o.Fuse, teach, featureNode);
        var (feed, worker) = (pipeline.Feed, pipeline.Worker);
        string? lastTop = null;
        var latencies = new SampleRing(16384);
        long start = Stopwatch.GetTimestamp(), firstResult = 0, lastPrint = start, inferred = 0;
        if (!worker.Network.ModelIsClassifier && teach is null)
            Console.Error.WriteLine($"camcnn: note: {o.ModelName} has no classes, so only its feature shape is printed; teach it classes " +
                "in the window (hold 1-9) and run headless with that --data folder, or give a classifier --model");
        Action wake = () => published.Set();
        worker.Published += wake;
        pipeline.Start();
        Console.CancelKeyPress += OnCancel;
        try
        {
            while (!_interrupted)
            {
                if (worker.Failure is { } failure) throw new CliException(failure);
                if (!worker.Results.TryTake())
                {
                    if (feed.State == FeedState.Stopped) throw new CliException(feed.Status);
                    published.WaitOne(50);
                    continue;
                }
                var r = worker.Results.Front;
                if (!r.NewFrame) continue;
                long now = Stopwatch.GetTimestamp();
                if (firstResult == 0) firstResult = now;
                latencies.Add((now - r.FrameTimestamp) * 1000.0 / Stopwatch.Frequency);
                inferred++;
                if (r.Network.Head is not null) lastTop = r.Prediction.Label;
                if (now - lastPrint >= Stopwatch.Frequency)
                {
                    lastPrint = now;
                    Console.WriteLine(Line(r, worker, feed, (now - start) / (double)Stopwatch.Frequency));
                }
                if (o.Frames is { } n && inferred >= n) break;
                if (o.Seconds is { } secs && now - start >= secs * Stopwatch.Frequency) break;
            }
        }
        finally
        {
            Console.CancelKeyPress -= OnCancel;
            worker.Published -= wake;
        }
        long end = Stopwatch.GetTimestamp();
        double seconds = (end - start) / (double)Stopwatch.Frequency;
        double inferSeconds = firstResult == 0 ? 0 : (end - firstResult) / (double)Stopwatch.Frequency;
        if (o.StatsJson is { } path)
            RunStats.Write(path, new Dictionary<string, object?>
            {
                ["mode"] = "headless",
                ["model"] = o.ModelName,
                ["source"] = feed.Name,
                ["frames"] = inferred,
                ["seconds"] = RunStats.Round(seconds, 3),
                ["captureFps"] = RunStats.Round(feed.Rate.Total / Math.Max(1e-9, seconds)),
                ["inferenceFps"] = RunStats.Round(Math.Max(0, inferred - 1) / Math.Max(1e-9, inferSeconds)),
                ["inferences"] = worker.Rate.Total,
                ["inferenceFpsWarm"] = RunStats.Round(worker.WarmRate(Stopwatch.GetTimestamp())),
                ["inferenceMs"] = RunStats.Percentiles(worker.ForwardTimes()),
                ["latencyMs"] = RunStats.Percentiles(latencies.ToArray()),
                ["framesNotInferred"] = feed.ForInference.Dropped,
                ["reconnects"] = feed.Reconnects,
                ["sourceState"] = feed.State.ToString(),
                ["teach"] = teach is null ? null : new Dictionary<string, object?>
                {
                    ["data"] = teach.Dataset.Directory,
                    ["head"] = teach.CurrentHead is not null,
                    ["status"] = teach.Status.Message,
                    ["lastTop"] = lastTop,
                    ["trainings"] = teach.Trainings,
                    ["fineTunings"] = teach.FineTunings,
                    ["backbone"] = teach.Network.Backbone.Name,
                    ["lastFineTune"] = RunStats.FineTune(teach.LastTraining),
                },
            });
        return CliRunner.Ok;
    }

    private static void OnCancel(object? sender, ConsoleCancelEventArgs e)
    {
        e.Cancel = true; // leave through the loop: threads joined, camera released
        _interrupted = true;
    }

    /// <summary>"  3.0 s  apple 97.1 %  banana 2.0 %  ...  | inference 11.2 fps (80.1 ms) | capture 25.0 fps", once a second.</summary>
    private string Line(InferenceResult r, InferenceWorker w, LiveFeed feed, double t)
    {
        var net = r.Network;
        var sb = new StringBuilder();
        sb.Append($"{t,6:F1} s  ");
        if (net.Classes > 0)
        {
            var p = r.Prediction;
            if (p.IsUnknown && p.Output >= 0) sb.Append($"{Prediction.UnknownLabel} ({p.Confidence:P1} < {net.Threshold:P0})  ");
            var probabilities = r.ClassProbabilities.ToArray();
            foreach (int i in Enumerable.Range(0, probabilities.Length).OrderByDescending(i => probabilities[i]).Take(3))
                sb.Append($"{net.Labels[i]} {probabilities[i]:P1}  ");
        }
        else if (net.IsTeach) sb.Append($"no teach head yet ({teach!.Status.Message})  ");
        else sb.Append($"features {Engine.Tensor.Format(net.OutputShape)}  ");
        sb.Append($"| inference {w.Rate.Rate:F1} fps ({r.ForwardMs:F1} ms) | capture {feed.Rate.Rate:F1} fps");
        if (feed.State == FeedState.Reconnecting) sb.Append(" | reconnecting");
        if (net.Head is not null && teach is { IsTraining: true }) sb.Append($" | {teach.Status.Message}"); // e.g. the fine-tuning's epochs
        return sb.ToString();
    }
}
