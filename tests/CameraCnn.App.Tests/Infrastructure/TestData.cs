// TestData: inputs the CLI tests feed camcnn: Fashion-MNIST (the installed Debian package), PNGs written with OpenCV,
// and a synthetic three-class ImageFolder of drawn shapes.
using CameraCnn.Engine.Data;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Training;
using OpenCvSharp;
using Xunit.Sdk;

namespace CameraCnn.App.Tests.Infrastructure;

public static class TestData
{
    /// <summary>
    /// The Fashion-MNIST directory camcnn will use for --data fashion-mnist ($CAMCNN_FASHION_MNIST or the Debian
    /// package's directory). The package is a test prerequisite (CI installs it), so its absence fails loudly.
    /// </summary>
    public static string FashionMnistDirectory =>
        FashionMnist.FindDirectory() ?? throw new XunitException(
            $"Fashion-MNIST is required by these tests: {FashionMnist.MissingMessage} (or set {FashionMnist.EnvironmentVariable})");

    /// <summary>Test-split image <paramref name="index"/> as 28x28 bytes (row-major) and its label.</summary>
    public static (byte[] Pixels, int Label) FashionTestImage(int index)
    {
        string dir = FashionMnistDirectory;
        var images = Idx.ReadImages(Path.Combine(dir, FashionMnist.TestImagesFile), index + 1);
        int[] labels = Idx.ReadLabels(Path.Combine(dir, FashionMnist.TestLabelsFile), index + 1);
        int s = images.H * images.W;
        var pixels = new byte[s];
        for (int i = 0; i < s; i++) pixels[i] = (byte)Math.Round(images.Data[index * s + i] * 255f);
        return (pixels, labels[index]);
    }

    /// <summary>Writes 8-bit grey pixels as a (lossless) PNG with OpenCV.</summary>
    public static void WriteGrayPng(string path, byte[] pixels, int height, int width)
    {
        using var mat = new Mat(height, width, MatType.CV_8UC1);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                mat.Set(y, x, pixels[y * width + x]);
        if (!Cv2.ImWrite(path, mat)) throw new XunitException($"OpenCV could not write {path}");
    }

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

    /// <summary>
    /// An untrained, seeded LeNet for <paramref name="size"/> x <paramref name="size"/> RGB images of
    /// <paramref name="labels"/>, saved at <paramref name="path"/> (once): enough for run, predict, eval and infer to do
    /// real work in milliseconds. Returns the path.
    /// </summary>
    public static string Classifier(string path, int size, IReadOnlyList<string> labels)
    {
        if (File.Exists(path)) return path;
        var model = Model.Create("lenet", new Preprocessing { Channels = 3, Height = size, Width = size, ColorOrder = "rgb" }, labels);
        Initializer.Initialize(model.Graph, seed: 1);
        model.Save(path);
        return path;
    }

    /// <summary>Deterministic pseudo-random bytes (corrupt files).</summary>
    public static byte[] RandomBytes(int count, int seed)
    {
        var bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
