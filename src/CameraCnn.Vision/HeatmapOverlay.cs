// HeatmapOverlay: a class heatmap (e.g. Grad-CAM's, on the grid of a layer that covers the network's input) laid over
// the picture it came from: upsampled bilinearly onto the region of the picture the network saw (whole frame, centre
// crop or letterbox, as FramePreprocessor placed it), coloured with OpenCV's viridis and blended; and a point of the map
// in the picture's coordinates. Not the window's drawing (that is a shader); this is for images on disk.
using OpenCvSharp;

namespace CameraCnn.Vision;

/// <summary>Maps a heatmap over the network input back onto the picture, for drawing and for reporting positions.</summary>
public static class HeatmapOverlay
{
    /// <summary>How much of the colour goes into a blended pixel inside the region the network saw.</summary>
    public const double DefaultOpacity = 0.5;

    /// <summary>
    /// The picture position of a point given as fractions (<paramref name="u"/>, <paramref name="v"/>) of the network
    /// input (x to the right, y down), as fractions 0..1 of the picture. The preprocessing resized
    /// <see cref="FrameGeometry.Source"/> (picture pixels) onto <see cref="FrameGeometry.Target"/> (input pixels); a
    /// point in letterbox padding lands on the nearest picture edge.
    /// </summary>
    public static (double X, double Y) InputToFrame(FrameGeometry geometry, int inputWidth, int inputHeight, int frameWidth, int frameHeight, double u, double v)
    {
        var (s, t) = geometry;
        double x = s.X + (u * inputWidth - t.X) * s.Width / t.Width;
        double y = s.Y + (v * inputHeight - t.Y) * s.Height / t.Height;
        return (Math.Clamp(x / frameWidth, 0, 1), Math.Clamp(y / frameHeight, 0, 1));
    }

    /// <summary>
    /// Where the whole network input lies in the picture, in picture pixels (x, y, width, height; x to the right, y down):
    /// the picture itself when stretched, its centre window when cropped, the picture plus the padding when letterboxed
    /// (then the region reaches beyond the picture). A map that covers the network input covers exactly this region.
    /// </summary>
    public static (double X, double Y, double Width, double Height) InputRegion(FrameGeometry geometry, int inputWidth, int inputHeight)
    {
        var (s, t) = geometry;
        double sx = (double)s.Width / t.Width, sy = (double)s.Height / t.Height;
        return (s.X - t.X * sx, s.Y - t.Y * sy, inputWidth * sx, inputHeight * sy);
    }

    /// <summary>
    /// The map (<paramref name="mapHeight"/> x <paramref name="mapWidth"/>, row-major, covering the whole network input)
    /// resampled bilinearly to the picture: a new CV_32F <paramref name="frameHeight"/> x <paramref name="frameWidth"/> Mat.
    /// A map cell's centre lands where that point of the input came from (pixel centres, as OpenCV's resize places them,
    /// so for a stretched or cropped picture this is exactly cv::resize of the map onto the region); beyond the outermost
    /// cell centres the edge values continue. Outside <see cref="FrameGeometry.Source"/> (what a centre crop cut away)
    /// the result is 0.
    /// </summary>
    public static Mat Upsample(ReadOnlySpan<float> map, int mapHeight, int mapWidth, FrameGeometry geometry, int inputWidth, int inputHeight,
        int frameWidth, int frameHeight)
    {
        if (mapHeight < 1 || mapWidth < 1 || map.Length != mapHeight * mapWidth)
            throw new ArgumentException($"a {mapHeight}x{mapWidth} map needs {mapHeight * mapWidth} values, got {map.Length}", nameof(map));
        var (s, t) = geometry;
        var seen = s.Intersect(new Rect(0, 0, frameWidth, frameHeight));
        var result = new Mat(frameHeight, frameWidth, MatType.CV_32FC1, Scalar.All(0));
        if (seen.Width <= 0 || seen.Height <= 0) return result;
        // Per picture column (row): the two map columns (rows) it lies between and the weight of the second.
        var (x0, x1, ax) = Taps(seen.X, seen.Width, s.X, s.Width, t.X, t.Width, inputWidth, mapWidth);
        var (y0, y1, ay) = Taps(seen.Y, seen.Height, s.Y, s.Height, t.Y, t.Height, inputHeight, mapHeight);
        Span<float> pixels = result.AsSpan<float>();
        for (int r = 0; r < seen.Height; r++)
        {
            ReadOnlySpan<float> top = map.Slice(y0[r] * mapWidth, mapWidth), bottom = map.Slice(y1[r] * mapWidth, mapWidth);
            Span<float> row = pixels.Slice((seen.Y + r) * frameWidth + seen.X, seen.Width);
            float b = ay[r];
            for (int c = 0; c < row.Length; c++)
            {
                float a = ax[c];
                float upper = top[x0[c]] + a * (top[x1[c]] - top[x0[c]]), lower = bottom[x0[c]] + a * (bottom[x1[c]] - bottom[x0[c]]);
                row[c] = upper + b * (lower - upper);
            }
        }
        return result;
    }

    /// <summary>
    /// For picture pixels first .. first + count - 1 along one axis: picture centre f = j + 0.5 came from input position
    /// q = target + (f - source) * targetSize / sourceSize, which is map coordinate q * mapSize / inputSize - 0.5.
    /// </summary>
    private static (int[] Lo, int[] Hi, float[] Weight) Taps(int first, int count, int source, int sourceSize, int target, int targetSize,
        int inputSize, int mapSize)
    {
        var lo = new int[count];
        var hi = new int[count];
        var weight = new float[count];
        for (int k = 0; k < count; k++)
        {
            double q = target + (first + k + 0.5 - source) * targetSize / sourceSize;
            double i = Math.Clamp(q * mapSize / inputSize - 0.5, 0, mapSize - 1);
            lo[k] = (int)i;
            hi[k] = Math.Min(lo[k] + 1, mapSize - 1);
            weight[k] = (float)(i - lo[k]);
        }
        return (lo, hi, weight);
    }

    /// <summary>
    /// The picture (8-bit BGR) with <paramref name="heat"/> (CV_32F, its size, values 0..1) coloured by viridis and
    /// blended in at <paramref name="opacity"/> inside <paramref name="region"/> (the part the network saw); the rest
    /// is the picture unchanged. Returns a new 8-bit BGR Mat.
    /// </summary>
    public static Mat Blend(Mat pictureBgr, Mat heat, Rect region, double opacity = DefaultOpacity)
    {
        ArgumentNullException.ThrowIfNull(pictureBgr);
        ArgumentNullException.ThrowIfNull(heat);
        if (pictureBgr.Type() != MatType.CV_8UC3) throw new ArgumentException($"the picture must be 8-bit BGR, got {pictureBgr.Type()}", nameof(pictureBgr));
        if (heat.Type() != MatType.CV_32FC1 || heat.Size() != pictureBgr.Size())
            throw new ArgumentException($"the heat must be CV_32F of the picture's size {pictureBgr.Size()}", nameof(heat));
        using var heat8 = new Mat();
        heat.ConvertTo(heat8, MatType.CV_8UC1, 255);
        using var coloured = new Mat();
        Cv2.ApplyColorMap(heat8, coloured, ColormapTypes.Viridis);
        var result = pictureBgr.Clone();
        var seen = region.Intersect(new Rect(0, 0, pictureBgr.Cols, pictureBgr.Rows));
        if (seen.Width > 0 && seen.Height > 0)
        {
            using var target = new Mat(result, seen);
            using var colour = new Mat(coloured, seen);
            using var picture = new Mat(pictureBgr, seen);
            Cv2.AddWeighted(picture, 1 - opacity, colour, opacity, 0, target);
        }
        return result;
    }
}
