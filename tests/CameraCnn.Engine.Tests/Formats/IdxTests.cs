// Tests for Idx and FashionMnist: synthetic raw/gzipped IDX files, corrupt inputs, and the installed dataset.
using System.Buffers.Binary;
using System.IO.Compression;
using CameraCnn.Engine.Data;

namespace CameraCnn.Engine.Tests.Formats;

public sealed class IdxTests
{
    private static readonly string[] ThreeClasses = ["a", "b", "c"];

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Reads_images_raw_and_gzipped(bool gzip)
    {
        using var dir = new TempDir();
        string path = dir[gzip ? "imgs-idx3-ubyte.gz" : "imgs-idx3-ubyte"];
        byte[] raw = IdxBytes.Images(3, 4, 5);
        File.WriteAllBytes(path, gzip ? IdxBytes.Gzip(raw) : raw);

        var t = Idx.ReadImages(path);

        Assert.Equal([3, 1, 4, 5], t.Shape);
        for (int i = 0; i < t.Length; i++) Assert.Equal(raw[16 + i] / 255f, t[i]);
        Assert.Equal(0f, t[0]);
    }

    [Fact]
    public void Gzip_is_detected_by_content_not_name()
    {
        using var dir = new TempDir();
        string gzNoExt = dir["images"];
        string rawWithGz = dir["labels.gz"];
        File.WriteAllBytes(gzNoExt, IdxBytes.Gzip(IdxBytes.Images(2, 2, 2, _ => 255)));
        File.WriteAllBytes(rawWithGz, IdxBytes.Labels(1, 2));

        Assert.All(Idx.ReadImages(gzNoExt).Data, v => Assert.Equal(1f, v));
        Assert.Equal([1, 2], Idx.ReadLabels(rawWithGz));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Limit_reads_only_a_prefix(bool gzip)
    {
        using var dir = new TempDir();
        string images = dir["i"], labels = dir["l"];
        byte[] rawImages = IdxBytes.Images(10, 2, 3);
        File.WriteAllBytes(images, gzip ? IdxBytes.Gzip(rawImages) : rawImages);
        File.WriteAllBytes(labels, gzip ? IdxBytes.Gzip(IdxBytes.Labels(0, 1, 2, 0, 1, 2, 0, 1, 2, 0)) : IdxBytes.Labels(0, 1, 2, 0, 1, 2, 0, 1, 2, 0));

        var t = Idx.ReadImages(images, limit: 4);
        Assert.Equal([4, 1, 2, 3], t.Shape);
        Assert.Equal(rawImages[16 + 23] / 255f, t[23]);
        Assert.Equal([0, 1, 2, 0], Idx.ReadLabels(labels, limit: 4));
        Assert.Equal(10, Idx.ReadLabels(labels, limit: 1000).Length);
        Assert.Empty(Idx.ReadLabels(labels, limit: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Idx.ReadLabels(labels, limit: -1));
    }

    [Fact]
    public void Load_builds_dataset()
    {
        using var dir = new TempDir();
        string images = dir["i.gz"], labels = dir["l.gz"];
        File.WriteAllBytes(images, IdxBytes.Gzip(IdxBytes.Images(4, 3, 3)));
        File.WriteAllBytes(labels, IdxBytes.Gzip(IdxBytes.Labels(2, 0, 1, 2)));

        var ds = Idx.Load(images, labels, ThreeClasses);
        Assert.Equal(4, ds.Count);
        Assert.Equal([1, 3, 3], ds.SampleShape);
        Assert.Equal([2, 0, 1, 2], ds.Labels);
        Assert.Same(ThreeClasses, ds.ClassNames);

        Assert.Equal(2, Idx.Load(images, labels, ThreeClasses, limit: 2).Count);
    }

    [Fact]
    public void Count_mismatch_is_reported_even_with_limit()
    {
        using var dir = new TempDir();
        string images = dir["imgs.gz"], labels = dir["labs.gz"];
        File.WriteAllBytes(images, IdxBytes.Gzip(IdxBytes.Images(5, 2, 2)));
        File.WriteAllBytes(labels, IdxBytes.Gzip(IdxBytes.Labels(0, 1, 2, 0)));

        var e = Assert.Throws<InvalidDataException>(() => Idx.Load(images, labels, ThreeClasses));
        Assert.Equal("imgs.gz has 5 images but labs.gz has 4 labels", e.Message);
        Assert.Throws<InvalidDataException>(() => Idx.Load(images, labels, ThreeClasses, limit: 2));
    }

    [Fact]
    public void Label_out_of_range_names_the_file()
    {
        using var dir = new TempDir();
        string images = dir["i"], labels = dir["labels-idx1-ubyte"];
        File.WriteAllBytes(images, IdxBytes.Images(2, 1, 1));
        File.WriteAllBytes(labels, IdxBytes.Labels(1, 7));
        var e = Assert.Throws<InvalidDataException>(() => Idx.Load(images, labels, ThreeClasses));
        Assert.StartsWith("labels-idx1-ubyte: label 7", e.Message);
    }

    [Fact]
    public void Wrong_magic_is_rejected()
    {
        using var dir = new TempDir();
        string labels = dir["labels.idx"], images = dir["images.idx"];
        File.WriteAllBytes(labels, IdxBytes.Labels(1, 2));
        File.WriteAllBytes(images, IdxBytes.Images(1, 2, 2));

        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(labels));
        Assert.StartsWith("labels.idx: bad magic 0x00000801, expected 0x00000803", e.Message);
        e = Assert.Throws<InvalidDataException>(() => Idx.ReadLabels(images));
        Assert.StartsWith("images.idx: bad magic 0x00000803, expected 0x00000801", e.Message);

        File.WriteAllBytes(images, IdxBytes.Images(1, 2, 2, magic: 0x00000D03));   // float32 element type
        e = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(images));
        Assert.Contains("not unsigned byte", e.Message);

        File.WriteAllBytes(images, "GIF89a some picture"u8.ToArray());
        e = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(images));
        Assert.Contains("not an IDX file", e.Message);
    }

    [Fact]
    public void Truncated_raw_images_give_exact_message()
    {
        using var dir = new TempDir();
        string path = dir["imgs"];
        File.WriteAllBytes(path, IdxBytes.Images(3, 4, 4)[..^10]);
        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(path));
        Assert.Equal("imgs: truncated: expected 48 bytes of image data, got 38", e.Message);
    }

    [Fact]
    public void Truncated_gzipped_images_give_exact_message()
    {
        using var dir = new TempDir();
        string path = dir["imgs.gz"];
        File.WriteAllBytes(path, IdxBytes.Gzip(IdxBytes.Images(3, 4, 4)[..^10]));
        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(path));
        Assert.Equal("imgs.gz: truncated: expected 48 bytes of image data, got 38", e.Message);
    }

    [Fact]
    public void Truncated_labels_and_headers()
    {
        using var dir = new TempDir();
        string path = dir["labs"];
        File.WriteAllBytes(path, IdxBytes.Labels(1, 2, 0)[..^1]);
        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadLabels(path));
        Assert.Equal("labs: truncated: expected 3 bytes of label data, got 2", e.Message);

        File.WriteAllBytes(path, IdxBytes.Images(1, 2, 2)[..10]);
        e = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(path));
        Assert.StartsWith("labs: truncated: expected a 16-byte IDX header", e.Message);

        File.WriteAllBytes(path, []);
        Assert.Throws<InvalidDataException>(() => Idx.ReadLabels(path));
    }

    [Fact]
    public void Cut_off_gzip_file_is_invalid_data()
    {
        using var dir = new TempDir();
        string path = dir["cut.gz"];
        var rng = new Random(1);
        byte[] gz = IdxBytes.Gzip(IdxBytes.Images(50, 28, 28, _ => (byte)rng.Next(256)));
        File.WriteAllBytes(path, gz[..(gz.Length / 2)]);
        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(path));
        Assert.StartsWith("cut.gz: ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Corrupt_gzip_names_the_file()
    {
        using var dir = new TempDir();
        string path = dir["bad.gz"];
        byte[] gz = IdxBytes.Gzip(IdxBytes.Images(5, 8, 8));
        // First deflate byte: BFINAL=1, BTYPE=11 (reserved), which every inflater rejects.
        gz[10] = 0xFF;
        File.WriteAllBytes(path, gz);

        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(path));
        Assert.StartsWith("bad.gz: corrupt gzip data: ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [InlineData(0, 28, 28)]
    [InlineData(10, 0, 28)]
    [InlineData(10, 28, -3)]
    [InlineData(100000, 100000, 1000)]
    [InlineData(int.MaxValue, int.MaxValue, int.MaxValue)]
    public void Bad_dimensions_are_rejected(int n, int rows, int cols)
    {
        using var dir = new TempDir();
        string path = dir["dims"];
        var header = new byte[16 + 64];
        BinaryPrimitives.WriteInt32BigEndian(header, 0x00000803);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), n);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(8), rows);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(12), cols);
        File.WriteAllBytes(path, header);
        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(path));
        Assert.StartsWith("dims: ", e.Message);
    }

    [Fact]
    public void Lying_count_in_gzip_fails_without_huge_allocation()
    {
        using var dir = new TempDir();
        string path = dir["liar.gz"];
        byte[] raw = IdxBytes.Images(2, 28, 28);
        BinaryPrimitives.WriteInt32BigEndian(raw.AsSpan(4), 1_000_000);   // 784 MB claimed, 1.5 KB present
        File.WriteAllBytes(path, IdxBytes.Gzip(raw));
        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(path));
        Assert.Equal("liar.gz: truncated: expected 784000000 bytes of image data, got 1568", e.Message);
    }

    [Fact]
    public void Missing_file_is_file_not_found()
    {
        using var dir = new TempDir();
        Assert.Throws<FileNotFoundException>(() => Idx.ReadImages(dir["nope"]));
    }
}

/// <summary>IDX files built in memory (the same layout as <see cref="IdxTests"/> writes).</summary>
internal static class IdxBytes
{
    public static byte[] Images(int n, int rows, int cols, Func<int, byte>? pixel = null, int magic = 0x00000803)
    {
        var bytes = new byte[16 + n * rows * cols];
        BinaryPrimitives.WriteInt32BigEndian(bytes, magic);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4), n);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(8), rows);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(12), cols);
        for (int i = 16; i < bytes.Length; i++) bytes[i] = (pixel ?? (j => (byte)(j * 7)))(i - 16);
        return bytes;
    }

    public static byte[] Labels(params byte[] labels)
    {
        var bytes = new byte[8 + labels.Length];
        BinaryPrimitives.WriteInt32BigEndian(bytes, 0x00000801);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4), labels.Length);
        labels.CopyTo(bytes, 8);
        return bytes;
    }

    public static byte[] Gzip(byte[] bytes)
    {
        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Optimal, leaveOpen: true)) gz.Write(bytes);
        return ms.ToArray();
    }
}

public sealed class FashionMnistTests
{
    [Fact]
    public void Class_names_are_the_ten_fashion_mnist_classes()
    {
        Assert.Equal(
            ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
            FashionMnist.ClassNames);
        FashionMnist.ClassNames[0] = "mutated";
        Assert.Equal("T-shirt/top", FashionMnist.ClassNames[0]);
        Assert.StartsWith("Fashion-MNIST not found in /usr/share/datasets/fashion-mnist", FashionMnist.MissingMessage);
    }

    [Fact]
    public void Find_directory_prefers_environment_variable_and_checks_files()
    {
        string? saved = Environment.GetEnvironmentVariable(FashionMnist.EnvironmentVariable);
        try
        {
            using var dir = new TempDir();
            string fallback = FashionMnist.HasFiles(FashionMnist.DefaultDirectory) ? FashionMnist.DefaultDirectory : null!;

            // Incomplete directory: ignored, falls back to the default (or null when that is absent too).
            File.WriteAllBytes(dir[FashionMnist.TrainImagesFile], []);
            Environment.SetEnvironmentVariable(FashionMnist.EnvironmentVariable, dir.Path);
            Assert.Equal(fallback, FashionMnist.FindDirectory());

            foreach (string f in new[] { FashionMnist.TrainLabelsFile, FashionMnist.TestImagesFile, FashionMnist.TestLabelsFile })
                File.WriteAllBytes(dir[f], []);
            Assert.Equal(dir.Path, FashionMnist.FindDirectory());
        }
        finally
        {
            Environment.SetEnvironmentVariable(FashionMnist.EnvironmentVariable, saved);
        }
    }

    /// <summary>The four files of a small 3-image Fashion-MNIST look-alike, each gzipped or not as <paramref name="gzip"/> says, under the usual names (gzipped ones keep .gz).</summary>
    private static void WriteSet(TempDir dir, bool[] gzip, int testRows = 4)
    {
        string[] names = [FashionMnist.TrainImagesFile, FashionMnist.TrainLabelsFile, FashionMnist.TestImagesFile, FashionMnist.TestLabelsFile];
        byte[][] raw = [IdxBytes.Images(3, 4, 5), IdxBytes.Labels(0, 1, 9), IdxBytes.Images(2, testRows, 5), IdxBytes.Labels(2, 3)];
        for (int i = 0; i < 4; i++)
            File.WriteAllBytes(dir[gzip[i] ? names[i] : Path.GetFileNameWithoutExtension(names[i])], gzip[i] ? IdxBytes.Gzip(raw[i]) : raw[i]);
    }

    [Theory]
    [InlineData(false, false, false, false)]
    [InlineData(true, false, true, false)]
    public void Raw_idx_is_found_under_the_gunzipped_names(bool a, bool b, bool c, bool d)
    {
        // README says "gzip or raw": `gunzip *.gz` leaves train-images-idx3-ubyte etc., which used to be "no class sub-folders".
        using var dir = new TempDir();
        WriteSet(dir, [a, b, c, d]);
        Assert.True(FashionMnist.HasFiles(dir.Path));
        Assert.Empty(FashionMnist.MissingFiles(dir.Path));
        var (train, test) = FashionMnist.Load(dir.Path);
        Assert.Equal([3, 1, 4, 5], train.Images.Shape);
        Assert.Equal([0, 1, 9], train.Labels);
        Assert.Equal([2, 3], test.Labels);
    }

    [Fact]
    public void A_partial_idx_folder_names_what_is_missing()
    {
        using var dir = new TempDir();
        WriteSet(dir, [false, false, false, false]);
        File.Delete(dir["t10k-labels-idx1-ubyte"]);
        Assert.False(FashionMnist.HasFiles(dir.Path));
        Assert.Equal([FashionMnist.TestLabelsFile], FashionMnist.MissingFiles(dir.Path));
        Assert.Empty(FashionMnist.MissingFiles(Directory.CreateDirectory(dir["empty"]).FullName));
    }

    [Fact]
    public void A_test_set_of_another_image_size_fails_before_any_training()
    {
        // It used to fail only when the test accuracy was computed, after every epoch.
        using var dir = new TempDir();
        WriteSet(dir, [true, true, true, true], testRows: 6);
        var e = Assert.Throws<InvalidDataException>(() => FashionMnist.Load(dir.Path));
        Assert.Contains("6x5 images", e.Message);
        Assert.Contains("4x5", e.Message);
    }

    [Fact]
    public void Load_from_missing_directory_is_file_not_found()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<FileNotFoundException>(() => FashionMnist.Load(dir.Path));
        Assert.Contains(FashionMnist.TrainImagesFile, e.Message);
    }

    [InstalledFashionMnistFact] // skipped (not passed) without the Debian package dataset-fashion-mnist
    public void Installed_dataset_loads()
    {
        string dir = FashionMnist.DefaultDirectory;

        var labels = Idx.ReadLabels(Path.Combine(dir, FashionMnist.TestLabelsFile), limit: 100);
        Assert.Equal(100, labels.Length);
        Assert.All(labels, l => Assert.InRange(l, 0, 9));
        Assert.True(labels.Distinct().Count() > 5, "the first 100 test labels should cover most classes");

        var (train, test) = FashionMnist.Load(dir, testLimit: 500);
        Assert.Equal(60000, train.Count);
        Assert.Equal([60000, 1, 28, 28], train.Images.Shape);
        Assert.Equal(500, test.Count);
        Assert.Equal(labels, test.Labels[..100]);
        Assert.All(train.Images.Data[..(28 * 28 * 10)], v => Assert.InRange(v, 0f, 1f));
        Assert.Contains(train.Images.Data[..(28 * 28)], v => v > 0.5f);
        Assert.Equal(FashionMnist.ClassNames, train.ClassNames);
    }
}
