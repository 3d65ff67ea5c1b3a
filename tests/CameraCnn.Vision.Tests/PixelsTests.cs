// PixelsTests: HwcBytesToChw against a naive index-by-index reference.
namespace CameraCnn.Vision.Tests;

public class PixelsTests
{
    private static float[] Reference(byte[] hwc, int h, int w, int c, bool swapRb)
    {
        var chw = new float[h * w * c];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int ch = 0; ch < c; ch++)
                {
                    int src = swapRb && ch == 0 ? 2 : swapRb && ch == 2 ? 0 : ch;
                    chw[(ch * h + y) * w + x] = hwc[(y * w + x) * c + src] / 255f;
                }
        return chw;
    }

    [Theory]
    [InlineData(1, 1, 1, false)]
    [InlineData(5, 7, 1, false)]
    [InlineData(5, 7, 3, false)]
    [InlineData(5, 7, 3, true)]
    [InlineData(4, 3, 4, true)]
    [InlineData(13, 2, 2, false)]
    public void Matches_naive_reference(int h, int w, int c, bool swapRb)
    {
        var rng = new Random(h * 1000 + w * 10 + c);
        var hwc = new byte[h * w * c];
        rng.NextBytes(hwc);
        hwc[0] = 0;
        hwc[^1] = 255;
        var chw = new float[hwc.Length];

        Pixels.HwcBytesToChw(hwc, h, w, c, swapRb, chw);

        Assert.Equal(Reference(hwc, h, w, c, swapRb), chw);
    }

    [Fact]
    public void Extremes_map_to_zero_and_one()
    {
        var chw = new float[2];
        Pixels.HwcBytesToChw([0, 255], 1, 2, 1, false, chw);
        Assert.Equal([0f, 1f], chw);
    }

    [Fact]
    public void Rejects_wrong_sizes()
    {
        Assert.Throws<ArgumentException>(() => Pixels.HwcBytesToChw(new byte[5], 2, 2, 1, false, new float[4]));
        Assert.Throws<ArgumentException>(() => Pixels.HwcBytesToChw(new byte[4], 2, 2, 1, false, new float[5]));
        Assert.Throws<ArgumentException>(() => Pixels.HwcBytesToChw(new byte[8], 2, 2, 2, true, new float[8]));
    }
}
