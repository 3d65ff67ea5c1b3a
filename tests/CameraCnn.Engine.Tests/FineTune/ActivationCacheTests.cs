// ActivationCacheTests: the activation cache file: values back bit for bit before and after a commit and a reopen,
// entries of deleted frames pruned, a file of another backbone, cut or shape (or a truncated one) refused whole, nothing
// written when nothing changed, no temp file left behind, and the memory budget deciding between memory and disk.
using CameraCnn.Engine.Teach;
using CameraCnn.Engine.Tests.Formats;

namespace CameraCnn.Engine.Tests.FineTune;

public sealed class ActivationCacheTests
{
    private static readonly int[] Shape = [2, 3, 3];

    private static float[] Values(int seed) => Enumerable.Range(0, 18).Select(i => seed * 100 + i + 0.25f).ToArray();

    private static float[] Read(ActivationCache cache, string key)
    {
        var v = new float[cache.Dimension];
        Assert.True(cache.TryRead(key, v), $"'{key}' is missing");
        return v;
    }

    [Fact]
    public void Entries_survive_a_commit_and_a_reopen_bit_for_bit()
    {
        using var dir = new TempDir();
        string path = dir[ActivationCache.FileName("resnet18", "ReLU365_Output_0")];
        using (var cache = ActivationCache.Open(path, "resnet18", "ReLU365_Output_0", Shape))
        {
            Assert.Equal(0, cache.Count);
            cache.Set("a.png|1|2", Values(1));
            cache.Set("b.png|1|2", Values(2));
            Assert.Equal(Values(1), Read(cache, "a.png|1|2")); // readable before the commit
            Assert.False(File.Exists(path));
            cache.Commit();
            Assert.True(File.Exists(path));
            Assert.Equal(Values(2), Read(cache, "b.png|1|2"));
            cache.Set("c.png|1|2", Values(3)); // after a commit, into a new file
            cache.Commit();
        }
        Assert.Equal([System.IO.Path.GetFileName(path)], dir.Entries()); // no temp file left
        using var reopened = ActivationCache.Open(path, "resnet18", "ReLU365_Output_0", Shape);
        Assert.Equal(3, reopened.Count);
        for (int i = 1; i <= 3; i++) Assert.Equal(Values(i), Read(reopened, $"{(char)('a' + i - 1)}.png|1|2"));
    }

    [Fact]
    public void Commit_prunes_rejected_entries_and_writes_nothing_when_nothing_changed()
    {
        using var dir = new TempDir();
        string path = dir["acts.bin"];
        using (var cache = ActivationCache.Create(path, "b", "cut", Shape))
        {
            for (int i = 0; i < 4; i++) cache.Set($"k{i}", Values(i));
            Assert.Equal(0, cache.Commit());
        }
        var written = File.GetLastWriteTimeUtc(path);
        long length = new FileInfo(path).Length;
        using (var cache = ActivationCache.Open(path, "b", "cut", Shape))
        {
            Assert.Equal(0, cache.Commit(_ => true));
            Assert.Equal(written, File.GetLastWriteTimeUtc(path));
            Assert.Equal(2, cache.Commit(k => k is "k1" or "k3"));
            Assert.False(cache.Contains("k0"));
            Assert.Equal(Values(3), Read(cache, "k3"));
        }
        Assert.True(new FileInfo(path).Length < length);
        using var reopened = ActivationCache.Open(path, "b", "cut", Shape);
        Assert.Equal(2, reopened.Count);
        Assert.Equal(Values(1), Read(reopened, "k1"));
    }

    [Fact]
    public void A_cache_disposed_without_a_commit_leaves_the_old_file_as_it_was()
    {
        using var dir = new TempDir();
        string path = dir["acts.bin"];
        using (var cache = ActivationCache.Create(path, "b", "cut", Shape))
        {
            cache.Set("old", Values(1));
            cache.Commit();
        }
        byte[] before = File.ReadAllBytes(path);
        using (var cache = ActivationCache.Open(path, "b", "cut", Shape))
            cache.Set("new", Values(2)); // e.g. the run failed later: no commit
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(["acts.bin"], dir.Entries());
    }

    [Theory]
    [InlineData("other", "cut", new[] { 2, 3, 3 }, "backbone 'other'")]
    [InlineData("b", "other", new[] { 2, 3, 3 }, "at 'other'")]
    [InlineData("b", "cut", new[] { 2, 9 }, "[2x9]")]
    public void A_file_of_another_backbone_cut_or_shape_is_refused(string backbone, string cut, int[] shape, string named)
    {
        using var dir = new TempDir();
        string path = dir["acts.bin"];
        using (var cache = ActivationCache.Create(path, backbone, cut, shape))
        {
            cache.Set("k", new float[cache.Dimension]);
            cache.Commit();
        }
        var e = Assert.Throws<InvalidDataException>(() => ActivationCache.Open(path, "b", "cut", Shape));
        Assert.Contains(named, e.Message);
    }

    [Fact]
    public void A_truncated_or_foreign_file_is_refused()
    {
        using var dir = new TempDir();
        string path = dir["acts.bin"];
        using (var cache = ActivationCache.Create(path, "b", "cut", Shape))
        {
            cache.Set("k", Values(1));
            cache.Commit();
        }
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^5]);
        Assert.Contains("truncated", Assert.Throws<InvalidDataException>(() => ActivationCache.Open(path, "b", "cut", Shape)).Message);
        File.WriteAllBytes(path, [.. bytes, 1, 2, 3]);
        Assert.Contains("after its last entry", Assert.Throws<InvalidDataException>(() => ActivationCache.Open(path, "b", "cut", Shape)).Message);
        File.WriteAllText(path, "not a cache at all, just text");
        Assert.Contains("not a camcnn activation cache", Assert.Throws<InvalidDataException>(() => ActivationCache.Open(path, "b", "cut", Shape)).Message);
    }

    [Fact]
    public void The_budget_decides_between_memory_and_disk_and_both_read_the_same()
    {
        using var dir = new TempDir();
        using var cache = ActivationCache.Create(null, "b", "cut", Shape); // never saved: a temp file of its own
        string[] keys = ["x", "y", "z"];
        for (int i = 0; i < keys.Length; i++) cache.Set(keys[i], Values(i));
        Assert.False(cache.HoldInMemory(keys, 3 * cache.EntryBytes - 1));
        Assert.False(cache.InMemory);
        Assert.Equal(Values(1), Read(cache, "y"));
        Assert.True(cache.HoldInMemory(keys, 3 * cache.EntryBytes));
        Assert.True(cache.InMemory);
        Assert.Equal(Values(2), Read(cache, "z"));
        Assert.Equal(0, cache.Commit()); // no path: nothing to commit to
        Assert.Empty(dir.Entries());
    }
}
