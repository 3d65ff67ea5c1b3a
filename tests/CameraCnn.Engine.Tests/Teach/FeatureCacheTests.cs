// FeatureCacheTests: cached features survive a save and load bit for bit; a file of another backbone, a truncated,
// foreign or lying file is refused whole with one line (and never makes the loader allocate what the header claims);
// a failed save leaves the previous file.
using System.Text;
using CameraCnn.Engine.Teach;

namespace CameraCnn.Engine.Tests.Teach;

public sealed class FeatureCacheTests : IDisposable
{
    private readonly TempDir _dir = new("camcnn-feature-cache");

    public void Dispose() => _dir.Dispose();

    private static FeatureCache Filled(int entries, int dim = 8)
    {
        var cache = new FeatureCache("tiny", dim);
        for (int e = 0; e < entries; e++)
            cache.Set($"frame_{e:D6}.png|1234|{e}", Enumerable.Range(0, dim).Select(j => e * 0.5f - j * 1e-3f).ToArray());
        return cache;
    }

    [Fact]
    public void The_file_is_bounded_and_the_report_says_what_it_holds()
    {
        // 50 entries of 8 floats and a ~20-byte key each are ~2.6 KB; a 1 KB bound keeps the first entries by key and
        // says how many stayed in memory only (augmented copies would go first).
        var cache = Filled(50);
        cache.Set("frame_000000.png|1234|0#aug1", new float[8]);
        var bounded = new FeatureCache("tiny", 8) { MaxFileBytes = 1024 };
        var key = new float[8];
        foreach (int e in Enumerable.Range(0, 50)) { cache.TryGet($"frame_{e:D6}.png|1234|{e}", key); bounded.Set($"frame_{e:D6}.png|1234|{e}", key); }
        bounded.Set("frame_000000.png|1234|0#aug1", new float[8]);
        string path = _dir["bounded.bin"];
        var report = bounded.Save(path);
        Assert.True(new FileInfo(path).Length <= 1024, $"{new FileInfo(path).Length} bytes");
        Assert.Equal(new FileInfo(path).Length, report.Bytes);
        Assert.Equal(51, report.Entries + report.LeftOut);
        Assert.True(report.LeftOut > 0);
        var back = FeatureCache.Load(path, "tiny", 8);
        Assert.Equal(report.Entries, back.Count);
        Assert.False(back.Contains("frame_000000.png|1234|0#aug1")); // the augmented copy went first
        Assert.True(back.Contains("frame_000000.png|1234|0"));

        var whole = cache.Save(_dir["whole.bin"]);
        Assert.Equal((51, 0, new FileInfo(_dir["whole.bin"]).Length), (whole.Entries, whole.LeftOut, whole.Bytes));
    }

    [Fact]
    public void Saved_features_load_back_exactly()
    {
        var cache = Filled(50);
        string path = _dir["f.bin"];
        cache.Save(path);
        var back = FeatureCache.Load(path, "tiny", 8);
        Assert.Equal(50, back.Count);
        var a = new float[8];
        var b = new float[8];
        for (int e = 0; e < 50; e++)
        {
            string key = $"frame_{e:D6}.png|1234|{e}";
            Assert.True(cache.TryGet(key, a));
            Assert.True(back.TryGet(key, b));
            Assert.Equal(a, b);
        }
        Assert.False(back.TryGet("missing", b));
        Assert.Equal(0, FeatureCache.Load(_dir["none.bin"], "tiny", 8).Count); // no file: an empty cache

        Assert.Equal(40, back.Prune(k => k.StartsWith("frame_00000", StringComparison.Ordinal))); // keeps frames 0..9
        Assert.Equal(10, back.Count);
        Assert.True(back.Remove("frame_000003.png|1234|3"));
        Assert.False(back.Contains("frame_000003.png|1234|3"));
    }

    [Fact]
    public void Files_of_another_backbone_or_broken_files_are_refused_with_one_line()
    {
        string path = _dir["f.bin"];
        Filled(3).Save(path);
        Assert.Contains("'tiny'", Assert.Throws<InvalidDataException>(() => FeatureCache.Load(path, "resnet18", 8)).Message);
        Assert.Contains("8 values", Assert.Throws<InvalidDataException>(() => FeatureCache.Load(path, "tiny", 16)).Message);

        byte[] good = File.ReadAllBytes(path);
        File.WriteAllBytes(path, good[..^5]);
        Assert.Contains("truncated", Assert.Throws<InvalidDataException>(() => FeatureCache.Load(path, "tiny", 8)).Message);
        File.WriteAllBytes(path, [.. good, 1, 2, 3]);
        Assert.Contains("after the last entry", Assert.Throws<InvalidDataException>(() => FeatureCache.Load(path, "tiny", 8)).Message);
        var junk = new byte[4000];
        new Random(3).NextBytes(junk);
        File.WriteAllBytes(path, junk);
        Assert.Contains("not a camcnn feature cache", Assert.Throws<InvalidDataException>(() => FeatureCache.Load(path, "tiny", 8)).Message);
        File.WriteAllBytes(path, Encoding.UTF8.GetBytes("PNG, not features"));
        Assert.Throws<InvalidDataException>(() => FeatureCache.Load(path, "tiny", 8));

        // A header claiming a billion entries in a small file: refused before anything that size is allocated.
        using (var w = new BinaryWriter(File.Create(path)))
        {
            w.Write("CCNNFEAT"u8.ToArray());
            w.Write(1);
            w.Write("tiny");
            w.Write(8);
            w.Write(1_000_000_000);
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Contains("do not fit", Assert.Throws<InvalidDataException>(() => FeatureCache.Load(path, "tiny", 8)).Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 10_000_000);
    }

    [Fact]
    public void A_save_that_fails_leaves_the_previous_file()
    {
        string path = _dir["f.bin"];
        Filled(3).Save(path);
        byte[] before = File.ReadAllBytes(path);
        Assert.Throws<IOException>(() => Filled(5).Save(Path.Combine(_dir["gone"], "f.bin")));
        Directory.CreateDirectory(_dir["dir.bin"]);
        Assert.Throws<IOException>(() => Filled(5).Save(_dir["dir.bin"]));
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Empty(Directory.GetFiles(_dir.Path, "*.tmp", SearchOption.AllDirectories));
    }
}
