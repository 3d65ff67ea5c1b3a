// Pixels: what the window tests look for in a screenshot: colours at points, counts of coloured pixels, the
// difference between two screenshots over a rectangle, and how much of a region is coloured by a colormap.
using OpenCvSharp;

namespace CameraCnn.App.Tests.Window;

public static class ScreenPixels
{
    /// <summary>(R, G, B) at (x, y) of a BGR image.</summary>
    public static (int R, int G, int B) At(Mat bgr, int x, int y)
    {
        var v = bgr.At<Vec3b>(y, x);
        return (v.Item2, v.Item1, v.Item0);
    }

    /// <summary>The pixel at fractions (fx, fy) of a rectangle [x, y, w, h].</summary>
    public static (int R, int G, int B) AtFraction(Mat bgr, int[] rect, double fx, double fy) =>
        At(bgr, rect[0] + (int)(rect[2] * fx), rect[1] + (int)(rect[3] * fy));

    public static int Count(Mat bgr, int[] rect, Func<int, int, int, bool> rgb)
    {
        int n = 0;
        for (int y = rect[1]; y < rect[1] + rect[3]; y++)
            for (int x = rect[0]; x < rect[0] + rect[2]; x++)
            {
                var (r, g, b) = At(bgr, x, y);
                if (rgb(r, g, b)) n++;
            }
        return n;
    }

    /// <summary>Mean absolute difference per channel (0..255) between two images over a rectangle.</summary>
    public static double MeanAbsDiff(Mat a, Mat b, int[] rect)
    {
        var roi = new Rect(rect[0], rect[1], rect[2], rect[3]);
        using var ra = new Mat(a, roi);
        using var rb = new Mat(b, roi);
        using var diff = new Mat();
        Cv2.Absdiff(ra, rb, diff);
        var m = Cv2.Mean(diff);
        return (m.Val0 + m.Val1 + m.Val2) / 3;
    }

    private static readonly double[][] ViridisFit =
    [
        [0.2777273272234177, 0.005407344544966578, 0.3340998053353061],
        [0.1050930431085774, 1.404613529898575, 1.384590162594685],
        [-0.3308618287255563, 0.214847559468213, 0.09509516302823659],
        [-4.634230498983486, -5.799100973351585, -19.33244095627987],
        [6.228269936347081, 14.17993336680509, 56.69055260068105],
        [4.776384997670288, -13.74514537774601, -65.35303263337234],
        [-5.435455855934631, 4.645852612178535, 26.3124352495832],
    ];

    /// <summary>viridis(t) as featuremap.frag computes it (the same polynomial fit), in 0..255 per channel.</summary>
    public static (double R, double G, double B) Viridis(double t)
    {
        double[] v = new double[3];
        for (int k = 0; k < 3; k++)
        {
            double acc = 0;
            for (int d = ViridisFit.Length - 1; d >= 0; d--) acc = acc * t + ViridisFit[d][k];
            v[k] = Math.Clamp(acc, 0, 1) * 255;
        }
        return (v[0], v[1], v[2]);
    }

    /// <summary>viridis sampled at 64 points.</summary>
    private static readonly (double R, double G, double B)[] ViridisTable = Enumerable.Range(0, 64).Select(i => Viridis(i / 63.0)).ToArray();

    /// <summary>Fraction of the rectangle's pixels within a small distance of the viridis colormap.</summary>
    public static double ViridisFraction(Mat bgr, int[] rect)
    {
        int near = Count(bgr, rect, (r, g, b) => ViridisTable.Any(v => Math.Abs(v.R - r) + Math.Abs(v.G - g) + Math.Abs(v.B - b) < 24));
        return near / (double)(rect[2] * rect[3]);
    }
}
