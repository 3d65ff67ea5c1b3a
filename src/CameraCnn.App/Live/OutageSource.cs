// OutageSource: wraps any frame source and makes it fail (reads lost, re-opens refused) during a window of time, to
// watch the live window's "reconnecting" path and its recovery without pulling a cable (`camcnn run --outage A-B`).
using System.Diagnostics;
using CameraCnn.Vision;
using OpenCvSharp;
using FrameSource = CameraCnn.Vision.FrameSource;

namespace CameraCnn.App.Live;

/// <summary>A <see cref="FrameSource"/> that is unavailable from second <c>from</c> to second <c>to</c> after it was made.</summary>
internal sealed class OutageSource(FrameSource inner, double from, double to) : FrameSource
{
    private readonly long _created = Stopwatch.GetTimestamp();
    private bool _openedOnce;

    public override string Description => inner.Description;
    public override bool IsLive => inner.IsLive;
    public override bool CanRewind => inner.CanRewind;

    private bool InOutage
    {
        get
        {
            double t = Stopwatch.GetElapsedTime(_created).TotalSeconds;
            return t >= from && t < to;
        }
    }

    public override void Open()
    {
        // The very first open succeeds even inside the outage (its reads are lost instead): an outage from second 0 is
        // then met by the capture thread's reconnect with back-off, like any other, not taken for a source that is missing.
        if (InOutage && _openedOnce) throw new FrameSourceException($"{Description}: unavailable (simulated outage until {to:0.#} s)");
        _openedOnce = true;
        inner.Open();
        Width = inner.Width;
        Height = inner.Height;
        Fps = inner.Fps;
        Backend = inner.Backend;
    }

    public override FrameRead Read(Mat frame, CancellationToken cancel)
    {
        if (InOutage)
        {
            cancel.WaitHandle.WaitOne(30); // a dead device's read timing out, roughly
            return FrameRead.Lost;
        }
        var read = inner.Read(frame, cancel);
        Position = inner.Position;
        ItemName = inner.ItemName;
        return read;
    }

    public override void Rewind() => inner.Rewind();

    public override void Close() => inner.Close();

    /// <summary>Parses "A-B" (seconds).</summary>
    public static (double From, double To) ParseWindow(string text)
    {
        string[] ab = text.Split('-');
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        if (ab.Length == 2 && double.TryParse(ab[0], inv, out double a) && double.TryParse(ab[1], inv, out double b) && a >= 0 && b > a)
            return (a, b);
        throw new ArgumentException($"--outage {text}: expected A-B in seconds, e.g. 2-5");
    }
}
