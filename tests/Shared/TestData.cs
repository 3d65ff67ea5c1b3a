// TestData (shared part): a synthetic three-class ImageFolder of drawn shapes and deterministic random bytes (corrupt
// files), for the App and Vision tests (linked in from tests/Shared; the App adds Fashion-MNIST inputs).
using OpenCvSharp;
using Xunit.Sdk;

namespace CameraCnn.Tests;

public static partial class TestData
{
    public static readonly string[] ShapeClasses = ["circles", "rectangles", "stripes"];

    /// <summary>
    /// An ImageFolder (root/&lt;class&gt;/NNN.png) of <paramref name="perClass"/> colour images per class, size x size:
    /// a filled circle, a filled rectangle, or horizontal stripes, at random positions in random colours on a random
    /// background (foreground and background kept apart so the shape is always visible). Deterministic for a seed.
    /// </summary>
    public static void WriteShapesFolder(string root, int perClass, int size, int seed)
    {
        var rng = new Random(seed);
        foreach (string cls in ShapeClasses)
        {
            string dir = Directory.CreateDirectory(Path.Combine(root, cls)).FullName;
            for (int i = 0; i < perClass; i++)
            {
                var (bg, fg) = ContrastingColours(rng);
                using var mat = new Mat(size, size, MatType.CV_8UC3, bg);
                switch (cls)
                {
                    case "circles":
                    {
                        int r = rng.Next(size * 3 / 16, size * 3 / 8 + 1);
                        var centre = new Point(rng.Next(r, size - r), rng.Next(r, size - r));
                        Cv2.Circle(mat, centre, r, fg, thickness: -1, lineType: LineTypes.AntiAlias);
                        break;
                    }
                    case "rectangles":
                    {
                        int w = rng.Next(size * 3 / 8, size * 7 / 8), h = rng.Next(size * 3 / 8, size * 7 / 8);
                        var rect = new Rect(rng.Next(0, size - w), rng.Next(0, size - h), w, h);
                        Cv2.Rectangle(mat, rect, fg, thickness: -1);
                        break;
                    }
                    default:
                    {
                        int period = rng.Next(4, 9), thick = Math.Max(1, period / 2), offset = rng.Next(period);
                        for (int y = offset; y < size; y += period)
                            Cv2.Rectangle(mat, new Rect(0, y, size, Math.Min(thick, size - y)), fg, thickness: -1);
                        break;
                    }
                }
                string path = Path.Combine(dir, $"{i:D3}.png");
                if (!Cv2.ImWrite(path, mat)) throw new XunitException($"OpenCV could not write {path}");
            }
        }
    }

    private static (Scalar Background, Scalar Foreground) ContrastingColours(Random rng)
    {
        // A dark random background and a bright random foreground: the colours vary freely, but a shape is always
        // lighter than its surroundings, so it never vanishes and the classes differ only in shape.
        Scalar Colour(int lo, int hi) => new(rng.Next(lo, hi), rng.Next(lo, hi), rng.Next(lo, hi));
        return (Colour(0, 110), Colour(150, 256));
    }

    /// <summary>Deterministic pseudo-random bytes (corrupt files).</summary>
    public static byte[] RandomBytes(int count, int seed)
    {
        var bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
