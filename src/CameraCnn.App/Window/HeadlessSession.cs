// HeadlessSession: `camcnn run --headless`: the same capture and inference threads as the window, without a
// window: one line per second on stdout with the top classes and the figures, stats at the end.
using System.Diagnostics;
using CameraCnn.App.Cli;
using CameraCnn.Engine.Models;
using CameraCnn.Vision;

namespace CameraCnn.App.Window;

/// <summary>The live pipeline without a display (servers, CI, no GPU at all).</summary>
internal sealed class HeadlessSession(RunOptions o, Model model, CaptureThread capture)
{
    private static volatile bool _interrupted;

    public int Run()
    {
        using var frameArrived = new AutoResetEvent(false);
        using var feed = new FrameFeed(capture, frameArrived);
        using var worker = new InferenceWorker(model, feed.ForInference, frameArrived, o.Fuse);
        var latencies = new SampleRing(16384);
        var top = new int[3];
        long start = Stopwatch.GetTimestamp(), firstResult = 0, lastPrint = start, inferred = 0;
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
                    Console.WriteLine(Line(worker, feed, r, top, (now - start) / (double)Stopwatch.Frequency));
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
            });
        return CliRunner.Ok;
    }

    private static void OnCancel(object? sender, ConsoleCancelEventArgs e)
    {
        e.Cancel = true;
        _interrupted = true;
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
