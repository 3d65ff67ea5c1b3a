// SampleWriterTests: class-name sanitising, numbering that continues and never overwrites, lossless PNGs, and a full
// disk (injected) that stops with a clear message, keeps what was saved and leaves no temp files.
using OpenCvSharp;

namespace CameraCnn.Vision.Tests;

public class SampleWriterTests
{
    [Theory]
    [InlineData("cat", "cat")]
    [InlineData("thumbs_up", "thumbs_up")]
    [InlineData("../evil", "evil")]
    [InlineData("..\\..\\evil", "evil")]
    [InlineData("/etc/passwd", "etc_passwd")]
    [InlineData("a b/c", "a_b_c")]
    [InlineData(".hidden", "hidden")]
    [InlineData("Käse", "Käse")]
    [InlineData("con", "con_")]
    [InlineData("LPT1", "LPT1_")]
    [InlineData("v1.2", "v1.2")]
    public void Class_names_are_made_safe_folder_names(string name, string expected) =>
        Assert.Equal(expected, SampleWriter.SanitizeClassName(name));

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("..")]
    [InlineData("/")]
    [InlineData("._.")]
    public void Names_without_letters_or_digits_are_refused(string name) =>
        Assert.Contains("no letters or digits", Assert.Throws<ArgumentException>(() => SampleWriter.SanitizeClassName(name)).Message);

    [Fact]
    public void Long_names_are_cut()
    {
        string s = SampleWriter.SanitizeClassName(new string('x', 500));
        Assert.Equal(SampleWriter.MaxClassNameLength, s.Length);
    }

    [Fact]
    public void Numbering_continues_after_the_highest_existing_file_and_images_round_trip()
    {
        using var tmp = new TempDir();
        string dir = tmp.Sub("cat");
        File.WriteAllText(Path.Combine(dir, "cat_000007.png"), "existing");
        File.WriteAllText(Path.Combine(dir, "cat_12.png"), "existing, unpadded");
        File.WriteAllText(Path.Combine(dir, "cat_abc.png"), "not a number");
        File.WriteAllText(Path.Combine(dir, "dog_000099.png"), "another prefix");

        var writer = new SampleWriter(tmp.Path, "cat");
        Assert.Equal(13, writer.NextNumber);
        using var frame = new Mat(5, 7, MatType.CV_8UC3);
        Cv2.Randu(frame, Scalar.All(0), Scalar.All(255));
        string a = writer.Save(frame), b = writer.Save(frame);
        Assert.Equal(Path.Combine(dir, "cat_000013.png"), a);
        Assert.Equal(Path.Combine(dir, "cat_000014.png"), b);
        Assert.Equal(2, writer.Saved);
        Assert.Equal("existing", File.ReadAllText(Path.Combine(dir, "cat_000007.png")));

        using var back = Cv2.ImRead(a, ImreadModes.Unchanged);
        using var diff = new Mat();
        Cv2.Absdiff(frame, back, diff);
        Assert.Equal(0, Cv2.CountNonZero(diff.Reshape(1)));
        Assert.Empty(Directory.GetFiles(dir, "*.tmp", new EnumerationOptions { AttributesToSkip = 0 }));

        // Sorting by name is recording order.
        string[] names = Directory.GetFiles(dir, "cat_0*.png").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;
        Assert.Equal(["cat_000007.png", "cat_000013.png", "cat_000014.png"], names);
    }

    [Fact]
    public void A_name_taken_meanwhile_is_skipped_not_overwritten()
    {
        using var tmp = new TempDir();
        var writer = new SampleWriter(tmp.Path, "x");
        string taken = Path.Combine(writer.ClassDirectory, writer.FileName(1));
        File.WriteAllText(taken, "another recorder got here first");
        using var frame = new Mat(3, 3, MatType.CV_8UC3, Scalar.All(9));
        Assert.EndsWith("x_000002.png", writer.Save(frame));
        Assert.Equal("another recorder got here first", File.ReadAllText(taken));
    }

    [Fact]
    public void Unsafe_class_names_stay_inside_the_data_directory()
    {
        using var tmp = new TempDir();
        string data = tmp.Sub("data");
        var writer = new SampleWriter(data, "../../outside");
        Assert.Equal(Path.Combine(data, "outside"), writer.ClassDirectory);
        using var frame = new Mat(3, 3, MatType.CV_8UC3, Scalar.All(9));
        Assert.StartsWith(data + Path.DirectorySeparatorChar, writer.Save(frame));
    }

    [Fact]
    public void A_full_disk_stops_with_a_clear_message_keeping_what_was_saved()
    {
        using var tmp = new TempDir();
        int opened = 0;
        var writer = new SampleWriter(tmp.Path, "cat", path =>
        {
            if (++opened == 3) return new FullDiskStream(path);
            return new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        });
        using var frame = new Mat(20, 20, MatType.CV_8UC3, Scalar.All(100));
        writer.Save(frame);
        writer.Save(frame);
        var e = Assert.Throws<IOException>(() => writer.Save(frame));
        Assert.Contains("No space left on device", e.Message);
        Assert.Contains("cat_000003.png", e.Message);
        Assert.Equal(2, writer.Saved);

        var files = Directory.GetFiles(writer.ClassDirectory, "*", new EnumerationOptions { AttributesToSkip = 0 }).Select(p => Path.GetFileName(p)).Order().ToArray();
        Assert.Equal(["cat_000001.png", "cat_000002.png"], files); // no partial file, no temp file
        using var ok = Cv2.ImRead(Path.Combine(writer.ClassDirectory, "cat_000002.png"));
        Assert.False(ok.Empty());
    }

    [Fact]
    public void A_data_path_that_is_a_file_is_refused()
    {
        using var tmp = new TempDir();
        string file = Path.Combine(tmp.Path, "data");
        File.WriteAllText(file, "x");
        var e = Assert.Throws<IOException>(() => new SampleWriter(file, "cat"));
        Assert.Contains("is a file", e.Message);
    }

    /// <summary>A stream whose writes fail as on a full disk; it creates the file first, as a real open would.</summary>
    private sealed class FullDiskStream : Stream
    {
        private readonly FileStream _inner;

        public FullDiskStream(string path) => _inner = new FileStream(path, FileMode.CreateNew, FileAccess.Write);

        public override void Write(byte[] buffer, int offset, int count) => throw new IOException("No space left on device : '" + _inner.Name + "'");
        public override void Write(ReadOnlySpan<byte> buffer) => throw new IOException("No space left on device : '" + _inner.Name + "'");
        public override void Flush() { }
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => 0;
        public override long Position { get => 0; set { } }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) _inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
