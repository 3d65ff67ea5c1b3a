// LatestFrameSlot: the capture thread's three preallocated frames (darknet demo.c's buffer ring), handed between one
// writer and one reader with Interlocked swaps: the reader always gets the newest frame; older unread frames are dropped.
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using OpenCvSharp;

namespace CameraCnn.Vision;

/// <summary>
/// One captured frame. The Mat belongs to the capture ring: it stays valid, unchanged, until the reader takes the next
/// frame, and must not be disposed or kept beyond that.
/// </summary>
public sealed class CapturedFrame
{
    internal CapturedFrame() { }

    /// <summary>The pixels (8-bit BGR for cameras, videos, images in colour and the synthetic pattern), mirrored if asked.</summary>
    public Mat Image { get; } = new();

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
}

/// <summary>
/// A lock-free triple buffer. The writer owns <see cref="Back"/>, fills it and <see cref="Publish"/>es it; the reader
/// owns the frame it last took. The middle frame travels between them in one int (index | fresh bit) swapped with
/// <see cref="Interlocked.Exchange(ref int, int)"/>, so neither side ever waits for the other or allocates.
/// </summary>
internal sealed class LatestFrameSlot : IDisposable
{
    private const int Fresh = 4, IndexMask = 3;

    private readonly CapturedFrame[] _frames = [new(), new(), new()];
    private readonly IntPtr[] _outputs = new IntPtr[3]; // OpenCV output proxies of the frames' Mats, for the writer
    private int _back;            // writer's
    private int _front = 1;       // reader's
    private int _middle = 2;      // shared: index | Fresh when it holds a frame the reader has not taken

    public LatestFrameSlot()
    {
        for (int i = 0; i < _frames.Length; i++) _outputs[i] = NativeCv.NewOutput(_frames[i].Image);
    }

    /// <summary>The frame the writer fills next.</summary>
    public CapturedFrame Back => _frames[_back];

    /// <summary>The OpenCV output proxy of <see cref="Back"/>'s Mat.</summary>
    public IntPtr BackOutput => _outputs[_back];

    /// <summary>Whether a published frame is waiting for the reader.</summary>
    public bool HasFresh => (Volatile.Read(ref _middle) & Fresh) != 0;

    /// <summary>Makes <see cref="Back"/> the newest frame. True when this replaced a frame the reader never took (a drop).</summary>
    public bool Publish()
    {
        int old = Interlocked.Exchange(ref _middle, _back | Fresh);
        _back = old & IndexMask;
        return (old & Fresh) != 0;
    }

    /// <summary>Takes the newest frame if one was published since the last take (reader side only).</summary>
    public bool TryTake([NotNullWhen(true)] out CapturedFrame? frame)
    {
        if ((Volatile.Read(ref _middle) & Fresh) == 0)
        {
            frame = null;
            return false;
        }
        int old = Interlocked.Exchange(ref _middle, _front);
        _front = old & IndexMask;
        frame = _frames[_front];
        return true;
    }

    public void Dispose()
    {
        for (int i = 0; i < _frames.Length; i++)
        {
            NativeCv.DeleteOutput(_outputs[i]);
            _outputs[i] = IntPtr.Zero;
            _frames[i].Image.Dispose();
        }
    }
}
