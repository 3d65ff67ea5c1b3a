// SourceOptions: the frame-source options shared by the commands that read a camera, video or image folder
// (--source, --width/--height/--fps, --mirror, --loop, --realtime, --list-cameras), and running the capture thread.
using System.CommandLine;
using System.Globalization;
using CameraCnn.App.Cli;
using CameraCnn.Engine.IO;
using CameraCnn.Vision;

namespace CameraCnn.App.Commands;

/// <summary>The --source family of options; add them to a command, then <see cref="Start"/> a capture from a parse result.</summary>
public sealed class SourceOptions
{
    public Option<string> Source { get; } = new("--source")
    {
        Description = $"where frames come from: {FrameSources.Help}",
        DefaultValueFactory = _ => "0",
    };
    public Option<int?> Width { get; } = new("--width") { Description = "frame width to request from the camera (the actual one is reported)" };
    public Option<int?> Height { get; } = new("--height") { Description = "frame height to request from the camera" };
    public Option<double?> Fps { get; } = new("--fps") { Description = "frame rate to request from the camera (synthetic: its rate; folders: their rate with --realtime)" };
    public Option<bool> Mirror { get; } = new("--mirror") { Description = "flip frames left-right" };
    public Option<bool> Loop { get; } = new("--loop") { Description = "start videos and image folders over at their end" };
    public Option<bool> Realtime { get; } = new("--realtime") { Description = "play videos and folders at their frame rate and drop frames when busy, like a camera (default: every frame)" };
    public Option<bool> ListCameras { get; } = new("--list-cameras") { Description = "list the cameras found and exit" };

    public void AddTo(Command command)
    {
        foreach (Option o in new Option[] { Source, Width, Height, Fps, Mirror, Loop, Realtime, ListCameras }) command.Options.Add(o);
    }

    /// <summary>
    /// Opens the source named by --source and starts its capture thread. Cameras, streams and the synthetic pattern
    /// deliver the newest frame (older ones dropped); files deliver every frame unless --realtime. Status changes other
    /// than the first start are printed to stderr as notes.
    /// </summary>
    /// <exception cref="CliException">Bad option values.</exception>
    /// <exception cref="FrameSourceException">The source cannot be opened (one line, naming it).</exception>
    public CaptureThread Start(ParseResult r)
    {
        int? w = r.GetValue(Width), h = r.GetValue(Height);
        double? fps = r.GetValue(Fps);
        CheckRanges(new CaptureRequest(w, h, fps));
        string spec = CheckSpec(r.GetValue(Source) ?? "0");
        var source = FrameSources.Create(spec, new CaptureRequest(w, h, fps));
        bool realtime = r.GetValue(Realtime);
        var options = new CaptureOptions
        {
            Mirror = r.GetValue(Mirror),
            Loop = r.GetValue(Loop),
            Lossless = !source.IsLive && !realtime,
            Pace = realtime,
        };
        source.Warning += message => Report.Note($"camcnn: warning: {message}");
        var capture = new CaptureThread(source, options);
        try
        {
            capture.Start();
        }
        catch
        {
            capture.Dispose();
            throw;
        }
        Report.Note($"source: {CaptureThread.Describe(source)}{Requested(source, w, h, fps)}");
        capture.StatusChanged += s =>
        {
            if (s.State is CaptureState.Reconnecting or CaptureState.Running) Report.Note($"camcnn: {s.Message}");
        };
        return capture;
    }

    /// <summary>Longest --seconds a bounded run may ask for (a year); --max-fps and --fps caps.</summary>
    public const double MaxSeconds = 365 * 24 * 3600, MaxFps = 10000, MaxCameraFps = 1000;
    public const int MaxFrameSide = 8192;

    /// <summary>The parsed --width, --height and --fps in range (exit code 2 otherwise), before anything is loaded or opened.</summary>
    public void CheckRanges(ParseResult r) => CheckRanges(new CaptureRequest(r.GetValue(Width), r.GetValue(Height), r.GetValue(Fps)));

    /// <summary>--width, --height and --fps in range (exit code 2 otherwise); the commands call it before opening anything.</summary>
    public static void CheckRanges(CaptureRequest request)
    {
        OptionRanges.Whole(request.Width, "--width", 1, MaxFrameSide);
        OptionRanges.Whole(request.Height, "--height", 1, MaxFrameSide);
        OptionRanges.Number(request.Fps, "--fps", 0, MaxCameraFps);
    }

    /// <summary>
    /// --source as given, after the checks a path needs before anything opens it: not empty, and not a FIFO or socket
    /// (opening one blocks until someone writes). Character devices pass: cameras are /dev/video*.
    /// </summary>
    public static string CheckSpec(string spec)
    {
        if (spec.Trim().Length == 0) throw new CliException("--source is empty (a camera index, a video or image path, a folder, a URL or synthetic)", CliRunner.UsageError);
        if (FileKind.Of(spec) is var kind and (PathKind.Fifo or PathKind.Socket or PathKind.BlockDevice))
            throw new CliException($"--source {spec} is {FileKind.Describe(kind)}; give a camera, a video or image file, a folder, a URL or synthetic");
        return spec;
    }

    /// <summary>Camera settings that were asked for but not granted, so the user sees the difference.</summary>
    private static string Requested(FrameSource source, int? w, int? h, double? fps)
    {
        if (source is not CameraSource) return "";
        bool differs = w is { } rw && rw != source.Width || h is { } rh && rh != source.Height || fps is { } rf && Math.Abs(rf - source.Fps) > 0.5;
        if (!differs) return "";
        string req = $"{w?.ToString(CultureInfo.InvariantCulture) ?? "?"}x{h?.ToString(CultureInfo.InvariantCulture) ?? "?"}";
        if (fps is { } f) req += $" @ {f:0.##} fps";
        return $" (requested {req})";
    }

    /// <summary>--list-cameras: probes the cameras and prints one line per index.</summary>
    public static int PrintCameras()
    {
        var cameras = CameraSource.Probe();
        if (cameras.Count == 0)
        {
            Console.WriteLine(OperatingSystem.IsLinux() ? "no cameras found (no /dev/video* devices)" : "no cameras found");
            return CliRunner.Ok;
        }
        foreach (var c in cameras)
            Console.WriteLine(c.Available
                ? $"{c.Index}  {c.Device}  {c.Width}x{c.Height} @ {c.Fps:0.##} fps  ({c.Backend})"
                : $"{c.Index}  {c.Device}  not usable: {c.Error}");
        return CliRunner.Ok;
    }
}

/// <summary>Ctrl+C as a request to stop cleanly (print the summary) instead of killing the process.</summary>
public sealed class StopRequest : IDisposable
{
    private volatile bool _requested;

    public StopRequest() => Console.CancelKeyPress += OnCancel;

    public bool IsRequested => _requested;

    private void OnCancel(object? sender, ConsoleCancelEventArgs e)
    {
        if (_requested) return; // a second Ctrl+C kills as usual
        e.Cancel = true;
        _requested = true;
    }

    public void Dispose() => Console.CancelKeyPress -= OnCancel;
}
