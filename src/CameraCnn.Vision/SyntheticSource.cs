// SyntheticSource: a moving test pattern delivered like a camera (paced in real time), for tests and demos without a
// webcam. Each frame carries its own number in a corner marker, so order and dropping can be checked from pixels.
using System.Diagnostics;
using OpenCvSharp;

namespace CameraCnn.Vision;

/// <summary>
/// A live, endless test pattern: bands of a scrolling colour gradient and a bouncing white square, deterministic in the frame
/// number n. The top-left 32 x 8 pixels hold n as four 8 x 8 grey cells (little-endian bytes); see <see cref="ReadFrameNumber"/>.
/// Defaults: 640 x 480 at 30 fps; a requested rate of 0 delivers frames as fast as they are read. Allocates nothing per frame.
/// </summary>
public sealed class SyntheticSource : FrameSource
{
    public const int MarkerCell = 8, MarkerBytes = 4;

    private long _n;
    private long _start;
    private readonly double _requestedFps;

    public SyntheticSource(CaptureRequest? request = null)
    {
        var r = request ?? CaptureRequest.Default;
        int w = r.Width ?? 640, h = r.Height ?? 480;
        if (w < 1 || h < 1 || w > 8192 || h > 8192) throw new ArgumentException($"synthetic frame size {w}x{h} is out of range (1..8192)");
        double fps = r.Fps ?? 30;
        if (!(fps >= 0) || fps > 10000) throw new ArgumentException($"synthetic frame rate {fps} is out of range (0..10000)");
        Width = w;
        Height = h;
        _requestedFps = fps;
    }

    public override string Description => "synthetic pattern";
    public override bool IsLive => true;

    public override void Open()
    {
        Fps = _requestedFps;
        _n = 0;
        _start = Stopwatch.GetTimestamp();
        Position = -1;
    }

    public override FrameRead Read(Mat frame, CancellationToken cancel)
    {
        if (Fps > 0)
        {
            // Frame n is due at start + n / fps. A reader that fell behind gets the frame of now, skipping the
            // missed numbers, as a camera would: the pattern follows the clock, not the reader.
            long now = Stopwatch.GetTimestamp();
            long current = (long)((now - _start) * Fps / Stopwatch.Frequency);
            if (current > _n) _n = current;
            long due = _start + (long)(_n * Stopwatch.Frequency / Fps);
            long wait = due - now;
            if (wait > 0)
            {
                int ms = (int)Math.Ceiling(wait * 1000.0 / Stopwatch.Frequency);
                if (cancel.WaitHandle.WaitOne(ms)) return FrameRead.Lost;
            }
        }
        Draw(frame, _n, Width, Height);
        Position = _n++;
        return FrameRead.Frame;
    }

    public override void Close()
    {
    }

    /// <summary>Draws pattern frame <paramref name="n"/> into <paramref name="frame"/> (made 8UC3 width x height).</summary>
    public static unsafe void Draw(Mat frame, long n, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(frame);
        frame.Create(height, width, MatType.CV_8UC3);
        byte* origin = frame.DataPointer;
        long step = frame.Step();
        int rowBytes = 3 * width;
        Span<byte> Row(int y) => new(origin + y * step, rowBytes);

        // Two row templates (a scrolling gradient and its negative) in horizontal bands; whole rows are copied, so a
        // frame costs about one memcpy of its size.
        int band = Math.Max(1, height / 8), shift = (int)(3 * n & 255);
        Span<byte> even = Row(0);
        for (int x = 0; x < width; x++)
        {
            int v = x * 256 / width;
            even[3 * x] = (byte)(v + shift);
            even[3 * x + 1] = (byte)(255 - v);
            even[3 * x + 2] = (byte)(v ^ 0x80);
        }
        if (band < height)
        {
            Span<byte> odd = Row(band);
            for (int i = 0; i < rowBytes; i++) odd[i] = (byte)~even[i];
        }
        for (int y = 1; y < height; y++)
            if (y != band) Row(y / band % 2 == 0 ? 0 : band).CopyTo(Row(y));

        int side = Math.Max(1, Math.Min(width, height) / 4);
        int sx = Triangle(4 * n, width - side), sy = Triangle(3 * n, height - side);
        for (int y = sy; y < sy + side; y++) Row(y).Slice(3 * sx, 3 * side).Fill(255);

        if (width < MarkerCell * MarkerBytes || height < MarkerCell) return;
        for (int k = 0; k < MarkerBytes; k++)
        {
            byte v = (byte)(n >> (8 * k));
            for (int y = 0; y < MarkerCell; y++) Row(y).Slice(3 * k * MarkerCell, 3 * MarkerCell).Fill(v);
        }
    }

    /// <summary>The frame number a pattern frame carries (an unmirrored, unscaled frame of at least 32 x 8).</summary>
    public static long ReadFrameNumber(Mat frame)
    {
        ArgumentNullException.ThrowIfNull(frame);
        if (frame.Type() != MatType.CV_8UC3 || frame.Cols < MarkerCell * MarkerBytes || frame.Rows < MarkerCell)
            throw new ArgumentException("not a synthetic pattern frame with a marker", nameof(frame));
        long n = 0;
        for (int k = 0; k < MarkerBytes; k++)
            n |= (long)frame.At<Vec3b>(MarkerCell / 2, k * MarkerCell + MarkerCell / 2).Item0 << (8 * k);
        return n;
    }

    private static int Triangle(long t, int span)
    {
        if (span <= 0) return 0;
        long period = 2L * span;
        long m = t % period;
        return (int)(m <= span ? m : period - m);
    }
}
