// HostileFilesTests: Vision's file handling against what issue 15 threw at it: a screenshot written on a full disk (the
// old file must survive: row 5), into a read-only folder or over a FIFO; an image size whose tensor overflows int (row 2);
// a FIFO named like an image in a class folder (must not block the load); and the train/test layout rule.
using CameraCnn.Tests.Shared;
using OpenCvSharp;

namespace CameraCnn.Vision.Tests;

public sealed class HostileFilesTests
{
    private static Mat Picture(int width = 640, int height = 480)
    {
        // Noise: it does not compress, so the PNG is large (~900 KB) and cannot fit the small disk below.
        var m = new Mat(height, width, MatType.CV_8UC3);
        Cv2.Randu(m, Scalar.All(0), Scalar.All(255));
        return m;
    }

    [NeedsFact(Need.Mount)]
    public void Row05_a_screenshot_on_a_full_disk_keeps_the_previous_one_and_leaves_no_temp_file()
    {
        // Before: "libpng error: Write Error", the old shot.png deleted and no new one.
        using var tmp = new TempDir();
        string disk = tmp.Sub("disk");
        using var mount = SpecialFiles.MountTmpfs(disk, 256);
        string shot = Path.Combine(disk, "shot.png");
        using (var old = Picture(64, 48)) ImageOutput.Write(shot, old);
        byte[] before = File.ReadAllBytes(shot);

        using var big = Picture();
        var e = Assert.Throws<IOException>(() => ImageOutput.Write(shot, big));
        Assert.StartsWith($"cannot write {shot}: ", e.Message);
        Assert.Contains("No space left on device", e.Message);
        Assert.Equal(before, File.ReadAllBytes(shot));
        Assert.Equal(["shot.png"], Directory.GetFileSystemEntries(disk).Select(Path.GetFileName));
    }

    [NeedsFact(Need.ReadOnlyFolder)]
    public void A_screenshot_into_a_read_only_folder_fails_with_one_line()
    {
        using var tmp = new TempDir();
        string ro = tmp.Sub("ro");
        using (SpecialFiles.ReadOnlyFolder(ro, new Dictionary<string, byte[]> { ["shot.png"] = [1, 2, 3] }))
        {
            using var picture = Picture(32, 24);
            var e = Assert.Throws<IOException>(() => ImageOutput.Write(Path.Combine(ro, "shot.png"), picture));
            Assert.DoesNotContain('\n', e.Message);
            Assert.Equal([1, 2, 3], File.ReadAllBytes(Path.Combine(ro, "shot.png")));
        }
    }

    [NeedsFact(Need.Fifo)]
    public void A_screenshot_over_a_fifo_is_refused_and_a_bad_extension_named()
    {
        using var tmp = new TempDir();
        string fifo = Path.Combine(tmp.Path, "shot.png");
        SpecialFiles.MakeFifo(fifo);
        using var picture = Picture(32, 24);
        Assert.Contains("FIFO", Assert.Throws<IOException>(() => ImageOutput.Write(fifo, picture)).Message);
        Assert.Equal("fifo", SpecialFiles.TypeOf(fifo));
        Assert.Contains(".png, .jpg or .bmp", Assert.Throws<IOException>(() => ImageOutput.Write(Path.Combine(tmp.Path, "shot.txt"), picture)).Message);
        ImageOutput.Write(Path.Combine(tmp.Path, "shot.JPG"), picture);
        using var back = Cv2.ImRead(Path.Combine(tmp.Path, "shot.JPG"));
        Assert.Equal(32, back.Cols);
    }

    [Theory]
    [InlineData(40000)]
    [InlineData(46341)] // 3 * 46341^2 overflows int
    [InlineData(100000)]
    public void Row02_an_image_size_past_the_tensor_limit_is_a_message_not_an_overflow(int size)
    {
        using var tmp = new TempDir();
        SolidImage.Write(Path.Combine(tmp.Sub("a"), "1.png"), 4, 4, SolidImage.Red);
        SolidImage.Write(Path.Combine(tmp.Sub("b"), "1.png"), 4, 4, SolidImage.Blue);
        var e = Assert.Throws<InvalidDataException>(() => ImageFolder.Load(tmp.Path, size, size, grayscale: false));
        Assert.Contains($"3x{size}x{size}", e.Message);
        Assert.Contains("tensor limit", e.Message);
    }

    [NeedsFact(Need.Fifo)]
    public void A_fifo_named_like_an_image_is_skipped_not_waited_on()
    {
        using var tmp = new TempDir();
        SolidImage.Write(Path.Combine(tmp.Sub("a"), "1.png"), 4, 4, SolidImage.Red);
        SolidImage.Write(Path.Combine(tmp.Sub("b"), "1.png"), 4, 4, SolidImage.Blue);
        SpecialFiles.MakeFifo(Path.Combine(tmp.Path, "a", "2.png"));
        var load = Task.Run(() => ImageFolder.Load(tmp.Path, 4, 4, grayscale: false));
        Assert.True(load.Wait(TimeSpan.FromSeconds(30)), "ImageFolder.Load blocked on a FIFO");
        Assert.Equal(2, load.Result.Dataset.Count);
        Assert.Equal([Path.Combine(tmp.Path, "a", "2.png")], load.Result.SkippedFiles);
    }

    [Fact]
    public void The_layout_rule_takes_train_and_test_only_when_both_exist()
    {
        using var tmp = new TempDir();
        Assert.Equal(new ImageFolderLayout(tmp.Path, null), ImageFolderLayout.Of(tmp.Path));
        tmp.Sub("train");
        Assert.False(ImageFolderLayout.Of(tmp.Path).IsSplit); // a class that happens to be called "train"
        tmp.Sub("test");
        var split = ImageFolderLayout.Of(tmp.Path);
        Assert.True(split.IsSplit);
        Assert.Equal((Path.Combine(tmp.Path, "train"), Path.Combine(tmp.Path, "test")), (split.Train, split.Test));
    }
}
