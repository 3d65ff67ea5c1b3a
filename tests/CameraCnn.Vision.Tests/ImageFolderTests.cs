// ImageFolderTests: ImageFolder.Load on small generated folders (solid-colour PNG/JPEG/BMP, corrupt and non-image files).
using CameraCnn.Engine;
using OpenCvSharp;

namespace CameraCnn.Vision.Tests;

public class ImageFolderTests
{
    private const float Tol = 1.5f / 255f;

    /// <summary>red: 3 images of different sizes + a corrupt PNG + a text file; blue: 2 images.</summary>
    private static TempDir RedBlue()
    {
        var tmp = new TempDir();
        string red = tmp.Sub("red"), blue = tmp.Sub("blue");
        SolidImage.Write(Path.Combine(red, "r1.png"), 10, 20, SolidImage.Red);
        SolidImage.Write(Path.Combine(red, "r2.PNG"), 40, 30, SolidImage.Red);
        SolidImage.Write(Path.Combine(red, "r3.bmp"), 3, 5, SolidImage.Red);
        var junk = new byte[300];
        new Random(1).NextBytes(junk);
        File.WriteAllBytes(Path.Combine(red, "r0-corrupt.png"), junk);
        File.WriteAllText(Path.Combine(red, "notes.txt"), "not an image");
        SolidImage.Write(Path.Combine(blue, "b1.jpg"), 16, 16, SolidImage.Blue);
        SolidImage.Write(Path.Combine(blue, "b2.png"), 8, 12, SolidImage.Blue);
        return tmp;
    }

    private static void AssertPlane(Tensor t, int n, int c, float expected)
    {
        for (int y = 0; y < t.H; y++)
            for (int x = 0; x < t.W; x++)
                Assert.True(Math.Abs(t[n, c, y, x] - expected) <= Tol * 4,
                    $"sample {n} channel {c} at ({y},{x}) is {t[n, c, y, x]}, expected {expected}");
    }

    [Fact]
    public void Loads_colour_in_rgb_order_with_sorted_classes()
    {
        using var tmp = RedBlue();
        var result = ImageFolder.Load(tmp.Path, 8, 6, grayscale: false);

        var ds = result.Dataset;
        Assert.Equal(["blue", "red"], ds.ClassNames);
        Assert.Equal([5, 3, 8, 6], ds.Images.Shape);
        Assert.Equal([0, 0, 1, 1, 1], ds.Labels);
        Assert.Equal(1, result.Skipped);
        Assert.Equal([Path.Combine(tmp.Path, "red", "r0-corrupt.png")], result.SkippedFiles);
        Assert.Empty(result.EmptyClasses);

        for (int n = 0; n < 2; n++)
        {
            AssertPlane(ds.Images, n, 0, 0f);
            AssertPlane(ds.Images, n, 1, 0f);
            AssertPlane(ds.Images, n, 2, 1f);
        }
        for (int n = 2; n < 5; n++)
        {
            AssertPlane(ds.Images, n, 0, 1f);
            AssertPlane(ds.Images, n, 1, 0f);
            AssertPlane(ds.Images, n, 2, 0f);
        }
        Assert.All(ds.Images.Data, v => Assert.InRange(v, 0f, 1f));
    }

    [Fact]
    public void Loads_grayscale_with_luma_weights()
    {
        using var tmp = RedBlue();
        var result = ImageFolder.Load(tmp.Path, 4, 4, grayscale: true);

        var ds = result.Dataset;
        Assert.Equal([5, 1, 4, 4], ds.Images.Shape);
        // OpenCV's BGR->gray uses Y = 0.299 R + 0.587 G + 0.114 B.
        for (int n = 0; n < 2; n++) AssertPlane(ds.Images, n, 0, 0.114f);
        for (int n = 2; n < 5; n++) AssertPlane(ds.Images, n, 0, 0.299f);
    }

    [Fact]
    public void Files_are_ordinally_sorted_within_a_class()
    {
        using var tmp = new TempDir();
        string c = tmp.Sub("only");
        // Gray level identifies each file; ordinal order is "C.png" < "a.png" < "b.png".
        SolidImage.Write(Path.Combine(c, "b.png"), 2, 2, new Scalar(200, 200, 200));
        SolidImage.Write(Path.Combine(c, "a.png"), 2, 2, new Scalar(100, 100, 100));
        SolidImage.Write(Path.Combine(c, "C.png"), 2, 2, new Scalar(50, 50, 50));

        var ds = ImageFolder.Load(tmp.Path, 2, 2, grayscale: true).Dataset;

        Assert.Equal([50 / 255f, 100 / 255f, 200 / 255f], [ds.Images[0, 0, 0, 0], ds.Images[1, 0, 0, 0], ds.Images[2, 0, 0, 0]]);
    }

    [Fact]
    public void Class_folders_are_ordinally_sorted_and_hidden_ones_ignored()
    {
        using var tmp = new TempDir();
        SolidImage.Write(Path.Combine(tmp.Sub("a"), "x.png"), 2, 2, SolidImage.Red);
        SolidImage.Write(Path.Combine(tmp.Sub("B"), "x.png"), 2, 2, SolidImage.Red);
        SolidImage.Write(Path.Combine(tmp.Sub(".ipynb_checkpoints"), "x.png"), 2, 2, SolidImage.Red);

        var ds = ImageFolder.Load(tmp.Path, 2, 2, grayscale: false).Dataset;

        Assert.Equal(["B", "a"], ds.ClassNames);
        Assert.Equal([0, 1], ds.Labels);
    }

    [Fact]
    public void Resizes_content_not_just_colour()
    {
        using var tmp = new TempDir();
        string path = Path.Combine(tmp.Sub("split"), "halves.png");
        // Left half red, right half blue; both shrinking (area) and enlarging (linear) must keep the halves apart.
        using (var mat = new Mat(20, 40, MatType.CV_8UC3, SolidImage.Blue))
        {
            mat[new Rect(0, 0, 20, 20)].SetTo(SolidImage.Red);
            Cv2.ImWrite(path, mat);
        }

        foreach (var (h, w) in new[] { (4, 8), (40, 80) })
        {
            var t = ImageFolder.Load(tmp.Path, h, w, grayscale: false).Dataset.Images;
            Assert.True(Math.Abs(t[0, 0, h / 2, 0] - 1f) < Tol && t[0, 2, h / 2, 0] < Tol, $"left edge at {h}x{w}");
            Assert.True(Math.Abs(t[0, 2, h / 2, w - 1] - 1f) < Tol && t[0, 0, h / 2, w - 1] < Tol, $"right edge at {h}x{w}");
        }
    }

    [Fact]
    public void Class_names_map_folders_to_given_indices()
    {
        using var tmp = RedBlue();
        var result = ImageFolder.Load(tmp.Path, 4, 4, grayscale: false, classNames: ["red", "green", "blue"]);

        var ds = result.Dataset;
        Assert.Equal(["red", "green", "blue"], ds.ClassNames);
        Assert.Equal([0, 0, 0, 2, 2], ds.Labels);
        Assert.Equal(["green"], result.EmptyClasses);
        AssertPlane(ds.Images, 0, 0, 1f);
        AssertPlane(ds.Images, 4, 2, 1f);
    }

    [Fact]
    public void Folder_not_in_class_names_is_an_error_naming_it()
    {
        using var tmp = RedBlue();
        tmp.Sub("purple");
        var e = Assert.Throws<InvalidDataException>(
            () => ImageFolder.Load(tmp.Path, 4, 4, grayscale: false, classNames: ["red", "blue"]));
        Assert.Contains("purple", e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void Duplicate_class_names_are_rejected()
    {
        using var tmp = RedBlue();
        Assert.Throws<ArgumentException>(
            () => ImageFolder.Load(tmp.Path, 4, 4, grayscale: false, classNames: ["red", "blue", "red"]));
    }

    [Fact]
    public void Empty_class_folder_is_reported_not_fatal()
    {
        using var tmp = RedBlue();
        tmp.Sub("green");
        var result = ImageFolder.Load(tmp.Path, 4, 4, grayscale: false);

        Assert.Equal(["blue", "green", "red"], result.Dataset.ClassNames);
        Assert.Equal([0, 0, 2, 2, 2], result.Dataset.Labels);
        Assert.Equal(["green"], result.EmptyClasses);
    }

    [Fact]
    public void Reports_progress_for_every_image_file()
    {
        using var tmp = RedBlue();
        var seen = new System.Collections.Concurrent.ConcurrentBag<int>();
        ImageFolder.Load(tmp.Path, 4, 4, grayscale: false, progress: new SyncProgress(seen.Add));

        // Six image files (the corrupt one included); the text file is not an image candidate.
        Assert.Equal([1, 2, 3, 4, 5, 6], seen.Order());
    }

    [Fact]
    public void Missing_directory_throws()
    {
        using var tmp = new TempDir();
        string missing = Path.Combine(tmp.Path, "nope");
        var e = Assert.Throws<DirectoryNotFoundException>(() => ImageFolder.Load(missing, 4, 4, grayscale: false));
        Assert.Contains(missing, e.Message);
    }

    [Fact]
    public void No_class_folders_throws()
    {
        using var tmp = new TempDir();
        SolidImage.Write(Path.Combine(tmp.Path, "loose.png"), 4, 4, SolidImage.Red);
        var e = Assert.Throws<InvalidDataException>(() => ImageFolder.Load(tmp.Path, 4, 4, grayscale: false));
        Assert.Contains("no class sub-folders", e.Message);
    }

    [Fact]
    public void No_image_files_throws()
    {
        using var tmp = new TempDir();
        File.WriteAllText(Path.Combine(tmp.Sub("a"), "readme.txt"), "hi");
        tmp.Sub("b");
        Assert.Throws<InvalidDataException>(() => ImageFolder.Load(tmp.Path, 4, 4, grayscale: false));
    }

    [Fact]
    public void Only_corrupt_images_throws()
    {
        using var tmp = new TempDir();
        File.WriteAllBytes(Path.Combine(tmp.Sub("a"), "bad.jpg"), [1, 2, 3, 4, 5]);
        File.WriteAllBytes(Path.Combine(tmp.Sub("b"), "empty.png"), []);
        var e = Assert.Throws<InvalidDataException>(() => ImageFolder.Load(tmp.Path, 4, 4, grayscale: true));
        Assert.Contains("no readable images", e.Message);
    }

    [Fact]
    public void Non_positive_size_is_an_argument_error()
    {
        using var tmp = RedBlue();
        Assert.ThrowsAny<ArgumentException>(() => ImageFolder.Load(tmp.Path, 0, 4, grayscale: false));
        Assert.ThrowsAny<ArgumentException>(() => ImageFolder.Load(tmp.Path, 4, -1, grayscale: false));
    }

    /// <summary>Calls back on the reporting thread, unlike Progress&lt;T&gt;, so the test can assert right after Load.</summary>
    private sealed class SyncProgress(Action<int> report) : IProgress<int>
    {
        public void Report(int value) => report(value);
    }
}
