// NativeCv: the few OpenCV calls the frame path makes, without per-call managed allocations. It is not a general
// binding: everything else goes through OpenCvSharp's normal API.
using OpenCvSharp;
using OpenCvSharp.Internal;

namespace CameraCnn.Vision;

/// <summary>
/// OpenCvSharp wraps every Mat argument in a fresh InputArray/OutputArray object per call (~200 B each). The frame path
/// must allocate nothing, so these calls take native <c>cv::_InputArray*</c>/<c>cv::_OutputArray*</c> proxies created
/// once per Mat (a proxy points at the <c>cv::Mat</c> object, so it stays valid while that Mat is reallocated).
/// </summary>
internal static class NativeCv
{
    private static int _quiet;

    /// <summary>
    /// Silences OpenCV's own log lines (e.g. "can't open camera by index"): this program reports those failures itself,
    /// in one line. Setting OPENCV_LOG_LEVEL in the environment keeps OpenCV's logging for debugging.
    /// </summary>
    public static void QuietLogs()
    {
        if (Interlocked.Exchange(ref _quiet, 1) != 0) return;
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("OPENCV_LOG_LEVEL")))
            Cv2.SetLogLevel(OpenCvSharp.LogLevel.SILENT);
    }

    public static IntPtr NewInput(Mat mat)
    {
        NativeMethods.HandleException(NativeMethods.core_InputArray_new_byMat(mat.CvPtr, out IntPtr proxy));
        return proxy;
    }

    public static IntPtr NewOutput(Mat mat)
    {
        NativeMethods.HandleException(NativeMethods.core_OutputArray_new_byMat(mat.CvPtr, out IntPtr proxy));
        return proxy;
    }

    public static void DeleteInput(IntPtr proxy)
    {
        if (proxy != IntPtr.Zero) NativeMethods.HandleException(NativeMethods.core_InputArray_delete(proxy));
    }

    public static void DeleteOutput(IntPtr proxy)
    {
        if (proxy != IntPtr.Zero) NativeMethods.HandleException(NativeMethods.core_OutputArray_delete(proxy));
    }

    public static void Resize(IntPtr src, IntPtr dst, Size size, InterpolationFlags interpolation) =>
        NativeMethods.HandleException(NativeMethods.imgproc_resize(src, dst, size, 0, 0, (int)interpolation));

    public static void CvtColor(IntPtr src, IntPtr dst, ColorConversionCodes code) =>
        NativeMethods.HandleException(NativeMethods.imgproc_cvtColor(src, dst, (int)code, 0));

    public static void Flip(IntPtr src, IntPtr dst, FlipMode mode) =>
        NativeMethods.HandleException(NativeMethods.core_flip(src, dst, (int)mode));

    /// <summary>dst = a deep copy of src (dst's buffer is reused when size and type match).</summary>
    public static void Copy(Mat src, Mat dst)
    {
        NativeMethods.HandleException(NativeMethods.core_Mat_copyTo_toMat1(src.CvPtr, dst.CvPtr));
        GC.KeepAlive(src);
        GC.KeepAlive(dst);
    }
}

/// <summary>A Mat owned by the frame path, with its input and output proxies made once.</summary>
internal sealed class ProxiedMat : IDisposable
{
    public ProxiedMat()
    {
        Mat = new Mat();
        In = NativeCv.NewInput(Mat);
        Out = NativeCv.NewOutput(Mat);
    }

    public Mat Mat { get; }
    public IntPtr In { get; private set; }
    public IntPtr Out { get; private set; }

    public void Dispose()
    {
        NativeCv.DeleteInput(In);
        NativeCv.DeleteOutput(Out);
        In = Out = IntPtr.Zero;
        Mat.Dispose();
    }
}

/// <summary>
/// Input proxies for Mats that callers pass in, and ROI views of them, cached so that a caller reusing its Mats (as the
/// capture slots do) costs nothing after the first frame. A dozen entries suffice: the capture ring has three slots,
/// each read whole or in two halves (FramePreprocessor's two bands).
/// </summary>
internal sealed class InputCache : IDisposable
{
    private const int Size = 12;

    private sealed class Entry
    {
        public IntPtr Key;          // the caller's cv::Mat*
        public IntPtr Data;         // its data pointer when the view was made (views only)
        public int Rows, Cols, Type;
        public long Step;
        public Rect Roi;
        public Mat? View;           // the ROI header (holds a reference on the caller's buffer), or null for a whole Mat
        public IntPtr Proxy;
    }

    private readonly Entry[] _entries = new Entry[Size];
    private int _next;

    public InputCache()
    {
        for (int i = 0; i < Size; i++) _entries[i] = new Entry();
    }

    /// <summary>The proxy of the whole <paramref name="mat"/>.</summary>
    public IntPtr Whole(Mat mat)
    {
        IntPtr key = mat.CvPtr;
        foreach (var e in _entries)
            if (e.Proxy != IntPtr.Zero && e.View is null && e.Key == key) return e.Proxy;
        var slot = Evict();
        slot.Key = key;
        slot.Proxy = NativeCv.NewInput(mat);
        return slot.Proxy;
    }

    /// <summary>
    /// A view of <paramref name="roi"/> in <paramref name="mat"/> and its proxy. Keyed by the buffer and geometry too:
    /// a view keeps the buffer it was made on alive, so a reallocated Mat can never match a stale view.
    /// </summary>
    public (Mat View, IntPtr Proxy) Region(Mat mat, Rect roi)
    {
        IntPtr key = mat.CvPtr, data = mat.Data;
        int rows = mat.Rows, cols = mat.Cols, type = mat.Type().Value;
        long step = mat.Step();
        foreach (var e in _entries)
            if (e.View is not null && e.Key == key && e.Data == data && e.Rows == rows && e.Cols == cols && e.Type == type
                && e.Step == step && e.Roi == roi)
                return (e.View, e.Proxy);
        var slot = Evict();
        slot.Key = key;
        slot.Data = data;
        slot.Rows = rows;
        slot.Cols = cols;
        slot.Type = type;
        slot.Step = step;
        slot.Roi = roi;
        slot.View = new Mat(mat, roi);
        slot.Proxy = NativeCv.NewInput(slot.View);
        return (slot.View, slot.Proxy);
    }

    private Entry Evict()
    {
        var e = _entries[_next];
        _next = (_next + 1) % Size;
        Release(e);
        return e;
    }

    private static void Release(Entry e)
    {
        NativeCv.DeleteInput(e.Proxy);
        e.Proxy = IntPtr.Zero;
        e.View?.Dispose();
        e.View = null;
    }

    public void Dispose()
    {
        foreach (var e in _entries) Release(e);
    }
}
