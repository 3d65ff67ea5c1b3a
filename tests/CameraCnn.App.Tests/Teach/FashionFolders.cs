// FashionFolders: Fashion-MNIST (the installed Debian package) written as ImageFolders the fine-tuning tests train and
// test on: the first N training images of each class, and the first M test images, as 28x28 grey PNGs.
using CameraCnn.App.Tests.Infrastructure;
using CameraCnn.Engine.Data;

namespace CameraCnn.App.Tests.Teach;

internal static class FashionFolders
{
    public static readonly string[] ClassNames = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"];

    /// <summary>root/&lt;class&gt;/NNNNN.png: the first <paramref name="perClass"/> training images of every class.</summary>
    public static string Train(string root, int perClass) =>
        Write(root, FashionMnist.TrainImagesFile, FashionMnist.TrainLabelsFile, perClass, int.MaxValue, Math.Min(60000, perClass * 30));

    /// <summary>root/&lt;class&gt;/NNNNN.png: the first <paramref name="count"/> test images (classes as they come).</summary>
    public static string Test(string root, int count) =>
        Write(root, FashionMnist.TestImagesFile, FashionMnist.TestLabelsFile, int.MaxValue, count, count);

    private static string Write(string root, string imagesFile, string labelsFile, int perClass, int total, int read)
    {
        string dir = TestData.FashionMnistDirectory;
        var images = Idx.ReadImages(Path.Combine(dir, imagesFile), read);
        int[] labels = Idx.ReadLabels(Path.Combine(dir, labelsFile), read);
        int s = images.H * images.W, written = 0;
        var counts = new int[ClassNames.Length];
        var pixels = new byte[s];
        for (int i = 0; i < labels.Length && written < total; i++)
        {
            int c = labels[i];
            if (counts[c] >= perClass) continue;
            for (int p = 0; p < s; p++) pixels[p] = (byte)Math.Round(images.Data[i * s + p] * 255f);
            string classDir = Directory.CreateDirectory(Path.Combine(root, ClassNames[c])).FullName;
            TestData.WriteGrayPng(Path.Combine(classDir, $"{i:D5}.png"), pixels, images.H, images.W);
            counts[c]++;
            written++;
        }
        if (perClass != int.MaxValue && counts.Min() < perClass)
            throw new Xunit.Sdk.XunitException($"only {counts.Min()} training images of some class among the first {read}");
        return root;
    }
}
