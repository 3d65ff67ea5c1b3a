// FrameFeed: hands the capture thread's newest frame to the two consumers of the live window. CaptureThread (Vision)
// serves one reader; this small long-lived thread is that reader and copies each new frame into two latest-frame
// slots, one for the render thread and one for the inference thread, so neither ever waits for the other.
using System.Diagnostics;
using CameraCnn.Vision;
using OpenCvSharp;

namespace CameraCnn.App.Window;

/// <summary>What the source is doing, for the overlay.</summary>
internal enum FeedState
{
    Starting,
    Live,
    Reconnecting,
    /// <summary>The capture ended or failed for good (the status message says why).</summary>
    Stopped,
}

/// <summary>Fan-out of a <see cref="CaptureThread"/> to the render and inference threads. Owns the capture thread.</summary>
internal sealed class FrameFeed : IDisposable
{
    private readonly CaptureThread _capture;
    private readonly Thread _thread;
    private readonly AutoResetEvent _frameArrived;
    private volatile bool _stop, _paused;

    /// <param name="capture">a started capture thread.</param>
    /// <param name="frameArrived">signalled after each published frame (the inference thread waits on it).</param>
    public FrameFeed(CaptureThread capture, AutoResetEvent frameArrived)
    {
        _capture = capture;
        _frameArrived = frameArrived;
        ForRender = new LatestSlot<Frame>(() => new Frame());
        ForInference = new LatestSlot<Frame>(() => new Frame());
        _thread = new Thread(Run) { IsBackground = true, Name = "camcnn frame fan-out" };
    }

    public string Name => _capture.Source.Description;
    public LatestSlot<Frame> ForRender { get; }
    public LatestSlot<Frame> ForInference { get; }
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

    /// <summary>While paused, frames are taken from the capture thread (the device keeps streaming) but not passed on.</summary>
    public bool Paused
    {
        get => _paused;
        set => _paused = value;
    }

    /// <summary>Called on the fan-out thread after each frame is passed on (the window wakes its render loop).</summary>
    public Action? Published { get; set; }

    public void Start() => _thread.Start();

    private void Run()
    {
        using var scratch = new Mat();
        var wait = TimeSpan.FromMilliseconds(100);
        while (!_stop)
        {
            if (!_capture.TakeLatest(wait, out var frame))
            {
                Rate.Roll(Stopwatch.GetTimestamp());
                if (_capture.IsFinished) Thread.Sleep(50);
                continue;
            }
            long now = Stopwatch.GetTimestamp();
            if (_paused)
            {
                Rate.Roll(now);
                continue;
            }
            Publish(ForRender, frame, scratch);
            Publish(ForInference, frame, scratch);
            _frameArrived.Set();
            Published?.Invoke();
            Rate.Tick(now);
        }
    }

    private static void Publish(LatestSlot<Frame> slot, CapturedFrame captured, Mat scratch)
    {
        var frame = slot.Back;
        frame.CopyFrom(captured.Image, scratch);
        frame.Timestamp = captured.Timestamp;
        frame.Sequence = captured.Sequence;
        slot.Publish();
    }

    /// <summary>Stops and joins this thread, then stops the capture thread and releases the source.</summary>
    public void Dispose()
    {
        if (_stop) return;
        _stop = true;
        if (_thread.IsAlive && !_thread.Join(TimeSpan.FromSeconds(5)))
            Console.Error.WriteLine("camcnn: warning: the frame fan-out thread did not stop within 5 s");
        _capture.Dispose();
        foreach (var f in ForRender.All) f.Dispose();
        foreach (var f in ForInference.All) f.Dispose();
    }
}
