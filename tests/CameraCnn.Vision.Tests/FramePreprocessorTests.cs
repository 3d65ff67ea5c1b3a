// FramePreprocessorTests: Mat -> input tensor against naive references (1e-5): a pure C# one on frames built from
// 2x2 blocks (where an exact 2x area resize is a block lookup), and one that lets OpenCV resize a naively cropped image
// and normalises pixel by pixel in double, over awkward sizes, every resize mode, colour order and frame type. Plus
// geometry, parity with ImageFile + NormalizeUnit, bad input, and zero allocation per frame.
using System.Runtime.InteropServices;
using CameraCnn.Engine;
using CameraCnn.Engine.Models;
using OpenCvSharp;

namespace CameraCnn.Vision.Tests;

public class FramePreprocessorTests
{
    private const float Tolerance = 1e-5f;

    private static Preprocessing Pre(string resize, string order, int channels = 3, int h = 16, int w = 16) => new()
    {
        Channels = channels,
        Height = h,
        Width = w,
        ColorOrder = order,
        Resize = resize,
        Scale = 1f / 255f,
        Mean = channels == 3 ? [0.485f, 0.456f, 0.406f] : [0.5f],
        Std = channels == 3 ? [0.229f, 0.224f, 0.225f] : [0.25f],
    };

    // ---- geometry -------------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("stretch", 640, 480, 224, 224, 0, 0, 640, 480, 0, 0, 224, 224)]
    [InlineData("crop", 640, 480, 224, 224, 80, 0, 480, 480, 0, 0, 224, 224)]
    [InlineData("crop", 480, 640, 224, 224, 0, 80, 480, 480, 0, 0, 224, 224)]
    [InlineData("crop", 100, 50, 20, 40, 37, 0, 25, 50, 0, 0, 20, 40)]
    [InlineData("letterbox", 640, 480, 224, 224, 0, 0, 640, 480, 0, 28, 224, 168)]
    [InlineData("letterbox", 480, 640, 224, 224, 0, 0, 480, 640, 28, 0, 168, 224)]
    [InlineData("letterbox", 1000, 1, 8, 8, 0, 0, 1000, 1, 0, 3, 8, 1)]
    [InlineData("crop", 1, 1000, 8, 8, 0, 499, 1, 1, 0, 0, 8, 8)]
    public void Geometry_of_each_resize_mode(string mode, int fw, int fh, int w, int h,
        int sx, int sy, int sw, int sh, int tx, int ty, int tw, int th)
    {
        var g = FramePreprocessor.ComputeGeometry(mode, fw, fh, w, h);
        Assert.Equal(new Rect(sx, sy, sw, sh), g.Source);
        Assert.Equal(new Rect(tx, ty, tw, th), g.Target);
    }

    // ---- pure C# reference on block frames --------------------------------------------------------------------------

    /// <summary>A BGR frame of 2x2 blocks with pseudo-random colours; block (by, bx) is <paramref name="colours"/>[by, bx].</summary>
    private static Mat BlockFrame(int blocksY, int blocksX, int seed, out byte[,,] colours)
    {
        var rng = new Random(seed);
        colours = new byte[blocksY, blocksX, 3];
        var mat = new Mat(blocksY * 2, blocksX * 2, MatType.CV_8UC3);
        for (int by = 0; by < blocksY; by++)
            for (int bx = 0; bx < blocksX; bx++)
            {
                var v = new Vec3b((byte)rng.Next(256), (byte)rng.Next(256), (byte)rng.Next(256));
                colours[by, bx, 0] = v.Item0;
                colours[by, bx, 1] = v.Item1;
                colours[by, bx, 2] = v.Item2;
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++)
                        mat.Set(by * 2 + dy, bx * 2 + dx, v);
            }
        return mat;
    }

    /// <summary>OpenCV's documented fixed-point BGR-to-gray: Y = (1868 B + 9617 G + 4899 R + 2^13) >> 14.</summary>
    private static int Gray(int b, int g, int r) => (1868 * b + 9617 * g + 4899 * r + 8192) >> 14;

    private static double Normalise(int pixel, Preprocessing p, int c)
    {
        double mean = p.Mean.Length == 1 ? p.Mean[0] : p.Mean[c], std = p.Std.Length == 1 ? p.Std[0] : p.Std[c];
        return (pixel * (double)p.Scale - mean) / std;
    }

    [Theory]
    // frame blocks (rows x cols), resize, colour order, channels; every case halves the (cropped) frame exactly.
    [InlineData(8, 8, "stretch", "rgb", 3)]
    [InlineData(8, 8, "stretch", "bgr", 3)]
    [InlineData(8, 12, "crop", "rgb", 3)]    // 24x16 frame: centre 16x16 from x = 4, halved to 8x8
    [InlineData(12, 8, "crop", "bgr", 3)]
    [InlineData(4, 8, "letterbox", "rgb", 3)] // 16x8 frame halved to 8x4, bars of 2 rows above and below
    [InlineData(8, 4, "letterbox", "bgr", 3)]
    [InlineData(8, 12, "crop", "gray", 1)]
    [InlineData(4, 8, "letterbox", "gray", 1)]
    [InlineData(8, 8, "stretch", "gray", 3)]
    public void Matches_a_pure_reference_on_block_frames(int blocksY, int blocksX, string resize, string order, int channels)
    {
        const int size = 8;
        var pre = Pre(resize, order, channels, size, size);
        using var frame = BlockFrame(blocksY, blocksX, blocksY * 100 + blocksX, out var colours);
        var expected = new float[channels * size * size];
        int scaledW = blocksX, scaledH = blocksY; // after halving
        int ox = 0, oy = 0, bx0 = 0, by0 = 0;
        if (resize == "crop")
        {
            int side = Math.Min(blocksX, blocksY);
            bx0 = (blocksX - side) / 2;
            by0 = (blocksY - side) / 2;
            scaledW = scaledH = side;
        }
        if (resize == "letterbox")
        {
            ox = (size - blocksX) / 2;
            oy = (size - blocksY) / 2;
        }
        bool luminance = channels == 1 || order == "gray";
        for (int c = 0; c < channels; c++)
        {
            for (int i = 0; i < size * size; i++) expected[c * size * size + i] = (float)Normalise(FramePreprocessor.LetterboxPad, pre, c);
            for (int y = 0; y < scaledH; y++)
                for (int x = 0; x < scaledW; x++)
                {
                    int b = colours[by0 + y, bx0 + x, 0], g = colours[by0 + y, bx0 + x, 1], r = colours[by0 + y, bx0 + x, 2];
                    int pixel = luminance ? Gray(b, g, r) : order == "rgb" ? (c == 0 ? r : c == 1 ? g : b) : (c == 0 ? b : c == 1 ? g : r);
                    expected[(c * size + oy + y) * size + ox + x] = (float)Normalise(pixel, pre, c);
                }
        }
        using var pp = new FramePreprocessor(pre);
        var x4 = pp.CreateInput();
        pp.Process(frame, x4);
        AssertClose(expected, x4.Data);
    }

    // ---- reference through OpenCV's resize over awkward shapes ------------------------------------------------------

    /// <summary>Naive crop/letterbox arithmetic, OpenCV's resize (and gray conversion), then per-pixel normalisation in double.</summary>
    private static float[] Reference(Mat frame, Preprocessing p)
    {
        int fw = frame.Cols, fh = frame.Rows, w = p.Width, h = p.Height;
        Rect src = new(0, 0, fw, fh), dst = new(0, 0, w, h);
        if (p.Resize == "crop")
        {
            double s = Math.Max((double)w / fw, (double)h / fh);
            int cw = Math.Clamp((int)Math.Round(w / s, MidpointRounding.AwayFromZero), 1, fw);
            int ch = Math.Clamp((int)Math.Round(h / s, MidpointRounding.AwayFromZero), 1, fh);
            src = new Rect((fw - cw) / 2, (fh - ch) / 2, cw, ch);
        }
        else if (p.Resize == "letterbox")
        {
            double s = Math.Min((double)w / fw, (double)h / fh);
            int nw = Math.Clamp((int)Math.Round(fw * s, MidpointRounding.AwayFromZero), 1, w);
            int nh = Math.Clamp((int)Math.Round(fh * s, MidpointRounding.AwayFromZero), 1, h);
            dst = new Rect((w - nw) / 2, (h - nh) / 2, nw, nh);
        }
        bool luminance = p.Channels == 1 || p.ColorOrder == "gray";
        using var view = new Mat(frame, src);
        using var region = view.Clone();
        using var gray = new Mat();
        Mat pixels = region;
        if (luminance && region.Channels() > 1)
        {
            Cv2.CvtColor(region, gray, region.Channels() == 4 ? ColorConversionCodes.BGRA2GRAY : ColorConversionCodes.BGR2GRAY);
            pixels = gray;
        }
        using var resized = new Mat();
        if (pixels.Cols != dst.Width || pixels.Rows != dst.Height)
        {
            bool shrinking = dst.Width <= pixels.Cols && dst.Height <= pixels.Rows;
            Cv2.Resize(pixels, resized, new Size(dst.Width, dst.Height), 0, 0, shrinking ? InterpolationFlags.Area : InterpolationFlags.Linear);
            pixels = resized;
        }
        int pc = pixels.Channels();
        var bytes = new byte[pixels.Rows * pixels.Cols * pc];
        using (var packed = pixels.Clone()) Marshal.Copy(packed.Data, bytes, 0, bytes.Length);

        var result = new float[p.Channels * h * w];
        for (int c = 0; c < p.Channels; c++)
        {
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    int pixel = 0; // letterbox bars are black
                    if (y >= dst.Y && y < dst.Bottom && x >= dst.X && x < dst.Right)
                    {
                        int k = pc == 1 ? 0 : p.ColorOrder == "rgb" ? 2 - c : c;
                        pixel = bytes[((y - dst.Y) * dst.Width + x - dst.X) * pc + k];
                    }
                    result[(c * h + y) * w + x] = (float)Normalise(pixel, p, c);
                }
        }
        return result;
    }

    public static TheoryData<int, int, int, string, string, int, int, int> AwkwardCases()
    {
        var data = new TheoryData<int, int, int, string, string, int, int, int>();
        (int W, int H)[] frames = [(37, 23), (23, 37), (640, 480), (5, 300), (1, 1), (10, 7), (224, 224), (300, 5)];
        (int W, int H)[] inputs = [(16, 16), (24, 10), (7, 31)];
        string[] modes = ["stretch", "crop", "letterbox"];
        (string Order, int Channels)[] colours = [("rgb", 3), ("bgr", 3), ("gray", 1), ("gray", 3)];
        int[] frameChannels = [3, 1, 4];
        int i = 0;
        foreach (var f in frames)
            foreach (var input in inputs)
                foreach (string mode in modes)
                {
                    var (order, channels) = colours[i % colours.Length];
                    data.Add(f.W, f.H, frameChannels[i / colours.Length % frameChannels.Length], mode, order, channels, input.W, input.H);
                    i++;
                }
        return data;
    }

    [Theory]
    [MemberData(nameof(AwkwardCases))]
    public void Matches_an_OpenCV_resize_reference(int fw, int fh, int frameChannels, string resize, string order, int channels, int w, int h)
    {
        var pre = Pre(resize, order, channels, h, w);
        using var frame = RandomFrame(fh, fw, frameChannels, fw * 31 + fh);
        using var pp = new FramePreprocessor(pre);
        var x = pp.CreateInput();
        pp.Process(frame, x);
        AssertClose(Reference(frame, pre), x.Data);
    }

    // Frames of 256 x 256 source pixels or more, with even heights, are area-averaged in two bands of rows on two
    // threads. A band differing from the one-call resize by one byte would be off by 1/255/std, far over the tolerance.
    [Theory]
    [InlineData(640, 480, 3, "crop", "rgb", 3, 224, 224)]
    [InlineData(1280, 720, 3, "crop", "bgr", 3, 224, 224)]
    [InlineData(1920, 1080, 4, "letterbox", "rgb", 3, 224, 224)]
    [InlineData(352, 288, 3, "stretch", "rgb", 3, 96, 160)]
    [InlineData(640, 480, 1, "crop", "gray", 1, 28, 28)]
    [InlineData(640, 480, 3, "letterbox", "gray", 3, 64, 64)]
    [InlineData(500, 376, 3, "stretch", "rgb", 3, 224, 224)]
    public void Two_bands_of_rows_match_one_resize(int fw, int fh, int frameChannels, string resize, string order, int channels, int w, int h)
    {
        var pre = Pre(resize, order, channels, h, w);
        using var frame = RandomFrame(fh, fw, frameChannels, fw + fh);
        using var pp = new FramePreprocessor(pre);
        var x = pp.CreateInput();
        pp.Process(frame, x);
        AssertClose(Reference(frame, pre), x.Data);
    }

    [Fact]
    public void Two_bands_of_rows_match_one_resize_over_many_frame_heights()
    {
        var pre = Pre("stretch", "bgr", 3, 24, 224);
        using var pp = new FramePreprocessor(pre);
        var x = pp.CreateInput();
        for (int fh = 258; fh <= 1300; fh += 6)
        {
            using var frame = RandomFrame(fh, 256, 3, fh);
            pp.Process(frame, x);
            AssertClose(Reference(frame, pre), x.Data);
        }
    }

    [Theory]
    [InlineData("crop")]
    [InlineData("letterbox")]
    [InlineData("stretch")]
    public void Views_into_a_larger_frame_and_changing_sizes_work(string resize)
    {
        var pre = Pre(resize, "rgb", 3, 12, 20);
        using var big = RandomFrame(90, 120, 3, 5);
        using var pp = new FramePreprocessor(pre);
        var x = pp.CreateInput();
        foreach (var roi in new[] { new Rect(7, 3, 50, 41), new Rect(0, 0, 120, 90), new Rect(60, 50, 13, 40), new Rect(7, 3, 50, 41) })
        {
            using var view = new Mat(big, roi); // not continuous
            pp.Process(view, x);
            AssertClose(Reference(view, pre), x.Data);
        }
    }

    [Fact]
    public void Writes_only_its_sample_of_a_batch()
    {
        var pre = Pre("letterbox", "bgr", 3, 8, 8);
        using var frame = RandomFrame(20, 30, 3, 9);
        using var pp = new FramePreprocessor(pre);
        var batch = pp.CreateInput(3);
        Array.Fill(batch.Data, float.NaN);
        pp.Process(frame, batch, batchIndex: 1);
        int s = 3 * 8 * 8;
        Assert.All(batch.Data.AsSpan(0, s).ToArray(), v => Assert.True(float.IsNaN(v)));
        Assert.All(batch.Data.AsSpan(2 * s, s).ToArray(), v => Assert.True(float.IsNaN(v)));
        AssertClose(Reference(frame, pre), batch.Data.AsSpan(s, s).ToArray());

        var chw = new Tensor(3, 8, 8);
        pp.Process(frame, chw);
        AssertClose(Reference(frame, pre), chw.Data);
    }

    // ---- parity with the training data path -------------------------------------------------------------------------

    [Theory]
    [InlineData(30, 40, false)] // shrinking: area
    [InlineData(8, 6, false)]   // enlarging: bilinear
    [InlineData(30, 40, true)]
    [InlineData(16, 16, true)]  // no resize
    public void Stretch_is_bit_identical_to_ImageFile_plus_NormalizeUnit(int h, int w, bool gray)
    {
        using var tmp = new TempDir();
        string path = Path.Combine(tmp.Path, "x.png");
        using (var frame = RandomFrame(h, w, 3, h * w)) Cv2.ImWrite(path, frame);
        var pre = Pre("stretch", gray ? "gray" : "rgb", gray ? 1 : 3, 16, 16);

        var training = ImageFile.LoadAsTensor(path, 16, 16, gray);
        pre.NormalizeUnit(training);

        using var decoded = Cv2.ImRead(path, gray ? ImreadModes.Grayscale : ImreadModes.Color);
        using var pp = new FramePreprocessor(pre);
        var x = pp.CreateInput();
        pp.Process(decoded, x);
        Assert.Equal(training.Data, x.Data);
    }

    // ---- bad input and allocation -----------------------------------------------------------------------------------

    [Fact]
    public void Refuses_frames_and_tensors_that_do_not_fit()
    {
        using var pp = new FramePreprocessor(Pre("crop", "rgb"));
        var x = pp.CreateInput();
        using var empty = new Mat();
        Assert.Contains("empty", Assert.Throws<ArgumentException>(() => pp.Process(empty, x)).Message);
        using var floats = new Mat(4, 4, MatType.CV_32FC3);
        Assert.Contains("8-bit", Assert.Throws<ArgumentException>(() => pp.Process(floats, x)).Message);
        using var two = new Mat(4, 4, MatType.CV_8UC2);
        Assert.Throws<ArgumentException>(() => pp.Process(two, x));
        using var ok = new Mat(4, 4, MatType.CV_8UC3, Scalar.All(1));
        Assert.Throws<ArgumentException>(() => pp.Process(ok, new Tensor(1, 1, 16, 16)));
        Assert.Throws<ArgumentException>(() => pp.Process(ok, x, batchIndex: 1));
        Assert.Throws<InvalidDataException>(() => new FramePreprocessor(Pre("crop", "rgb") with { Resize = "zoom" }));
    }

    [Theory]
    [InlineData("crop", "rgb", 3)]
    [InlineData("letterbox", "bgr", 3)]
    [InlineData("stretch", "gray", 1)]
    public void Allocates_nothing_per_frame(string resize, string order, int channels)
    {
        var pre = Pre(resize, order, channels, 224, 224);
        using var a = RandomFrame(480, 640, 3, 1);
        using var b = RandomFrame(480, 640, 3, 2);
        using var pp = new FramePreprocessor(pre);
        var x = pp.CreateInput();
        for (int i = 0; i < 5; i++)
        {
            pp.Process(a, x);
            pp.Process(b, x);
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20; i++)
        {
            pp.Process(a, x);
            pp.Process(b, x);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    // ---- helpers ----------------------------------------------------------------------------------------------------

    private static Mat RandomFrame(int rows, int cols, int channels, int seed)
    {
        var mat = new Mat(rows, cols, MatType.CV_8UC(channels));
        var bytes = new byte[rows * cols * channels];
        new Random(seed).NextBytes(bytes);
        Marshal.Copy(bytes, 0, mat.Data, bytes.Length);
        return mat;
    }

    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (!(Math.Abs(expected[i] - actual[i]) <= Tolerance))
                Assert.Fail($"element {i}: expected {expected[i]}, got {actual[i]} (of {expected.Length})");
    }
}
