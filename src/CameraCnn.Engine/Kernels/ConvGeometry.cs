// ConvGeometry: kernel, stride, padding and dilation of a 2-D window op, and its output size (lecture eq. 5).
namespace CameraCnn.Engine.Kernels;

/// <summary>
/// Window geometry shared by convolution and pooling. Pads are ONNX-style begin/end per axis
/// (top, left, bottom, right), so asymmetric padding is exact.
/// </summary>
public readonly record struct Window2d(int KH, int KW, int SH = 1, int SW = 1,
    int PadTop = 0, int PadLeft = 0, int PadBottom = 0, int PadRight = 0, int DH = 1, int DW = 1)
{
    public static Window2d Square(int k, int stride = 1, int pad = 0) => new(k, k, stride, stride, pad, pad, pad, pad);

    /// <summary>Effective kernel extent with dilation: d*(k-1)+1.</summary>
    public int ExtentH => DH * (KH - 1) + 1;
    public int ExtentW => DW * (KW - 1) + 1;

    /// <summary>
    /// Output length along one axis, the lecture's eq. (5): floor((M + p - Mw + s) / s) with p the total padding
    /// and Mw the (dilated) kernel extent; with <paramref name="ceil"/> the last partial window is kept
    /// when it starts inside the input or the begin padding (ONNX ceil_mode).
    /// </summary>
    public static int OutputLength(int m, int padBegin, int padEnd, int extent, int stride, bool ceil = false)
    {
        long span = (long)m + padBegin + padEnd - extent;
        if (span < 0) return 0;
        long o = ceil ? (span + stride - 1) / stride + 1 : span / stride + 1;
        if (ceil && (o - 1) * stride >= m + padBegin) o--;
        return (int)o;
    }

    public int OutH(int h, bool ceil = false) => OutputLength(h, PadTop, PadBottom, ExtentH, SH, ceil);
    public int OutW(int w, bool ceil = false) => OutputLength(w, PadLeft, PadRight, ExtentW, SW, ceil);

    /// <summary>True when the window is a plain 1x1, stride 1, unpadded: the input already is the im2col matrix.</summary>
    public bool IsPointwise => KH == 1 && KW == 1 && SH == 1 && SW == 1 && PadTop == 0 && PadLeft == 0 && PadBottom == 0 && PadRight == 0;

    public void Validate(string owner)
    {
        if (KH <= 0 || KW <= 0) throw new ShapeException($"{owner}: kernel {KH}x{KW} must be positive");
        if (SH <= 0 || SW <= 0) throw new ShapeException($"{owner}: stride {SH}x{SW} must be positive");
        if (DH <= 0 || DW <= 0) throw new ShapeException($"{owner}: dilation {DH}x{DW} must be positive");
        if (PadTop < 0 || PadLeft < 0 || PadBottom < 0 || PadRight < 0)
            throw new ShapeException($"{owner}: negative padding");
    }
}
