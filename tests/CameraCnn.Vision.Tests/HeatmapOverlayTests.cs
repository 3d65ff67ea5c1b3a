// HeatmapOverlayTests: a map over the network input laid back onto the picture. Points map through each resize mode
// (stretch, centre crop, letterbox) to the picture's own fractions; the upsampled map equals OpenCV's bilinear resize of
// the map onto the region the network saw (stretch and crop), is zero where the crop cut the picture away, and for a
// letterbox takes the rows the picture filled; the blend changes only that region. The input's whole region in the
// picture's pixels (what the live window lays the map over) for each mode.
using OpenCvSharp;

namespace CameraCnn.Vision.Tests;

public class HeatmapOverlayTests
{
    private static float[] RandomMap(int h, int w, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, h * w).Select(_ => rng.NextSingle()).ToArray();
    }

    [Theory]
    [InlineData("stretch", 0.5, 0.5, 0.5, 0.5)]
    [InlineData("stretch", 0.25, 0.75, 0.25, 0.75)]
    [InlineData("crop", 0.0, 0.0, 0.125, 0.0)]     // 640x480 -> source (80, 0, 480, 480)
    [InlineData("crop", 1.0, 0.5, 0.875, 0.5)]
    [InlineData("crop", 0.5, 0.25, 0.5, 0.25)]
    [InlineData("letterbox", 0.5, 0.5, 0.5, 0.5)]  // 640x480 -> target (0, 28, 224, 168) of the input
    [InlineData("letterbox", 0.3, 0.125, 0.3, 0.0)]
    [InlineData("letterbox", 0.3, 0.0, 0.3, 0.0)]  // in the padding: the nearest picture edge
    [InlineData("letterbox", 0.3, 1.0, 0.3, 1.0)]
    public void A_point_of_the_input_lands_where_it_came_from(string mode, double u, double v, double x, double y)
    {
        var geometry = FramePreprocessor.ComputeGeometry(mode, 640, 480, 224, 224);
        var (fx, fy) = HeatmapOverlay.InputToFrame(geometry, 224, 224, 640, 480, u, v);
        Assert.Equal(x, fx, 9);
        Assert.Equal(y, fy, 9);
    }

    [Theory]
    [InlineData("stretch", 0, 0, 640, 480)]
    [InlineData("crop", 80, 0, 480, 480)]       // the centre square the crop keeps
    [InlineData("letterbox", 0, -80, 640, 640)] // the picture plus the padding above and below it
    public void The_input_region_is_where_the_whole_input_lies_in_the_picture(string mode, double x, double y, double w, double h)
    {
        var geometry = FramePreprocessor.ComputeGeometry(mode, 640, 480, 224, 224);
        var r = HeatmapOverlay.InputRegion(geometry, 224, 224);
        Assert.Equal(x, r.X, 9);
        Assert.Equal(y, r.Y, 9);
        Assert.Equal(w, r.Width, 9);
        Assert.Equal(h, r.Height, 9);
        // Its corners are the input's corners: InputToFrame (which clamps to the picture) agrees inside the picture.
        var (fx, fy) = HeatmapOverlay.InputToFrame(geometry, 224, 224, 640, 480, 0.25, 0.5);
        Assert.Equal((r.X + 0.25 * r.Width) / 640, fx, 9);
        Assert.Equal((r.Y + 0.5 * r.Height) / 480, fy, 9);
    }

    [Theory]
    [InlineData("stretch", 7, 7, 224, 224, 320, 240)]
    [InlineData("stretch", 3, 5, 30, 50, 17, 41)]
    [InlineData("crop", 7, 7, 224, 224, 320, 240)]
    [InlineData("crop", 14, 14, 224, 224, 300, 451)]
    [InlineData("crop", 4, 6, 20, 30, 99, 50)]
    public void Stretch_and_crop_equal_opencvs_resize_onto_the_seen_region(string mode, int mh, int mw, int iw, int ih, int fw, int fh)
    {
        float[] map = RandomMap(mh, mw, mh * 31 + fw);
        var geometry = FramePreprocessor.ComputeGeometry(mode, fw, fh, iw, ih);
        using var up = HeatmapOverlay.Upsample(map, mh, mw, geometry, iw, ih, fw, fh);
        Assert.Equal(new Size(fw, fh), up.Size());
        using var source = new Mat(mh, mw, MatType.CV_32FC1);
        map.CopyTo(source.AsSpan<float>());
        using var want = new Mat();
        Cv2.Resize(source, want, geometry.Source.Size, 0, 0, InterpolationFlags.Linear);
        var s = geometry.Source;
        for (int y = 0; y < fh; y++)
            for (int x = 0; x < fw; x++)
            {
                float got = up.At<float>(y, x);
                bool inside = s.Contains(x, y);
                float expected = inside ? want.At<float>(y - s.Y, x - s.X) : 0f;
                Assert.True(Math.Abs(got - expected) <= 1e-5f, $"{mode} ({x}, {y}): {got}, OpenCV {expected}");
            }
    }

    [Fact]
    public void A_letterboxed_picture_takes_the_rows_it_filled()
    {
        // A 64 x 32 picture in a 16 x 16 input fills input rows 4..11; the 4 x 4 map's row centres are at input rows 2, 6, 10, 14.
        var geometry = FramePreprocessor.ComputeGeometry("letterbox", 64, 32, 16, 16);
        Assert.Equal(new Rect(0, 4, 16, 8), geometry.Target);
        float[] map = [0, 0, 0, 0, 1, 1, 1, 1, 3, 3, 3, 3, 9, 9, 9, 9];
        using var up = HeatmapOverlay.Upsample(map, 4, 4, geometry, 16, 16, 64, 32);
        // Picture row j came from input row 4 + (j + 0.5) / 4, i.e. map row (4 + (j + 0.5) / 4) / 4 - 0.5.
        for (int j = 0; j < 32; j++)
        {
            double i = Math.Clamp((4 + (j + 0.5) / 4) / 4 - 0.5, 0, 3);
            int i0 = (int)i;
            double want = map[i0 * 4] + (i - i0) * (map[Math.Min(i0 + 1, 3) * 4] - map[i0 * 4]);
            Assert.Equal(want, up.At<float>(j, 10), 5);
            Assert.Equal(up.At<float>(j, 0), up.At<float>(j, 63)); // constant along a row
        }
        // The picture's top and bottom rows lie between map rows 0 and 1, and 2 and 3: the padding rows are not seen.
        Assert.InRange(up.At<float>(0, 0), 0.5f, 0.55f);
        Assert.InRange(up.At<float>(31, 0), 5.8f, 5.9f);
    }

    [Fact]
    public void The_blend_changes_the_seen_region_only()
    {
        using var picture = new Mat(40, 60, MatType.CV_8UC3, new Scalar(10, 200, 90));
        var geometry = FramePreprocessor.ComputeGeometry("crop", 60, 40, 20, 20);
        using var heat = HeatmapOverlay.Upsample(RandomMap(2, 2, 1), 2, 2, geometry, 20, 20, 60, 40);
        using var blended = HeatmapOverlay.Blend(picture, heat, geometry.Source);
        Assert.Equal(new Rect(10, 0, 40, 40), geometry.Source);
        for (int y = 0; y < 40; y++)
            for (int x = 0; x < 60; x++)
            {
                var p = blended.At<Vec3b>(y, x);
                bool same = p == picture.At<Vec3b>(y, x);
                Assert.True(geometry.Source.Contains(x, y) ? !same : same, $"pixel ({x}, {y}) {(same ? "unchanged" : "changed")}");
            }
        Assert.Throws<ArgumentException>(() => HeatmapOverlay.Upsample(new float[3], 2, 2, geometry, 20, 20, 60, 40));
    }
}
