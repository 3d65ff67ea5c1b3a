// camcnn run: the live window. A webcam (or --source) is classified frame by frame; the top classes stand over the
// picture as bars, with frame rates and latency; F lays a layer's feature maps over it. --frames/--keys/--screenshot/
// --stats-json make a bounded, scripted run for tests; --headless runs the same pipeline without a window.
using System.CommandLine;
using CameraCnn.App.Cli;
using CameraCnn.App.Teach;
using CameraCnn.Engine.Teach;
using CameraCnn.Vision.Teach;
using CameraCnn.App.Live;
using CameraCnn.App.Window;
using CameraCnn.Vision;
using OpenCvSharp;
using FrameSource = CameraCnn.Vision.FrameSource;

namespace CameraCnn.App.Commands;

public static class RunCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model")
        {
            Description = "a shipped model name (resnet18) or an .onnx file; a classifier shows bars, a backbone its features",
            DefaultValueFactory = _ => "resnet18",
        };
        var sources = new SourceOptions();
        var unfused = new Option<bool>("--unfused")
        {
            Description = "run the graph as loaded instead of fused (slower; a conv and the ReLU after it can then be shown apart)",
        };
        var outage = new Option<string?>("--outage")
        {
            Description = "make the source unavailable from second A to second B of the run (A-B), to see reconnecting and recovery",
        };
        var frames = new Option<int?>("--frames") { Description = "draw N frames back to back at --max-fps, then stop (with --headless: N inferences)" };
        var seconds = new Option<double?>("--seconds") { Description = "stop after S seconds (frames drawn on demand, as interactively)" };
        var screenshot = new Option<string?>("--screenshot") { Description = "save the last frame as an image (PNG) (needs --frames or --seconds)" };
        var keys = new Option<string?>("--keys")
        {
            Description = "keys to replay during a --frames or --seconds run, comma-separated, e.g. \"F,],],C\" (also Space, Esc, Up, Down, "
                        + "Backspace, Click:X:Y, Wheel:N, Hold:K:SECONDS, Wait:SECONDS, Text:abc)",
        };
        var stats = new Option<string?>("--stats-json") { Description = "write frames, frame rates, latency percentiles and bytes allocated per frame as JSON" };
        var headless = new Option<bool>("--headless") { Description = "no window: print the top classes once a second" };
        var size = new Option<string>("--size") { Description = "window size WxH", DefaultValueFactory = _ => "1280x720" };
        var fullscreen = new Option<bool>("--fullscreen") { Description = "start fullscreen (F11 toggles)" };
        var noVsync = new Option<bool>("--no-vsync") { Description = "do not wait for the display's refresh" };
        var maxFps = new Option<double?>("--max-fps") { Description = "cap on frames drawn per second (0 = none; default 60, or 30 with a software OpenGL such as llvmpipe)" };
        var data = new Option<string?>("--data")
        {
            Description = "teach mode's data folder (hold 1-9 to record frames into it; default: the per-user teach folder); needs a backbone --model (resnet18 or a saved teach model)",
        };
        var threshold = new Option<float?>("--threshold")
        {
            Description = "teach mode: confidence (0..1) below which the head's prediction is shown as \"unknown\" (default: the teach model's, else 0.5)",
        };
        var classes = new Option<string?>("--classes")
        {
            Description = "teach mode: names for the classes of keys 1, 2, 3... e.g. apple,banana,none (R renames one in the window)",
        };
        var recordRate = new Option<double>("--record-rate")
        {
            Description = "teach mode: frames recorded per second while a digit key is held",
            DefaultValueFactory = _ => 5,
        };
        var hidden = new Option<int>("--hidden") { Description = "teach mode: hidden ReLU units in the head T trains (0: dense + softmax only)", DefaultValueFactory = _ => 0 };
        var augment = new Option<int>("--augment")
        {
            Description = "teach mode: augmented copies (flip, crop, colour jitter) of each recorded frame, one backbone forward each, computed in the background",
            DefaultValueFactory = _ => 0,
        };
        var fineTune = new Option<int>("--fine-tune")
        {
            Description = "teach mode: T also trains the backbone's last N residual blocks (resnet18 has 9), not only the head, in the "
                        + "background; the fine-tuned network replaces the live one between two frames and S saves it whole. Their input "
                        + "is cached per frame in DATA/.camcnn-activations-*.bin; batch norm in those blocks keeps its running statistics "
                        + "(inference mode), its scale and shift train. The automatic training when a key is released stays head-only "
                        + "(on the fine-tuned backbone's features once there is one). With --headless: one run on start. 0: head only",
            DefaultValueFactory = _ => 0,
        };
        var cmd = new Command("run", "Open the live window: webcam (or --source) classified frame by frame, feature maps on F, help on H.")
        {
            model, frames, seconds, screenshot, keys, stats, headless, size, fullscreen, noVsync, maxFps, unfused, outage, data, threshold, classes, recordRate, hidden, augment,
            fineTune,
        };
        // The source options shared with `collect` (--loop and --realtime do not apply: the window always loops files
        // and plays them at their own rate, like a camera).
        foreach (Option o in new Option[] { sources.Source, sources.Width, sources.Height, sources.Fps, sources.Mirror, sources.ListCameras })
            cmd.Options.Add(o);
        cmd.SetAction(r => CliRunner.Run(() => r.GetValue(sources.ListCameras) ? SourceOptions.PrintCameras() : Run(
            r.GetValue(model)!, r.GetValue(sources.Source) ?? "0", new CaptureRequest(r.GetValue(sources.Width), r.GetValue(sources.Height), r.GetValue(sources.Fps)),
            r.GetValue(sources.Mirror), r.GetValue(outage), r.GetValue(frames), r.GetValue(seconds), r.GetValue(screenshot), r.GetValue(keys), r.GetValue(stats),
            r.GetValue(headless), r.GetValue(size)!, r.GetValue(fullscreen), r.GetValue(noVsync), r.GetValue(maxFps), !r.GetValue(unfused),
            new TeachArgs(r.GetValue(data), r.GetValue(threshold), r.GetValue(classes), r.GetValue(recordRate), r.GetValue(hidden), r.GetValue(augment),
                r.GetValue(fineTune)))));
        return cmd;
    }

    private static int Run(string modelArg, string source, CaptureRequest request, bool mirror, string? outage, int? frames, double? seconds,
        string? screenshot, string? keys, string? stats, bool headless, string size, bool fullscreen, bool noVsync, double? maxFps, bool fuse,
        TeachArgs t)
    {
        var (data, threshold, classNames, recordRate) = (t.Data, t.Threshold, t.Classes, t.RecordRate);
        OptionRanges.Number(recordRate, "--record-rate", 0.1, 60);
        OptionRanges.Whole(t.Hidden, "--hidden", 0, OptionRanges.MaxHidden);
        OptionRanges.Whole(t.Augment, "--augment", 0, OptionRanges.MaxAugment);
        OptionRanges.Whole(t.FineTune, "--fine-tune", 0); // the top of its range is the model's block count, checked once it is loaded
        OptionRanges.Number(threshold, "--threshold", 0, 1);
        OptionRanges.Whole(frames, "--frames", 1);
        OptionRanges.Number(seconds, "--seconds", 0, SourceOptions.MaxSeconds, minOpen: true);
        OptionRanges.Number(maxFps, "--max-fps", 0, SourceOptions.MaxFps);
        SourceOptions.CheckRanges(request);
        string[] names = ParseClassNames(classNames);
        if (data is not null && (data.Trim().Length == 0 || File.Exists(data)))
            throw new CliException(data.Trim().Length == 0 ? "--data is empty, expected a teach folder" : $"--data {data} is a file, not a teach folder");
        if (headless && (screenshot is not null || keys is not null)) throw new CliException("--screenshot and --keys need the window (drop --headless)");
        if (screenshot is not null && frames is null && seconds is null) throw new CliException("--screenshot needs --frames N or --seconds S (a bounded run)");
        if (keys is not null && frames is null && seconds is null) throw new CliException("--keys needs --frames N or --seconds S (a bounded run)");
        if (screenshot is not null && Path.GetExtension(screenshot).ToLowerInvariant() is not (".png" or ".jpg" or ".jpeg" or ".bmp"))
            throw new CliException($"--screenshot {screenshot}: use a .png, .jpg or .bmp file name");
        if (screenshot is not null) screenshot = OutputPath.EnsureWritable(screenshot, "--screenshot");
        if (stats is not null) stats = OutputPath.EnsureWritable(stats, "--stats-json");
        if (keys is not null)
        {
            try { KeyScript.Validate(keys); }
            catch (ArgumentException e) { throw new CliException(e.Message); }
        }
        var (width, height) = ParseSize(size);
        (double From, double To)? outageWindow = null;
        if (outage is not null)
        {
            try { outageWindow = OutageSource.ParseWindow(outage); }
            catch (ArgumentException e) { throw new CliException(e.Message, CliRunner.UsageError); }
            // A test tool: a window past a day is a typo, not a wish to wait a lifetime for the first frame.
            OptionRanges.Number(outageWindow.Value.To, "--outage (its end B)", 0, 86400);
        }

        try
        {
            // The cheap window checks first: no display or no GLFW should not cost a model load.
            if (!headless) GlWindow.Preflight();
            var model = ModelCatalog.Load(modelArg);
            string modelName = File.Exists(modelArg) ? Path.GetFileNameWithoutExtension(modelArg) : modelArg;
            // Teach mode: a backbone (no labels, e.g. resnet18) or a model saved by teach mode; not headless.
            bool teachable = TeachModel.IsTeachModel(model) || model.Labels.Count == 0;
            string dataDir = data ?? TeachDataset.DefaultDirectory;
            // Headless, a teach folder only classifies (no keys to record with): used when given or when it exists.
            if (headless && teachable && data is not null && !Directory.Exists(data))
                throw new CliException($"--data {data}: no such teach folder (record classes into it in the window first: camcnn run --data {data})");
            bool teachWanted = teachable && (!headless || data is not null || Directory.Exists(dataDir));
            if (!teachable && (data ?? classNames) is not null)
                Report.Note("camcnn: note: --data and --classes are ignored: teach mode needs a backbone --model (resnet18 or a saved teach model)");
            FineTuneOptions? fineTune = t.FineTune > 0 ? CheckFineTune(model, modelName, t, teachWanted) : null;
            TeachSession? teach = null;
            Engine.Node? featureNode = null;
            if (teachWanted)
            {
                try
                {
                    featureNode = TeachModel.FeatureNode(model);
                    var head = TeachModel.ReadHead(model);
                    teach = TeachSession.Open(new TeachOptions
                    {
                        DataDirectory = dataDir,
                        Backbone = BackboneSource.For(model, modelArg),
                        Threshold = threshold ?? TeachModel.Threshold(model) ?? 0.5f,
                        InitialHead = head,
                        TrainOnStart = true,
                        Head = new HeadOptions { Hidden = t.Hidden },
                        Augment = t.Augment,
                        FineTune = fineTune,
                        FineTuneOnStart = headless && fineTune is not null,
                    });
                    NameClasses(teach, names);
                }
                catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException)
                {
                    teach?.Dispose();
                    throw new CliException($"teach mode: {e.Message}");
                }
            }
            try
            {
                // One capture reader for the inference worker, and one for the window's render loop.
                var (capture, notice) = StartCapture(source, request, outageWindow, readers: headless ? 1 : 2);
                var options = new RunOptions
                {
                    ModelName = modelName,
                    Frames = frames,
                    Seconds = seconds,
                    Screenshot = screenshot,
                    Keys = keys,
                    StatsJson = stats,
                    Width = width,
                    Height = height,
                    Fullscreen = fullscreen,
                    Vsync = !noVsync,
                    MaxFps = maxFps,
                    Mirror = mirror,
                    Fuse = fuse,
                    RecordRate = recordRate,
                    TeachSavePath = teach is null ? null : Path.Combine(teach.Dataset.Directory, "teach.onnx"),
                };
                return headless ? new HeadlessSession(options, model, capture, teach, featureNode).Run()
                                : new LiveSession(options, model, capture, notice, teach, featureNode).Run();
            }
            finally
            {
                teach?.Dispose(); // writes the frames still queued
            }
        }
        catch (WindowException e) { throw new CliException(e.Message); }
        catch (ShaderException e) { throw new CliException(e.Message); }
        catch (FrameSourceException e) { throw new CliException(e.Message); }
        catch (OpenCVException e) { throw new CliException($"OpenCV: {e.Message}"); }
    }

    /// <summary>The teach-mode options of `run`.</summary>
    private sealed record TeachArgs(string? Data, float? Threshold, string? Classes, double RecordRate, int Hidden, int Augment, int FineTune);

    /// <summary>
    /// --fine-tune N: teach mode only, and N within the model's residual blocks (before the feature node), or one line
    /// and exit code 2. The options T fine-tunes with (the train command's defaults).
    /// </summary>
    private static FineTuneOptions CheckFineTune(Engine.Models.Model model, string modelName, TeachArgs t, bool teach)
    {
        if (!teach)
            throw new CliException("--fine-tune applies to teach mode: give a backbone --model (resnet18 or a saved teach model)" +
                                   " and, with --headless, a --data folder", CliRunner.UsageError);
        try
        {
            ResidualBlocks.CutBefore(model.Graph, t.FineTune, TeachModel.FeatureNode(model));
        }
        catch (ArgumentException e)
        {
            throw new CliException($"{e.Message} ({modelName})", CliRunner.UsageError);
        }
        return new FineTuneOptions { Blocks = t.FineTune, Head = new HeadOptions { Hidden = t.Hidden } };
    }

    /// <summary>--classes apple,banana,none: names for keys 1, 2, 3... (checked before anything is opened).</summary>
    private static string[] ParseClassNames(string? list)
    {
        if (list is null) return [];
        string[] names = list.Split(',').Select(n => n.Trim()).ToArray();
        if (names.Length > 9)
            throw new CliException($"--classes: at most 9 names (keys 1-9); got {names.Length}");
        if (names.Any(n => n.Length == 0)) throw new CliException("--classes: empty name in the list (use e.g. apple,banana,none)");
        string[] clean;
        try { clean = names.Select(Vision.SampleWriter.SanitizeClassName).ToArray(); }
        catch (ArgumentException e) { throw new CliException($"--classes: {e.Message}"); }
        var twice = clean.GroupBy(n => n, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1);
        if (twice is not null) throw new CliException($"--classes: '{twice.Key}' appears twice");
        return names;
    }

    /// <summary>
    /// Gives classes 1..n the --classes names. A class already called so keeps its frames; a name another class has
    /// is refused (the message says which) rather than merging or swapping folders behind the user's back.
    /// </summary>
    private static void NameClasses(TeachSession teach, string[] names)
    {
        for (int i = 0; i < names.Length; i++)
        {
            var existing = teach.Classes.FirstOrDefault(c => c.Index == i);
            if (existing is not null && string.Equals(existing.Name, Vision.SampleWriter.SanitizeClassName(names[i]), StringComparison.Ordinal)) continue;
            teach.Rename(i, names[i]);
        }
        if (!teach.Flush(TimeSpan.FromSeconds(10))) throw new IOException("the class folders could not be renamed within 10 s");
    }

    /// <summary>
    /// Opens --source and starts its capture thread (files looped and played at their own rate, like a camera). A camera
    /// that cannot be opened falls back to the synthetic pattern, with a notice the window shows.
    /// </summary>
    private static (CaptureThread Capture, string? Notice) StartCapture(string spec, CaptureRequest request, (double From, double To)? outage, int readers)
    {
        var options = new CaptureOptions { Loop = true, Pace = true, MaxReconnectDelay = TimeSpan.FromSeconds(2), Readers = readers };
        var source = FrameSources.Create(SourceOptions.CheckSpec(spec), request);
        try
        {
            return (Start(source, options, outage), null);
        }
        catch (FrameSourceException e) when (source is CameraSource)
        {
            string notice = $"no camera ({e.Message}): showing the synthetic pattern; choose a source with --source";
            Report.Note($"camcnn: note: {notice}");
            return (Start(new SyntheticSource(request), options, outage), notice);
        }
    }

    private static CaptureThread Start(FrameSource source, CaptureOptions options, (double From, double To)? outage)
    {
        if (outage is { } o) source = new OutageSource(source, o.From, o.To);
        var capture = new CaptureThread(source, options);
        try
        {
            capture.Start();
            return capture;
        }
        catch
        {
            capture.Dispose();
            throw;
        }
    }

    private static (int, int) ParseSize(string size)
    {
        string[] wh = size.ToLowerInvariant().Split('x');
        if (wh.Length == 2 && int.TryParse(wh[0], out int w) && int.TryParse(wh[1], out int h) && w is >= 320 and <= 16384 && h is >= 240 and <= 16384)
            return (w, h);
        throw new CliException($"--size {size}: expected WxH, e.g. 1280x720 (from 320x240 to 16384x16384)", CliRunner.UsageError);
    }
}
