// FramePreprocessor: one camera/video/image Mat -> the network's input tensor, exactly as the model's Preprocessing
// record says (geometry, colour order, scale, mean/std, HWC -> CHW). Allocates nothing per frame; not thread-safe.
using CameraCnn.Engine;
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
public sealed class FramePreprocessor : IDisposable
{
    /// <summary>The pixel value of letterbox bars (black), before scale and mean/std.</summary>
    public const byte LetterboxPad = 0;

    private readonly float[] _lut;            // [C, 256]: the normalised value of byte b in output channel c
    private readonly int[] _sourceChannel;    // per output channel: which channel of the (BGR or gray) pixels to read
    private readonly bool _luminance;         // the network wants gray values, whatever the frame has
    private readonly ProxiedMat _gray = new(), _resized = new();
    private readonly InputCache _inputs = new();
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

        // The pixels to read from, as a Mat plus its input proxy: the frame, a view of it, or a converted copy.
        Mat pixels;
        IntPtr proxy;
        if (source.X == 0 && source.Y == 0 && source.Width == cols && source.Height == rows)
        {
            pixels = frame;
            proxy = _inputs.Whole(frame);
        }
        else
        {
            (pixels, proxy) = _inputs.Region(frame, source);
        }

        int channels = frameChannels;
        if (_luminance && channels != 1)
        {
            // Before the resize: one channel is cheaper to resize, and it matches images decoded as grayscale.
            NativeCv.CvtColor(proxy, _gray.Out, channels == 4 ? ColorConversionCodes.BGRA2GRAY : ColorConversionCodes.BGR2GRAY);
            pixels = _gray.Mat;
            proxy = _gray.In;
            channels = 1;
        }
        if (source.Width != target.Width || source.Height != target.Height)
        {
            bool shrinking = target.Width <= source.Width && target.Height <= source.Height;
            NativeCv.Resize(proxy, _resized.Out, new Size(target.Width, target.Height),
                shrinking ? InterpolationFlags.Area : InterpolationFlags.Linear);
            pixels = _resized.Mat;
        }

        WritePlanes(pixels, channels, target, chw);
        GC.KeepAlive(frame);
    }

    private unsafe void WritePlanes(Mat pixels, int pixelChannels, Rect target, Span<float> chw)
    {
        int c = Channels, h = Height, w = Width, plane = h * w;
        bool padded = target.Width != w || target.Height != h;
        byte* origin = pixels.DataPointer;
        long step = pixels.Step();
        for (int ch = 0; ch < c; ch++)
        {
            ReadOnlySpan<float> lut = _lut.AsSpan(ch * 256, 256);
            Span<float> dst = chw.Slice(ch * plane, plane);
            if (padded) dst.Fill(lut[LetterboxPad]);
            int offset = pixelChannels == 1 ? 0 : _sourceChannel[ch];
            for (int y = 0; y < target.Height; y++)
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
        _gray.Dispose();
        _resized.Dispose();
    }
}
