// FrameSource: where frames come from (camera, video file or stream, image folder, synthetic pattern), read one at a
// time by the capture thread. Sources do not own threads or buffering; CaptureThread does.
using OpenCvSharp;

namespace CameraCnn.Vision;

/// <summary>A source that cannot be opened, or was lost. The message is one line for the user and names the source.</summary>
public sealed class FrameSourceException(string message, Exception? inner = null) : IOException(message, inner);

/// <summary>The outcome of one <see cref="FrameSource.Read"/>.</summary>
public enum FrameRead
{
    /// <summary>A frame was written into the caller's Mat.</summary>
    Frame,
    /// <summary>The source has no more frames (end of a video or folder); <see cref="FrameSource.Rewind"/> may restart it.</summary>
    End,
    /// <summary>The source stopped delivering (camera unplugged, stream dropped); closing and re-opening may recover it.</summary>
    Lost,
}

/// <summary>What the user asked a camera (or the synthetic pattern) for; null leaves the device's default.</summary>
public sealed record CaptureRequest(int? Width = null, int? Height = null, double? Fps = null)
{
    public static readonly CaptureRequest Default = new();
}

/// <summary>
/// One source of frames. Life cycle: <see cref="Open"/>, then <see cref="Read"/> until it returns End or Lost, then
/// <see cref="Rewind"/> (files) or <see cref="Close"/> + <see cref="Open"/> (reconnect); used by one thread at a time.
/// Frames are 8-bit BGR (3 channels) for cameras, videos and the synthetic pattern, and for image files as decoded in colour.
/// </summary>
public abstract class FrameSource : IDisposable
{
    static FrameSource() => NativeCv.QuietLogs();

    /// <summary>For messages: "camera 0", "video clip.avi", "image folder data/cats", "synthetic pattern".</summary>
    public abstract string Description { get; }

    /// <summary>Frames arrive in real time whether or not anyone reads them (cameras, streams, the synthetic pattern).</summary>
    public abstract bool IsLive { get; }

    /// <summary>Whether <see cref="Rewind"/> can start the source over (videos and folders).</summary>
    public virtual bool CanRewind => false;

    /// <summary>Actual frame size after <see cref="Open"/> (0 when unknown until the first frame, e.g. image folders).</summary>
    public int Width { get; protected set; }
    public int Height { get; protected set; }

    /// <summary>Actual frame rate after <see cref="Open"/> as the device or file reports it; 0 when unknown.</summary>
    public double Fps { get; protected set; }

    /// <summary>The OpenCV back-end in use ("V4L2", "FFMPEG", ...), or null.</summary>
    public string? Backend { get; protected set; }

    /// <summary>Index of the frame last read within the source (frame number in a video, image number in a folder).</summary>
    public long Position { get; protected set; } = -1;

    /// <summary>Name of the item last read (an image's path relative to its folder), or null.</summary>
    public string? ItemName { get; protected set; }

    /// <summary>How many items were skipped as unreadable (corrupt images in a folder).</summary>
    public int Skipped { get; protected set; }

    /// <summary>Non-fatal problems (a corrupt image skipped), raised on the reading thread.</summary>
    public event Action<string>? Warning;

    protected void Warn(string message) => Warning?.Invoke(message);

    /// <summary>Opens (or re-opens after <see cref="Close"/>) the source.</summary>
    /// <exception cref="FrameSourceException">It cannot be opened; the message says why and names it.</exception>
    public abstract void Open();

    /// <summary>
    /// Reads the next frame into <paramref name="frame"/> (whose buffer is reused when the size matches). Live sources
    /// block until a frame arrives; <paramref name="cancel"/> interrupts waits the source itself makes.
    /// </summary>
    public abstract FrameRead Read(Mat frame, CancellationToken cancel);

    /// <summary>Starts the source over at its first frame.</summary>
    /// <exception cref="FrameSourceException">It cannot be re-opened (e.g. the file has gone).</exception>
    public virtual void Rewind() => throw new NotSupportedException($"{Description} cannot be rewound");

    /// <summary>Releases the device or file; <see cref="Open"/> may be called again.</summary>
    public abstract void Close();

    public void Dispose()
    {
        Close();
        GC.SuppressFinalize(this);
    }

    public override string ToString() => Description;
}
