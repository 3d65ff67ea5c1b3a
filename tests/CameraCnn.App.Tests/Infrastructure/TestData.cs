// TestData (App part): inputs the CLI tests feed camcnn: Fashion-MNIST (the installed Debian package) and PNGs written
// with OpenCV; the drawn-shapes ImageFolder and random bytes are shared with the Vision tests (tests/Shared/TestData.cs).
using CameraCnn.Engine.Data;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Training;
using OpenCvSharp;
using Xunit.Sdk;

namespace CameraCnn.Tests;

public static partial class TestData
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
}
