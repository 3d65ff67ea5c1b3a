// VideoSources: the FrameSources backed by OpenCV's VideoCapture: a camera by index, a video file, a URL or pipeline.
using OpenCvSharp;

namespace CameraCnn.Vision;

/// <summary>Shared VideoCapture handling: read, report the actual size/rate/back-end, release.</summary>
public abstract class VideoCaptureSource : FrameSource
{
    private VideoCapture? _capture;

    /// <summary>The open capture, or null.</summary>
    protected VideoCapture? Capture => _capture;

    protected void Attach(VideoCapture capture)
    {
        _capture = capture;
        Width = (int)capture.Get(VideoCaptureProperties.FrameWidth);
        Height = (int)capture.Get(VideoCaptureProperties.FrameHeight);
        double fps = capture.Get(VideoCaptureProperties.Fps);
        Fps = double.IsFinite(fps) && fps > 0 && fps < 10000 ? fps : 0;
        try { Backend = capture.GetBackendName(); }
        catch (OpenCVException) { Backend = null; }
        Position = -1;
    }

    public override FrameRead Read(Mat frame, CancellationToken cancel)
    {
        if (_capture is null) return FrameRead.Lost;
        bool ok;
        try
        {
            ok = _capture.Read(frame) && !frame.Empty();
        }
        catch (OpenCVException)
        {
            ok = false;
        }
        if (!ok) return ReadFailed;
        Position++;
        if (frame.Cols != Width || frame.Rows != Height)
        {
            Width = frame.Cols;
            Height = frame.Rows;
        }
        return FrameRead.Frame;
    }

    /// <summary>What a failed read means for this kind of source: the end (files) or a lost device (cameras, streams).</summary>
    protected abstract FrameRead ReadFailed { get; }

    public override void Close()
    {
        _capture?.Dispose();
        _capture = null;
    }

    /// <summary>Opens with the first back-end that works; null when none does.</summary>
    protected static VideoCapture? TryOpen(Func<VideoCaptureAPIs, VideoCapture> open, IEnumerable<VideoCaptureAPIs> apis)
    {
        foreach (var api in apis)
        {
            VideoCapture? capture = null;
            try
            {
                capture = open(api);
                if (capture.IsOpened()) return capture;
            }
            catch (OpenCVException)
            {
                // An unusable back-end reports by throwing on some platforms; try the next.
            }
            capture?.Dispose();
        }
        return null;
    }
}

/// <summary>What <see cref="CameraSource.Probe"/> found at one index.</summary>
public sealed record CameraInfo(int Index, string Device, bool Available, int Width, int Height, double Fps, string? Backend, string? Error);

/// <summary>
/// A webcam by index: V4L2 on Linux (/dev/videoN), Media Foundation then DirectShow on Windows, AVFoundation on macOS.
/// A read that fails means the camera was lost (<see cref="FrameRead.Lost"/>); the capture thread re-opens it.
/// </summary>
public sealed class CameraSource : VideoCaptureSource
{
    public CameraSource(int index, CaptureRequest? request = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        Index = index;
        Request = request ?? CaptureRequest.Default;
    }

    public int Index { get; }
    public CaptureRequest Request { get; }

    /// <summary>The device node on Linux ("/dev/video0"), else "camera N".</summary>
    public string Device => OperatingSystem.IsLinux() ? $"/dev/video{Index}" : $"camera {Index}";

    public override string Description => $"camera {Index}";
    public override bool IsLive => true;
    protected override FrameRead ReadFailed => FrameRead.Lost;

    public static IReadOnlyList<VideoCaptureAPIs> Backends =>
        OperatingSystem.IsWindows() ? [VideoCaptureAPIs.MSMF, VideoCaptureAPIs.DSHOW]
        : OperatingSystem.IsLinux() ? [VideoCaptureAPIs.V4L2]
        : OperatingSystem.IsMacOS() ? [VideoCaptureAPIs.AVFOUNDATION]
        : [VideoCaptureAPIs.ANY];

    public override void Open()
    {
        Close();
        if (OperatingSystem.IsLinux() && !File.Exists(Device))
        {
            // Without the device node V4L2 fails anyway; saying which devices exist is more useful than its error.
            int[] found = LinuxDeviceIndices();
            string others = found.Length == 0 ? "no video devices at all" : "video devices: " + string.Join(", ", found.Select(i => $"/dev/video{i}"));
            throw new FrameSourceException($"camera {Index} not found: no {Device} ({others})");
        }
        var capture = TryOpen(api => new VideoCapture(Index, api), Backends)
            ?? throw new FrameSourceException($"cannot open camera {Index} ({Device}): in use by another program, no permission, or not a capture device");
        if (Request.Width is { } w) capture.Set(VideoCaptureProperties.FrameWidth, w);
        if (Request.Height is { } h) capture.Set(VideoCaptureProperties.FrameHeight, h);
        if (Request.Fps is { } f) capture.Set(VideoCaptureProperties.Fps, f);
        // One buffered frame keeps latency down where the back-end honours it (V4L2 and DirectShow do).
        capture.Set(VideoCaptureProperties.BufferSize, 1);
        Attach(capture);
    }

    /// <summary>
    /// Opens each camera index in turn (on Linux: every /dev/videoN; elsewhere 0.. until two in a row fail, at most
    /// <paramref name="maxIndex"/>) and reports what it delivers. Cameras are released again.
    /// </summary>
    public static IReadOnlyList<CameraInfo> Probe(int maxIndex = 10)
    {
        var found = new List<CameraInfo>();
        IEnumerable<int> indices = OperatingSystem.IsLinux() ? LinuxDeviceIndices() : Enumerable.Range(0, maxIndex);
        int misses = 0;
        foreach (int i in indices)
        {
            using var camera = new CameraSource(i);
            try
            {
                camera.Open();
                found.Add(new CameraInfo(i, camera.Device, true, camera.Width, camera.Height, camera.Fps, camera.Backend, null));
                misses = 0;
            }
            catch (FrameSourceException e)
            {
                found.Add(new CameraInfo(i, camera.Device, false, 0, 0, 0, null, e.Message));
                if (!OperatingSystem.IsLinux() && ++misses == 2) break;
            }
        }
        if (!OperatingSystem.IsLinux()) found.RemoveAll(c => !c.Available); // indices past the last camera are not devices
        return found;
    }

    private static int[] LinuxDeviceIndices()
    {
        try
        {
            return Directory.EnumerateFiles("/dev", "video*")
                .Select(p => Path.GetFileName(p)["video".Length..])
                .Select(s => int.TryParse(s, out int n) ? n : -1).Where(n => n >= 0).Order().ToArray();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}

/// <summary>
/// A video file (played once or looped by the capture thread) or a URL/pipeline string OpenCV accepts (a live stream:
/// a failed read means it was lost and is re-opened).
/// </summary>
public sealed class VideoSource : VideoCaptureSource
{
    // CAP_PROP_OPEN_TIMEOUT_MSEC / CAP_PROP_READ_TIMEOUT_MSEC: a dead network stream fails instead of hanging.
    private const int OpenTimeoutProperty = 53, ReadTimeoutProperty = 54, StreamTimeoutMs = 10_000;

    private VideoSource(string location, bool isFile)
    {
        Location = location;
        IsFile = isFile;
    }

    /// <summary>A video file; it is checked when opened.</summary>
    public static VideoSource FromFile(string path) => new(path, true);

    /// <summary>A URL (rtsp://, http://...) or a back-end pipeline string, passed to OpenCV as is.</summary>
    public static VideoSource FromUrl(string url) => new(url, false);

    public string Location { get; }
    public bool IsFile { get; }

    public override string Description => IsFile ? $"video {Location}" : $"stream {Location}";
    public override bool IsLive => !IsFile;
    public override bool CanRewind => IsFile;
    protected override FrameRead ReadFailed => IsFile ? FrameRead.End : FrameRead.Lost;

    public override void Open()
    {
        Close();
        VideoCapture? capture;
        if (IsFile)
        {
            CheckReadable(Location);
            capture = TryOpen(api => new VideoCapture(Location, api), [VideoCaptureAPIs.FFMPEG, VideoCaptureAPIs.ANY])
                ?? throw new FrameSourceException($"cannot open video file {Location}: not a video OpenCV can decode");
        }
        else
        {
            int[] timeouts = [OpenTimeoutProperty, StreamTimeoutMs, ReadTimeoutProperty, StreamTimeoutMs];
            capture = TryOpen(api => new VideoCapture(Location, api, timeouts), [VideoCaptureAPIs.ANY])
                ?? throw new FrameSourceException($"cannot open stream {Location}: OpenCV could not connect or does not support it");
        }
        Attach(capture);
    }

    public override void Rewind()
    {
        // Re-opening (rather than seeking to frame 0) notices a file that was replaced or removed meanwhile.
        Close();
        Open();
    }

    private static void CheckReadable(string path)
    {
        if (Directory.Exists(path)) throw new FrameSourceException($"{path} is a directory, not a video file");
        if (!File.Exists(path)) throw new FrameSourceException($"video file not found: {path}");
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1);
            if (stream.Length == 0) throw new FrameSourceException($"cannot open video file {path}: the file is empty");
        }
        catch (Exception e) when (e is IOException and not FrameSourceException or UnauthorizedAccessException)
        {
            throw new FrameSourceException($"cannot read video file {path}: {e.Message}", e);
        }
    }
}
