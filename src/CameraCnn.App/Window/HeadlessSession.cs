// HeadlessSession: `camcnn run --headless`: the same capture and inference threads as the window, without a
// window: one line per second on stdout with the top classes and the figures, stats at the end. With a backbone and
// a teach folder, the classes are the teach head's (trained on start from the folder, as the window does).
using System.Diagnostics;
using CameraCnn.App.Cli;
using CameraCnn.Engine.Models;
using CameraCnn.Vision;

namespace CameraCnn.App.Window;

/// <summary>The live pipeline without a display (servers, CI, no GPU at all).</summary>
internal sealed class HeadlessSession(RunOptions o, Model model, CaptureThread capture, App.Teach.TeachSession? teach = null,
    Engine.Node? featureNode = null)
{
    private static volatile bool _interrupted;

    public int Run()
    {
        using var frameArrived = new AutoResetEvent(false);
        using var feed = new FrameFeed(capture, frameArrived);
        using var worker = new InferenceWorker(model, feed.ForInference, frameArrived, o.Fuse, teach is null ? null : featureNode);
        string? lastTop = null;
        var latencies = new SampleRing(16384);
        var top = new int[3];
        long start = Stopwatch.GetTimestamp(), firstResult = 0, lastPrint = start, inferred = 0;
        if (!worker.IsClassifier && teach is null)
            Console.Error.WriteLine($"camcnn: note: {o.ModelName} has no classes, so only its feature shape is printed; teach it classes " +
                "in the window (hold 1-9, then T) and run headless with that --data folder, or give a classifier --model");
        feed.Start();
        worker.Start();
        Console.CancelKeyPress += OnCancel;
        try
        {
            while (!_interrupted)
            {
                if (worker.Failure is { } failure) throw new CliException(failure);
                if (!worker.Results.TryTake())
                {
                    if (feed.State == FeedState.Stopped) throw new CliException(feed.Status);
                    Thread.Sleep(1);
                    continue;
                }
                var r = worker.Results.Front;
                if (!r.NewFrame) continue;
                long now = Stopwatch.GetTimestamp();
                if (firstResult == 0) firstResult = now;
                latencies.Add((now - r.FrameTimestamp) * 1000.0 / Stopwatch.Frequency);
                inferred++;
                if (now - lastPrint >= Stopwatch.Frequency)
                {
                    lastPrint = now;
                    string line = teach is null ? Line(worker, feed, r, top, (now - start) / (double)Stopwatch.Frequency)
                        : TeachLine(teach, worker, feed, r, (now - start) / (double)Stopwatch.Frequency, out lastTop);
                    Console.WriteLine(line);
                }
                if (o.Frames is { } n && inferred >= n) break;
                if (o.Seconds is { } secs && now - start >= secs * Stopwatch.Frequency) break;
            }
        }
        finally { Console.CancelKeyPress -= OnCancel; }
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
                },
            });
        return CliRunner.Ok;
    }

    private static void OnCancel(object? sender, ConsoleCancelEventArgs e)
    {
        e.Cancel = true;
        _interrupted = true;
    }

    /// <summary>The teach head's top 3 for this result (or what the trainer is doing while there is no head yet).</summary>
    private static string TeachLine(App.Teach.TeachSession teach, InferenceWorker w, FrameFeed feed, InferenceResult r, double t,
        out string? topLabel)
    {
        var sb = new System.Text.StringBuilder();
        sb.Append($"{t,6:F1} s  ");
        topLabel = null;
        var head = teach.CurrentHead;
        if (head is null || r.TeachFeatures.Length != head.Dimension)
            sb.Append($"no teach head yet ({teach.Status.Message})  ");
        else
        {
            var probs = new float[head.Classes]; // once a second
            var p = teach.Classify(r.TeachFeatures, probs);
            topLabel = p.Label;
            if (p.IsUnknown) sb.Append($"{App.Teach.TeachSession.UnknownLabel} ({p.Confidence:P1} < {teach.Threshold:P0})  ");
            foreach (int i in Enumerable.Range(0, head.Classes).OrderByDescending(i => probs[i]).Take(3))
                sb.Append($"{head.Labels[i]} {probs[i]:P1}  ");
        }
        sb.Append($"| inference {w.Rate.Rate:F1} fps ({r.ForwardMs:F1} ms) | capture {feed.Rate.Rate:F1} fps");
        if (feed.State == FeedState.Reconnecting) sb.Append(" | reconnecting");
        return sb.ToString();
    }

    private static string Line(InferenceWorker w, FrameFeed feed, InferenceResult r, int[] top, double t)
    {
        var sb = new System.Text.StringBuilder();
        sb.Append($"{t,6:F1} s  ");
        if (w.IsClassifier)
        {
            int k = Math.Min(top.Length, r.Probabilities.Length);
            var order = Enumerable.Range(0, r.Probabilities.Length).OrderByDescending(i => r.Probabilities[i]).Take(k);
            foreach (int i in order) sb.Append($"{w.Labels[i]} {r.Probabilities[i]:P1}  ");
        }
        else sb.Append($"features {Engine.Tensor.Format(w.OutputShape)}  ");
        sb.Append($"| inference {w.Rate.Rate:F1} fps ({r.ForwardMs:F1} ms) | capture {feed.Rate.Rate:F1} fps");
        if (feed.State == FeedState.Reconnecting) sb.Append(" | reconnecting");
        return sb.ToString();
    }
}
