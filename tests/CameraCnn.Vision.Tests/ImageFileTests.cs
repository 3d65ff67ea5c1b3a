// ImageFileTests: ImageFile.LoadAsTensor shapes, channel order and errors.
namespace CameraCnn.Vision.Tests;

public class ImageFileTests
{
    [Fact]
    public void Loads_colour_as_rgb_batch_of_one()
    {
        using var tmp = new TempDir();
        string path = SolidImage.Write(Path.Combine(tmp.Path, "g.png"), 30, 50, SolidImage.Green);

        var t = ImageFile.LoadAsTensor(path, 7, 9, grayscale: false);

        Assert.Equal([1, 3, 7, 9], t.Shape);
        Assert.All(t.Data.AsSpan(0, 63).ToArray(), v => Assert.Equal(0f, v));
        Assert.All(t.Data.AsSpan(63, 63).ToArray(), v => Assert.Equal(1f, v));
        Assert.All(t.Data.AsSpan(126, 63).ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void Loads_grayscale_as_single_channel()
    {
        using var tmp = new TempDir();
        string path = SolidImage.Write(Path.Combine(tmp.Path, "r.bmp"), 5, 5, SolidImage.Red);

        var t = ImageFile.LoadAsTensor(path, 10, 10, grayscale: true);

        Assert.Equal([1, 1, 10, 10], t.Shape);
        Assert.All(t.Data, v => Assert.Equal(76 / 255f, v, 0.01f));
    }

    [Fact]
    public void Missing_file_throws_file_not_found()
    {
        using var tmp = new TempDir();
        Assert.Throws<FileNotFoundException>(() => ImageFile.LoadAsTensor(Path.Combine(tmp.Path, "x.png"), 4, 4, false));
    }

    [Fact]
    public void Corrupt_file_throws_invalid_data_naming_the_path()
    {
        using var tmp = new TempDir();
        string path = Path.Combine(tmp.Path, "bad.png");
        var junk = new byte[500];
        new Random(7).NextBytes(junk);
        File.WriteAllBytes(path, junk);

        var e = Assert.Throws<InvalidDataException>(() => ImageFile.LoadAsTensor(path, 4, 4, false));
        Assert.Equal($"cannot decode image: {path}", e.Message);
    }
}
