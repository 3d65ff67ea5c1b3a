// FramePreprocessor: one camera/video/image Mat -> the network's input tensor, exactly as the model's Preprocessing
// record says (geometry, colour order, scale, mean/std, HWC -> CHW). Allocates nothing per frame; not thread-safe. A
// large frame is area-averaged in two bands of rows on the engine's two workers: the same bytes in half the time.
using CameraCnn.Engine;
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Models;
using OpenCvSharp;

namespace CameraCnn.Vision;

/// <summary>
/// Where a frame lands in the network input: <see cref="Source"/> (in frame pixels) is resized onto
/// <see cref="Target"/> (in input pixels); the rest of the input, if any, is letterbox padding.
/// </summary>
public readonly record struct FrameGeometry(Rect Source, Rect Target);

/// <summary>
/// Turns 8-bit OpenCV frames (BGR, BGRA or grayscale) into a model's input, following its <see cref="Preprocessing"/>:
/// <list type="bullet">
/// <item>Resize "stretch": the whole frame to H x W. "crop": scaled so the shorter side fits, then the centre H x W
/// (done as a centred crop of the frame followed by one resize). "letterbox": scaled so the longer side fits, centred,
/// the rest padded with black (pixel value <see cref="LetterboxPad"/>).</item>
/// <item>OpenCV resizes: area averaging when shrinking in both directions, bilinear otherwise (as <see cref="ImageFile"/>).</item>
/// <item>Colour: 3 channels in "rgb" or "bgr" order; 1 channel (or order "gray") is OpenCV's BGR-to-gray luminance,
/// converted before resizing; a 3-channel "gray" input repeats it.</item>
/// <item>Values: (pixel * Scale - Mean[c]) / Std[c], computed with the same float operations as
/// <see cref="Preprocessing.NormalizeUnit"/> applied to pixel/255, so frames match the training data bit for bit.</item>
/// </list>
/// Buffers (Mats, lookup tables, OpenCV call proxies) are made once and reused; one instance per thread.
/// </summary>
public sealed unsafe class FramePreprocessor : IDisposable
{
    /// <summary>The pixel value of letterbox bars (black), before scale and mean/std.</summary>
    public const byte LetterboxPad = 0;

    private readonly float[] _lut;            // [C, 256]: the normalised value of byte b in output channel c
    private readonly int[] _sourceChannel;    // per output channel: which channel of the (BGR or gray) pixels to read
    private readonly bool _luminance;         // the network wants gray values, whatever the frame has
    private readonly ProxiedMat _gray = new(), _resized = new();
    private readonly InputCache _inputs = new();
    private readonly IntPtr[] _halfIn = new IntPtr[2];        // the source's two halves (SplitsInHalves), as input proxies
    private readonly OutputView[] _halves = [new(), new()];   // the two halves of _resized they are averaged into
    private (int Channels, Rect Target, IntPtr Chw) _band;    // what Half reads while the two halves run
    private int _geometryCols = -1, _geometryRows = -1;
    private FrameGeometry _geometry;
    private bool _disposed;

    /// <exception cref="InvalidDataException">The recipe is invalid (see <see cref="Preprocessing.Validate"/>).</exception>
    public FramePreprocessor(Preprocessing preprocessing)
    {
        ArgumentNullException.ThrowIfNull(preprocessing);
        preprocessing.Validate();
        NativeCv.QuietLogs();
        Preprocessing = preprocessing;
        int c = Channels;
        _luminance = c == 1 || preprocessing.ColorOrder == "gray";
        _sourceChannel = new int[c];
        if (!_luminance && preprocessing.ColorOrder == "rgb") _sourceChannel = [2, 1, 0]; // OpenCV frames are BGR
        else if (!_luminance) _sourceChannel = [0, 1, 2];

        _lut = new float[c * 256];
        float unit = preprocessing.Scale * 255f; // same operations as Preprocessing.NormalizeUnit on pixel / 255f
        for (int ch = 0; ch < c; ch++)
        {
            float mean = preprocessing.Mean.Length == 1 ? preprocessing.Mean[0] : preprocessing.Mean[ch];
            float std = preprocessing.Std.Length == 1 ? preprocessing.Std[0] : preprocessing.Std[ch];
            float a = unit / std, b = -mean / std;
            for (int v = 0; v < 256; v++) _lut[ch * 256 + v] = v / 255f * a + b;
        }
    }

    public Preprocessing Preprocessing { get; }
    public int Channels => Preprocessing.Channels;
    public int Height => Preprocessing.Height;
    public int Width => Preprocessing.Width;

    /// <summary>A new [1, C, H, W] tensor to pass to <see cref="Process(Mat, Tensor, int)"/> (allocate it once).</summary>
    public Tensor CreateInput(int batch = 1) => new(batch, Channels, Height, Width);

    /// <summary>Where a <paramref name="frameWidth"/> x <paramref name="frameHeight"/> frame lands in the input.</summary>
    public FrameGeometry GeometryFor(int frameWidth, int frameHeight) =>
        ComputeGeometry(Preprocessing.Resize, frameWidth, frameHeight, Width, Height);

    /// <summary>
    /// The geometry rule on its own. Rounding is half away from zero; every rectangle is at least 1 x 1 and inside its image.
    /// </summary>
    public static FrameGeometry ComputeGeometry(string resize, int frameWidth, int frameHeight, int width, int height)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(frameWidth, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(frameHeight, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        var whole = new Rect(0, 0, frameWidth, frameHeight);
        var all = new Rect(0, 0, width, height);
        switch (resize)
        {
            case "stretch":
                return new(whole, all);
            case "crop":
            {
                double s = Math.Max((double)width / frameWidth, (double)height / frameHeight);
                int cw = Math.Clamp(Round(width / s), 1, frameWidth), ch = Math.Clamp(Round(height / s), 1, frameHeight);
                return new(new Rect((frameWidth - cw) / 2, (frameHeight - ch) / 2, cw, ch), all);
            }
            case "letterbox":
            {
                double s = Math.Min((double)width / frameWidth, (double)height / frameHeight);
                int nw = Math.Clamp(Round(frameWidth * s), 1, width), nh = Math.Clamp(Round(frameHeight * s), 1, height);
                return new(whole, new Rect((width - nw) / 2, (height - nh) / 2, nw, nh));
            }
            default:
                throw new ArgumentException($"unknown resize mode '{resize}' (stretch, crop or letterbox)", nameof(resize));
        }
    }

    private static int Round(double v) => (int)Math.Round(v, MidpointRounding.AwayFromZero);

    /// <summary>Preprocesses <paramref name="frame"/> into sample <paramref name="batchIndex"/> of a [N, C, H, W] (or [C, H, W]) tensor.</summary>
    /// <exception cref="ArgumentException">The frame is empty or not 8-bit 1/3/4 channels, or the tensor has the wrong shape.</exception>
    public void Process(Mat frame, Tensor destination, int batchIndex = 0)
    {
        ArgumentNullException.ThrowIfNull(destination);
        int sample = Channels * Height * Width;
        int[] s = destination.Shape;
        bool ok = s.Length == 4 ? s[1] == Channels && s[2] == Height && s[3] == Width && (uint)batchIndex < (uint)s[0]
                : s.Length == 3 && s[0] == Channels && s[1] == Height && s[2] == Width && batchIndex == 0;
        if (!ok)
            throw new ArgumentException(
                $"input tensor {destination.ShapeString} (sample {batchIndex}) does not fit the model's {Channels}x{Height}x{Width}", nameof(destination));
        Process(frame, destination.Data.AsSpan(batchIndex * sample, sample));
    }

    /// <summary>Preprocesses <paramref name="frame"/> into <paramref name="chw"/> (exactly C * H * W floats).</summary>
    public void Process(Mat frame, Span<float> chw)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(frame);
        if (chw.Length != Channels * Height * Width)
            throw new ArgumentException($"destination has {chw.Length} floats, the model's input needs {Channels * Height * Width}", nameof(chw));
        if (frame.IsDisposed || frame.Empty()) throw new ArgumentException("the frame is empty", nameof(frame));
        MatType type = frame.Type();
        int frameChannels = type.Channels;
        if (type.Depth != MatType.CV_8U || frameChannels is not (1 or 3 or 4))
            throw new ArgumentException($"frames must be 8-bit gray, BGR or BGRA, got {type}", nameof(frame));

        int cols = frame.Cols, rows = frame.Rows;
        if (cols != _geometryCols || rows != _geometryRows)
        {
            _geometry = GeometryFor(cols, rows);
            _geometryCols = cols;
            _geometryRows = rows;
        }
        var (source, target) = _geometry;

        // The pixels to read from, as a Mat plus its input proxy (the frame or gray copy), and the part of them to read.
        Mat pixels = frame;
        Rect region = source;
        int channels = frameChannels;
        if (_luminance && channels != 1)
        {
            // Before the resize: one channel is cheaper to resize, and it matches images decoded as grayscale.
            var (_, whole) = Input(frame, source);
            NativeCv.CvtColor(whole, _gray.Out, channels == 4 ? ColorConversionCodes.BGRA2GRAY : ColorConversionCodes.BGR2GRAY);
            pixels = _gray.Mat;
            region = new Rect(0, 0, source.Width, source.Height);
            channels = 1;
        }

        if (target.Width != Width || target.Height != Height) FillBars(chw);
        fixed (float* destination = chw)
        {
            if (source.Width == target.Width && source.Height == target.Height)
            {
                var (view, _) = Input(pixels, region);
                WriteRows(view, channels, target, destination, 0, target.Height);
            }
            else if (target.Width <= source.Width && target.Height <= source.Height && SplitsInHalves(source, target))
            {
                // Area averaging in two bands of rows on two threads: each half of the source averages onto its half of
                // the target with the same weights as one call would use, so the bytes are the same (the tests check).
                _resized.Mat.Create(target.Height, target.Width, pixels.Type());
                int halfSource = region.Height / 2, halfTarget = target.Height / 2;
                for (int k = 0; k < 2; k++)
                {
                    _halfIn[k] = Input(pixels, new Rect(region.X, region.Y + k * halfSource, region.Width, halfSource)).Proxy;
                    _halves[k].Point(_resized.Mat, new Rect(0, k * halfTarget, target.Width, halfTarget));
                }
                _band = (channels, target, (IntPtr)destination);
                var body = new HalfBody(this);
                Parallelism.For(2, 1, ref body);
                _band = default;
            }
            else
            {
                bool shrinking = target.Width <= source.Width && target.Height <= source.Height;
                var (_, proxy) = Input(pixels, region);
                NativeCv.Resize(proxy, _resized.Out, new Size(target.Width, target.Height),
                    shrinking ? InterpolationFlags.Area : InterpolationFlags.Linear);
                WriteRows(_resized.Mat, channels, target, destination, 0, target.Height);
            }
        }
        GC.KeepAlive(frame);
    }

    /// <summary>
    /// Area averaging goes in two bands of rows when both heights are even (each half then has the same scale) and the
    /// frame is large enough to be worth a second thread.
    /// </summary>
    private static bool SplitsInHalves(Rect source, Rect target) =>
        source.Height % 2 == 0 && target.Height % 2 == 0 && (long)source.Width * source.Height >= SplitPixels;

    /// <summary>Frames smaller than this (source pixels) are resized on the calling thread alone.</summary>
    private const int SplitPixels = 256 * 256;

    /// <summary>The view of <paramref name="region"/> of <paramref name="mat"/> and its input proxy (the Mat itself when it is all of it).</summary>
    private (Mat View, IntPtr Proxy) Input(Mat mat, Rect region) =>
        region == new Rect(0, 0, mat.Cols, mat.Rows) ? (mat, _inputs.Whole(mat)) : _inputs.Region(mat, region);

    /// <summary>Every plane at the letterbox pad value (the picture's rows are written over it).</summary>
    private void FillBars(Span<float> chw)
    {
        int plane = Height * Width;
        for (int ch = 0; ch < Channels; ch++) chw.Slice(ch * plane, plane).Fill(_lut[ch * 256 + LetterboxPad]);
    }

    /// <summary>One band: its half of the source averaged onto its half of the target, then those rows normalised.</summary>
    private void Half(int k)
    {
        int channels = _band.Channels;
        Rect target = _band.Target;
        float* destination = (float*)_band.Chw;
        var band = _halves[k];
        NativeCv.Resize(_halfIn[k], band.Out, new Size(target.Width, target.Height / 2), InterpolationFlags.Area);
        int half = target.Height / 2;
        WriteRows(_resized.Mat, channels, target, destination, k * half, (k + 1) * half);
    }

    private readonly struct HalfBody(FramePreprocessor owner) : IParallelBody
    {
        public void Run(int start, int end, int worker)
        {
            for (int k = start; k < end; k++) owner.Half(k);
        }
    }

    /// <summary>
    /// Rows [<paramref name="y0"/>, <paramref name="y1"/>) of the resized <paramref name="pixels"/>, normalised, into the
    /// planes at their place in the input (<paramref name="target"/>).
    /// </summary>
    private void WriteRows(Mat pixels, int pixelChannels, Rect target, float* chw, int y0, int y1)
    {
        int c = Channels, w = Width, plane = Height * w;
        byte* origin = pixels.DataPointer;
        long step = pixels.Step();
        for (int ch = 0; ch < c; ch++)
        {
            ReadOnlySpan<float> lut = _lut.AsSpan(ch * 256, 256);
            var dst = new Span<float>(chw + ch * plane, plane);
            int offset = pixelChannels == 1 ? 0 : _sourceChannel[ch];
            for (int y = y0; y < y1; y++)
            {
                byte* row = origin + y * step + offset;
                Span<float> line = dst.Slice((target.Y + y) * w + target.X, target.Width);
                for (int x = 0; x < line.Length; x++) line[x] = lut[row[x * pixelChannels]];
            }
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _inputs.Dispose();
        foreach (var half in _halves) half.Dispose();
        _gray.Dispose();
        _resized.Dispose();
    }
}

/// <summary>A view of a region of a Mat the frame path owns, with its output proxy, re-made only when the Mat or region changes.</summary>
internal sealed class OutputView : IDisposable
{
    private Mat? _view;
    private IntPtr _data;
    private Rect _region;

    public IntPtr Out { get; private set; }

    /// <summary>Points at <paramref name="region"/> of <paramref name="parent"/> (allocated already: a view never reallocates it).</summary>
    public void Point(Mat parent, Rect region)
    {
        if (_view is not null && _data == parent.Data && _region == region && _view.Type() == parent.Type()) return;
        Dispose();
        _view = new Mat(parent, region);
        _data = parent.Data;
        _region = region;
        Out = NativeCv.NewOutput(_view);
    }

    public void Dispose()
    {
        NativeCv.DeleteOutput(Out);
        Out = IntPtr.Zero;
        _view?.Dispose();
        _view = null;
    }
}
