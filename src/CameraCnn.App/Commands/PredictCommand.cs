// camcnn predict: runs a model on one image (--image) or on the frames of a camera, video or image folder (--source)
// with the model's own preprocessing, printing the top classes, or the embedding's shape and L2 norm for a backbone.
using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using CameraCnn.App.Cli;
using CameraCnn.Engine;
using CameraCnn.Engine.Models;
using CameraCnn.Vision;
using OpenCvSharp;

namespace CameraCnn.App.Commands;

public static class PredictCommand
{
    private static readonly JsonSerializerOptions SkipNulls = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public static Command Create()
    {
        // --model is checked in the action rather than marked required, so `predict --list-cameras` needs no model.
        var model = new Option<string>("--model") { Description = "model: an .onnx file or a shipped model name (e.g. resnet18) (REQUIRED)" };
        var image = new Option<string>("--image") { Description = "classify one image file (PNG, JPG, BMP) instead of a --source" };
        var frames = new Option<int?>("--frames") { Description = "with --source: stop after this many frames (default: when the source ends; Ctrl+C stops)" };
        var top = new Option<int>("--top") { Description = "how many classes to show", DefaultValueFactory = _ => 5 };
        var json = new Option<bool>("--json") { Description = "print JSON lines: one per frame, then the summary" };
        var source = new SourceOptions();
        var cmd = new Command("predict", "Classify an image, or every frame of a camera, video or image folder, and print the top classes.")
        {
            model, image, frames, top, json,
        };
        source.AddTo(cmd);
        cmd.SetAction(r => CliRunner.Run(() =>
        {
            if (r.GetValue(source.ListCameras)) return SourceOptions.PrintCameras();
            string modelName = r.GetValue(model) ?? throw new CliException("--model is required (an .onnx file or a shipped model name)");
            int k = OptionRanges.Whole(r.GetValue(top), "--top", 1);
            OptionRanges.Whole(r.GetValue(frames), "--frames", 1);
            source.CheckRanges(r);
            string? imagePath = r.GetValue(image);
            bool explicitSource = r.GetResult(source.Source) is { Implicit: false };
            if (imagePath is not null && explicitSource) throw new CliException("give either --image or --source, not both");
            return imagePath is not null
                ? RunImage(modelName, imagePath, k, r.GetValue(json))
                : RunSource(modelName, source, r, r.GetValue(frames), k, r.GetValue(json));
        }));
        return cmd;
    }

    private static (Model Model, Preprocessing Pre) LoadModel(string name)
    {
        var model = ModelCatalog.Load(name);
        var pre = model.Preprocessing ?? throw new CliException($"{name} has no preprocessing metadata (input size, colour order, mean/std)");
        return (model, pre);
    }

    private static int RunImage(string modelName, string imagePath, int top, bool json)
    {
        var (model, pre) = LoadModel(modelName);
        using var frame = DecodeImage(imagePath, grayscale: pre.Channels == 1);
        using var preprocessor = new FramePreprocessor(pre);
        var x = preprocessor.CreateInput();
        preprocessor.Process(frame, x);
        var output = model.Graph.Forward(x);

        if (model.Labels.Count == 0)
        {
            float norm = L2Norm(output);
            if (json)
                Console.WriteLine(JsonSerializer.Serialize(new { image = imagePath, embedding_shape = output.Shape, l2_norm = Math.Round(norm, 5) }));
            else
                Console.WriteLine($"embedding {output.ShapeString}  L2 norm {norm:F4}");
            return CliRunner.Ok;
        }
        var ranked = Rank(output, model.Labels, top);
        if (json)
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                image = imagePath,
                top = ranked.Select(r => new { label = r.Label, probability = Math.Round(r.Probability, 5) }),
            }));
        else
            foreach (var (label, p) in ranked) Console.WriteLine($"{p,7:P1}  {label}");
        return CliRunner.Ok;
    }

    /// <summary>Decodes an image as the model wants it: gray models read gray pixels (as training data is loaded).</summary>
    private static Mat DecodeImage(string path, bool grayscale)
    {
        if (Directory.Exists(path)) throw new CliException($"--image {path} is a directory; classify the images of a folder with --source {path}");
        if (!File.Exists(path)) throw new CliException($"image not found: {path}");
        Engine.IO.FileKind.EnsureReadableFile(path); // a FIFO would block the read
        return ImageFile.TryDecode(File.ReadAllBytes(path), grayscale) ?? throw new CliException($"cannot decode image: {path}");
    }

    private static int RunSource(string modelName, SourceOptions source, ParseResult r, int? frames, int top, bool json)
    {
        var (model, pre) = LoadModel(modelName);
        using var preprocessor = new FramePreprocessor(pre);
        var x = preprocessor.CreateInput();
        using var capture = source.Start(r);
        using var stop = new StopRequest();
        bool embedding = model.Labels.Count == 0;
        // Many frames: the fused inference graph (batch norm folded, pre-packed weights), as the window and bench run.
        var graph = Engine.Optimization.InferenceFusion.Fuse(model.Graph);

        var clock = Stopwatch.StartNew();
        long first = 0, busy = 0, n = 0;
        while (!stop.IsRequested && (frames is null || n < frames))
        {
            if (!capture.TakeLatest(TimeSpan.FromMilliseconds(250), out var frame))
            {
                if (capture.IsFinished) break;
                continue; // a slow camera, or reconnecting (already reported on stderr)
            }
            long t0 = Stopwatch.GetTimestamp();
            preprocessor.Process(frame.Image, x);
            var output = graph.Forward(x);
            busy += Stopwatch.GetTimestamp() - t0;
            if (n++ == 0) first = frame.Timestamp;
            double time = Math.Round(Stopwatch.GetElapsedTime(first, frame.Timestamp).TotalSeconds, 4); // since the first frame
            if (embedding)
            {
                float norm = L2Norm(output);
                if (json)
                    Console.WriteLine(JsonSerializer.Serialize(new
                    {
                        frame = n, sequence = frame.Sequence, source_index = frame.SourceIndex, name = frame.SourceName, time,
                        embedding_shape = output.Shape, l2_norm = Math.Round(norm, 5),
                    }, SkipNulls));
                else
                    Console.WriteLine($"frame {n}{Where(frame)}: embedding {output.ShapeString}  L2 norm {norm:F4}");
            }
            else
            {
                var ranked = Rank(output, model.Labels, top);
                if (json)
                    Console.WriteLine(JsonSerializer.Serialize(new
                    {
                        frame = n, sequence = frame.Sequence, source_index = frame.SourceIndex, name = frame.SourceName, time,
                        top = ranked.Select(p => new { label = p.Label, probability = Math.Round(p.Probability, 5) }),
                    }, SkipNulls));
                else
                    Console.WriteLine($"frame {n}{Where(frame)}: " + string.Join(", ", ranked.Select(p => $"{p.Probability:P1} {p.Label}")));
            }
        }
        double seconds = clock.Elapsed.TotalSeconds;
        capture.Stop();
        var status = capture.Status;
        if (n == 0)
            throw new CliException(status.State == CaptureState.Failed ? status.Message : $"no frames from {capture.Source.Description}");

        double busySeconds = busy / (double)Stopwatch.Frequency;
        double inferenceFps = busySeconds > 0 ? n / busySeconds : 0;
        if (json)
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                frames = n,
                seconds = Math.Round(seconds, 3),
                capture_fps = Math.Round(capture.AverageCaptureFps, 2),
                inference_fps = Math.Round(inferenceFps, 2),
                inference_ms = Math.Round(busySeconds * 1000 / n, 3),
                captured = capture.Captured,
                dropped = capture.Dropped,
                skipped = capture.Source.Skipped,
                reconnects = capture.Reconnects,
                source = capture.Source.Description,
            }));
        else
            Console.WriteLine($"{n} frame(s) in {seconds:F2} s: capture {capture.AverageCaptureFps:F1} fps, inference {inferenceFps:F1} fps " +
                              $"({busySeconds * 1000 / n:F1} ms/frame), {capture.Dropped} dropped, {capture.Source.Skipped} skipped");
        if (status.State == CaptureState.Failed) return CliRunner.Fail(status.Message, CliRunner.Failed);
        return CliRunner.Ok;
    }

    private static string Where(CapturedFrame frame) =>
        frame.SourceName is { } name ? $" ({name})" : frame.SourceIndex >= 0 ? $" (#{frame.SourceIndex})" : "";

    private static List<(string Label, float Probability)> Rank(Tensor output, IReadOnlyList<string> labels, int top) =>
        Enumerable.Range(0, output.Length).OrderByDescending(i => output.Data[i]).Take(top)
            .Select(i => (i < labels.Count ? labels[i] : $"class {i}", output.Data[i])).ToList();

    private static float L2Norm(Tensor t)
    {
        double sum = 0;
        foreach (float v in t.Data) sum += (double)v * v;
        return (float)Math.Sqrt(sum);
    }
}
