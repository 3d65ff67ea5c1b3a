// Frame: one camera picture as the live pipeline passes it around: 8-bit BGR pixels in a pinned array that is
// reused from frame to frame, with the capture timestamp the latency is measured from.
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using OpenCvSharp;

namespace CameraCnn.App.Window;

/// <summary>A reusable BGR8 frame buffer (one of a <see cref="LatestSlot{T}"/>'s three).</summary>
internal sealed class Frame : IDisposable
{
    private Mat? _header;

    /// <summary>Tightly packed BGR rows, Width * Height * 3 bytes (pinned: GL and OpenCV read it in place).</summary>
    public byte[] Pixels { get; private set; } = [];
    public int Width { get; private set; }
    public int Height { get; private set; }
    /// <summary><see cref="Stopwatch.GetTimestamp"/> when the capture thread received the frame.</summary>
    public long Timestamp { get; set; }
    /// <summary>1, 2, 3... per published frame.</summary>
    public long Sequence { get; set; }

    public int ByteCount => Width * Height * 3;

    /// <summary>Copies an 8-bit BGR (or grey) Mat in; the buffer is reallocated only when the size changes.</summary>
    public unsafe void CopyFrom(Mat source, Mat scratch)
    {
        Mat bgr = source;
        if (source.Type() == MatType.CV_8UC1)
        {
            Cv2.CvtColor(source, scratch, ColorConversionCodes.GRAY2BGR);
            bgr = scratch;
        }
        else if (source.Type() == MatType.CV_8UC4)
        {
            Cv2.CvtColor(source, scratch, ColorConversionCodes.BGRA2BGR);
            bgr = scratch;
        }
        else if (source.Type() != MatType.CV_8UC3)
            throw new InvalidDataException($"unsupported frame type {source.Type()}");
        Resize(bgr.Cols, bgr.Rows);
        int row = Width * 3;
        long step = bgr.Step();
        byte* src = (byte*)bgr.Data;
        if (step == row) new ReadOnlySpan<byte>(src, ByteCount).CopyTo(Pixels);
        else
            for (int y = 0; y < Height; y++)
                new ReadOnlySpan<byte>(src + y * step, row).CopyTo(Pixels.AsSpan(y * row, row));
    }

    private void Resize(int width, int height)
    {
        if (width == Width && height == Height) return;
        _header?.Dispose();
        _header = null;
        Pixels = GC.AllocateUninitializedArray<byte>(width * height * 3, pinned: true);
        Width = width;
        Height = height;
    }

    /// <summary>An OpenCV header over <see cref="Pixels"/> (no copy), made once per size.</summary>
    public unsafe Mat AsMat()
    {
        if (_header is null)
        {
            if (Width == 0) throw new InvalidOperationException("empty frame");
            _header = Mat.FromPixelData(Height, Width, MatType.CV_8UC3, (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(Pixels)));
        }
        return _header;
    }

    public void Dispose()
    {
        _header?.Dispose();
        _header = null;
    }
}
