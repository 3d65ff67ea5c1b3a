// TeachDatasetTests: the on-disk teach data set: recording, counts, delete-last, rename (the folder moves, the number
// stays, across reopening), folders from elsewhere, foreign and corrupt files skipped with a count, a bad manifest, and
// a full disk that stops with a message while every sample saved before stays.
using CameraCnn.Engine.Teach;
using CameraCnn.Vision;
using CameraCnn.Tests.Shared;
using CameraCnn.Vision.Teach;
using OpenCvSharp;

namespace CameraCnn.Vision.Tests.Teach;

public sealed class TeachDatasetTests : IDisposable
{
    private readonly TempDir _dir = new("camcnn-teach-data");

    public void Dispose() => _dir.Dispose();

    private static Mat Frame(int scene, int t) => TeachKit.RenderFrame(scene, t, seed: 1);

    [Fact]
    public void Records_count_delete_the_last_and_reopen_extended()
    {
        string root = _dir["data"];
        var ds = TeachDataset.Open(root);
        Assert.Empty(ds.Classes);
        for (int t = 0; t < 3; t++)
        {
            using var a = Frame(0, t);
            ds.Add(0, a);
        }
        using (var b = Frame(1, 0)) ds.Add(2, b); // key 3 first: class 3 exists, key 2 does not
        Assert.Equal([(0, "class1", 3), (2, "class3", 1)], ds.Classes.Select(c => (c.Index, c.Name, c.Count)));
        Assert.True(File.Exists(Path.Combine(root, TeachDataset.ManifestFileName)));

        var last = ds.DeleteLast();
        Assert.NotNull(last);
        Assert.Equal(2, last.ClassIndex);
        Assert.False(File.Exists(last.Path));
        Assert.Equal(0, ds.Class(2)!.Count);
        Assert.Equal(0, ds.DeleteLast()!.ClassIndex); // then the newest of class 1 (index 0)
        Assert.Equal(2, ds.Class(0)!.Count);
        var newest = ds.SamplesOf(0)[^1];

        var again = TeachDataset.Open(root);
        Assert.Equal([(0, "class1", 2), (2, "class3", 0)], again.Classes.Select(c => (c.Index, c.Name, c.Count)));
        Assert.Equal(newest.Key, again.SamplesOf(0)[^1].Key); // recording order and keys survive reopening
        Assert.Null(again.DeleteLast()); // nothing recorded by this instance yet
        using (var c = Frame(0, 9)) again.Add(0, c);
        var names = again.SamplesOf(0).Select(s => Path.GetFileName(s.Path)).ToArray();
        // Numbering goes on after the highest file there; the deleted 000003's name is free again, and its new content
        // gets a new cache key (name, size and write time), so stale features cannot be picked up.
        Assert.Equal(["class1_000001.png", "class1_000002.png", "class1_000003.png"], names);
    }

    [Fact]
    public void Prune_cache_drops_deleted_and_replaced_frames_with_their_augmented_copies_only()
    {
        string root = _dir["data"];
        var ds = TeachDataset.Open(root);
        for (int t = 0; t < 3; t++)
        {
            using var f = Frame(0, t);
            ds.Add(0, f);
        }
        var samples = ds.Samples();
        var cache = new Engine.Teach.FeatureCache("tiny", 2);
        foreach (var s in samples)
        {
            cache.Set(s.Key, [1, 2]);
            cache.Set(TeachFeatures.AugmentedKey(s.Key, 1), [3, 4]);
        }
        cache.Set("gone.png|10|1", [0, 0]);
        cache.Set("gone.png|10|1#aug2", [0, 0]);
        cache.Set("odd#name.png|10|1", [0, 0]); // a '#' in a file name is not an augmented copy
        Assert.Equal(3, TeachFeatures.PruneCache(ds, cache));
        Assert.Equal(6, cache.Count);
        ds.DeleteLast();
        Assert.Equal(2, TeachFeatures.PruneCache(ds, cache)); // the frame and its copy
        Assert.True(cache.Contains(TeachFeatures.AugmentedKey(samples[0].Key, 1)));
    }

    [NeedsFact(Need.Fifo)]
    public void Nested_images_are_counted_and_special_files_are_foreign()
    {
        string root = _dir["data"];
        Directory.CreateDirectory(Path.Combine(root, "cat", "more"));
        using (var f = Frame(0, 0))
        {
            Cv2.ImWrite(Path.Combine(root, "cat", "1.png"), f);
            Cv2.ImWrite(Path.Combine(root, "cat", "more", "2.png"), f);
        }
        SpecialFiles.MakeFifo(Path.Combine(root, "cat", "pipe.png")); // would block a reader
        var ds = TeachDataset.Open(root);
        Assert.Equal(1, ds.Class(0)!.Count);
        Assert.Equal(1, ds.NestedImages);
        Assert.Contains(ds.Warnings, w => w.Contains("ignored 1 image(s) in folders below class folder cat"));
        Assert.Equal([Path.Combine(ds.Directory, "cat", "pipe.png")], ds.ForeignFilePaths);
    }

    [Fact]
    public void Rename_moves_the_folder_keeps_the_number_and_survives_reopening()
    {
        string root = _dir["data"];
        var ds = TeachDataset.Open(root);
        for (int k = 0; k < 2; k++)
            for (int t = 0; t < 2; t++)
            {
                using var f = Frame(k, t);
                ds.Add(k, f);
            }
        string key = ds.SamplesOf(0)[0].Key;
        // "zebra" sorts after "class2": without the manifest the order would flip.
        Assert.Equal("zebra", ds.Rename(0, "zebra").Name);
        Assert.Equal("my_cup", ds.Rename(1, "my cup").Name); // sanitised for a folder
        Assert.True(Directory.Exists(Path.Combine(root, "zebra")));
        Assert.False(Directory.Exists(Path.Combine(root, "class1")));
        Assert.All(ds.SamplesOf(0), s => Assert.True(File.Exists(s.Path)));
        Assert.Equal(key, ds.SamplesOf(0)[0].Key); // cached features stay valid

        Assert.Throws<ArgumentException>(() => ds.Rename(1, "Zebra"));
        Assert.Throws<ArgumentException>(() => ds.Rename(1, "../.."));
        Assert.Throws<KeyNotFoundException>(() => ds.Rename(7, "x"));

        using (var f = Frame(0, 5)) ds.Add(0, f);
        var reopened = TeachDataset.Open(root);
        Assert.Equal([(0, "zebra", 3), (1, "my_cup", 2)], reopened.Classes.Select(c => (c.Index, c.Name, c.Count)));
        Assert.Contains("zebra_000001.png", reopened.SamplesOf(0).Select(s => Path.GetFileName(s.Path)));
    }

    [Fact]
    public void Folders_from_elsewhere_foreign_and_corrupt_files_and_a_bad_manifest_are_handled()
    {
        string root = _dir["data"];
        TestData.WriteShapesFolder(root, perClass: 3, size: 24, seed: 1); // circles, rectangles, stripes: no manifest
        File.WriteAllText(Path.Combine(root, "circles", "notes.txt"), "not an image");
        File.WriteAllBytes(Path.Combine(root, "stripes", "broken.png"), TestData.RandomBytes(300, 2));
        Directory.CreateDirectory(Path.Combine(root, ".hidden"));
        File.WriteAllText(Path.Combine(root, "readme.md"), "top-level files are not classes");

        var ds = TeachDataset.Open(root);
        Assert.Equal(["circles", "rectangles", "stripes"], ds.Classes.Select(c => c.Name));
        Assert.Equal([0, 1, 2], ds.Classes.Select(c => c.Index));
        Assert.Equal(1, ds.ForeignFiles);
        Assert.Equal(4, ds.Class(2)!.Count); // the corrupt PNG is found out when its features are computed

        using var extractor = new FeatureExtractor(TeachKit.TinyBackbone());
        var cache = new FeatureCache("tiny", extractor.Dimension);
        var (data, report) = TeachFeatures.Collect(ds.Classes, ds.Samples(), extractor, cache);
        Assert.Equal(1, report.Skipped);
        Assert.EndsWith("broken.png", report.Unreadable[0]);
        Assert.Equal(9, data.Count);
        Assert.Equal(9, report.Computed);
        var (_, second) = TeachFeatures.Collect(ds.Classes, ds.Samples(), extractor, cache);
        Assert.Equal(0, second.Computed); // computed once, cached
        Assert.Equal(9, second.Cached);

        File.WriteAllText(Path.Combine(root, TeachDataset.ManifestFileName), "{ not json");
        var withBadManifest = TeachDataset.Open(root);
        Assert.Contains(withBadManifest.Warnings, w => w.Contains("ignored"));
        Assert.Equal(3, withBadManifest.Classes.Count);
        Assert.Throws<IOException>(() => TeachDataset.Open(Path.Combine(root, "readme.md")));
        Assert.Throws<DirectoryNotFoundException>(() => TeachDataset.Open(_dir["missing"], create: false));
    }

    [Fact]
    public void A_full_disk_fails_the_write_with_a_message_and_keeps_every_earlier_sample()
    {
        string root = _dir["data"];
        var ds = TeachDataset.Open(root);
        for (int t = 0; t < 3; t++)
        {
            using var f = Frame(0, t);
            ds.Add(0, f);
        }
        var before = ds.SamplesOf(0).Select(s => (s.Path, File.ReadAllBytes(s.Path))).ToArray();
        ds.OpenTempFile = p => new FullDiskStream(p);
        ds.Rename(0, "cups"); // a new writer picks the hook up
        using (var f = Frame(0, 3))
        {
            var e = Assert.Throws<IOException>(() => ds.Add(0, f));
            Assert.Contains("No space left on device", e.Message);
        }
        Assert.Equal(3, ds.Class(0)!.Count);
        foreach (var (path, bytes) in before)
            Assert.Equal(bytes, File.ReadAllBytes(Path.Combine(root, "cups", Path.GetFileName(path))));
        Assert.Empty(Directory.GetFiles(root, "*.tmp", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }));
    }
}
