// LiveFeed: the camera side of the live pipeline. The capture thread (Vision) writes every frame straight into its
// readers' newest-frame slots, one for the inference worker and, with a window, one for the render loop; this class
// names them, pauses them together (Space), counts the frames passed on and says what the source is doing.
using System.Diagnostics;
using CameraCnn.Vision;

namespace CameraCnn.App.Live;

/// <summary>What the source is doing, for the overlay and the stats.</summary>
internal enum FeedState
{
    Starting,
    Live,
    Reconnecting,
    /// <summary>The capture ended or failed for good (the status message says why).</summary>
    Stopped,
}

/// <summary>The readers of a started <see cref="CaptureThread"/> (which this owns from here).</summary>
internal sealed class LiveFeed : IDisposable
{
    private readonly CaptureThread _capture;
    private bool _disposed;

    /// <param name="capture">a started capture thread with one reader (headless) or two (inference, render).</param>
    public LiveFeed(CaptureThread capture)
    {
        _capture = capture;
        ForInference = capture.Readers[0];
        ForRender = capture.Readers.Count > 1 ? capture.Readers[1] : null;
        ForInference.Published += Tick;
    }

    public string Name => _capture.Source.Description;
    /// <summary>The inference worker's reader.</summary>
    public FrameReader ForInference { get; }
    /// <summary>The render loop's reader (null without a window).</summary>
    public FrameReader? ForRender { get; }
    /// <summary>Frames passed on per second (0 while paused).</summary>
    public RateMeter Rate { get; } = new();
    public long Reconnects => _capture.Reconnects;

    public FeedState State => _capture.Status.State switch
    {
        CaptureState.Running => FeedState.Live,
        CaptureState.Reconnecting => FeedState.Reconnecting,
        CaptureState.Starting => FeedState.Starting,
        _ => FeedState.Stopped,
    };

    /// <summary>The capture thread's last status line ("camera 0 stopped delivering frames; reconnecting in 1 s").</summary>
    public string Status => _capture.Status.Message;

    /// <summary>While paused the device keeps streaming, but no frame is copied to anyone.</summary>
    public bool Paused
    {
        get => ForInference.Paused;
        set
        {
            foreach (var reader in _capture.Readers) reader.Paused = value;
        }
    }

    private void Tick() => Rate.Tick(Stopwatch.GetTimestamp()); // on the capture thread

    /// <summary>Stops the capture thread and releases the source (after the readers' consumers have stopped).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        ForInference.Published -= Tick;
        _capture.Dispose();
    }
}
