// FrameReader: one consumer of a CaptureThread (the inference worker, the window's render loop, `predict --source`):
// its own newest-frame slot, filled by the capture thread straight from the frame it read, so readers never wait for
// each other and no thread in between copies frames around.
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;

namespace CameraCnn.Vision;

/// <summary>
/// One captured frame. The Mat belongs to its reader's ring: it stays valid, unchanged, until that reader takes the next
/// frame, and must not be disposed or kept beyond that.
/// </summary>
public sealed class CapturedFrame
{
    internal CapturedFrame() => Output = NativeCv.NewOutput(Image);

    /// <summary>The pixels (8-bit BGR for cameras, videos, images in colour and the synthetic pattern), mirrored if asked.</summary>
    public OpenCvSharp.Mat Image { get; } = new();

    /// <summary>The OpenCV output proxy of <see cref="Image"/>, for the capture thread's writes.</summary>
    internal IntPtr Output { get; private set; }

    /// <summary>1-based number of this frame among all frames captured, dropped ones included (gaps = drops).</summary>
    public long Sequence { get; internal set; }

    /// <summary>When the frame was read, in <see cref="Stopwatch.GetTimestamp"/> ticks.</summary>
    public long Timestamp { get; internal set; }

    /// <summary>Index within the source: frame number in a video, image number in a folder (restarts when looping).</summary>
    public long SourceIndex { get; internal set; }

    /// <summary>The source's name for the item (an image's path relative to its folder), or null.</summary>
    public string? SourceName { get; internal set; }

    /// <summary>Time since the frame was read.</summary>
    public TimeSpan Age => Stopwatch.GetElapsedTime(Timestamp);

    internal void Release()
    {
        NativeCv.DeleteOutput(Output);
        Output = IntPtr.Zero;
        Image.Dispose();
    }
}

/// <summary>
/// A reader's newest-frame slot (<see cref="LatestSlot{T}"/> of three <see cref="CapturedFrame"/>s). The capture thread
/// writes every frame it reads into each reader that is not <see cref="Paused"/>; the reader takes the newest with
/// <see cref="TryTake"/> from one thread. Frames it was too slow for are dropped and counted.
/// </summary>
public sealed class FrameReader
{
    private readonly LatestSlot<CapturedFrame> _slot = new(() => new CapturedFrame());
    private readonly Action _taken;
    private volatile bool _paused;
    private long _delivered;
    private CapturedFrame? _current;

    internal FrameReader(Action taken) => _taken = taken;

    /// <summary>While paused the capture thread skips this reader: no copy, no drop; <see cref="Current"/> stays as it is.</summary>
    public bool Paused
    {
        get => _paused;
        set => _paused = value;
    }

    /// <summary>Raised on the capture thread after each frame written into this reader (wake the consumer; must not block).</summary>
    public event Action? Published;

    /// <summary>Frames replaced by a newer one before this reader took them.</summary>
    public long Dropped => _slot.Dropped;

    /// <summary>Frames this reader took.</summary>
    public long Delivered => Interlocked.Read(ref _delivered);

    /// <summary>Whether a frame is waiting to be taken.</summary>
    public bool HasFresh => _slot.HasFresh;

    /// <summary>The frame last taken (valid until the next take), or null before the first.</summary>
    public CapturedFrame? Current => _current;

    /// <summary>Takes the newest frame if one arrived since the last take. Never waits or allocates. One thread only.</summary>
    public bool TryTake([NotNullWhen(true)] out CapturedFrame? frame)
    {
        if (!_slot.TryTake())
        {
            frame = null;
            return false;
        }
        frame = _current = _slot.Front;
        Interlocked.Increment(ref _delivered);
        _taken();
        return true;
    }

    /// <summary>The frame the capture thread fills next (capture thread only).</summary>
    internal CapturedFrame Back => _slot.Back;

    /// <summary>Publishes <see cref="Back"/> (capture thread only). True when an untaken frame was dropped.</summary>
    internal bool Publish()
    {
        bool dropped = _slot.Publish();
        Published?.Invoke();
        return dropped;
    }

    internal void Release()
    {
        foreach (var f in _slot.All) f.Release();
    }
}
