// OutputWriterTests: every file camcnn writes goes through the one output rule, checked per writer from the command
// line: the model (train --out), the .npy outputs (infer), the stats (run --stats-json), recorded frames (collect) and
// the feature cache (train --backbone), each against a full disk (a tmpfs filled up), a read-only folder, an existing
// FIFO or device in the way and a symbolic link. The screenshot is in HostileWindowTests, the rule itself in
// Engine.Tests' OutputRuleTests.
using CameraCnn.App.Tests.Infrastructure;
using CameraCnn.App.Tests.Teach;
using CameraCnn.Engine;
using CameraCnn.Engine.Data;
using CameraCnn.Engine.Models;
using CameraCnn.Tests.Shared;
using Xunit.Abstractions;

namespace CameraCnn.App.Tests;

[Collection(TrainingCollection.Name)] // child processes that train: one after another with the other trainings
public sealed class OutputWriterTests(ITestOutputHelper output) : CliTest(output, "camcnn-writers")
{
    private static readonly byte[] Previous = "the previous file, which must survive"u8.ToArray();

    private string Classifier() => TestData.Classifier(Dir["classifier.onnx"], 8, TestData.ShapeClasses);

    private string Shapes()
    {
        string path = Dir["shapes"];
        if (!Directory.Exists(path)) TestData.WriteShapesFolder(path, 3, 8, seed: 1);
        return path;
    }

    /// <summary>A 256 KB tmpfs on <paramref name="name"/> holding <paramref name="files"/>, the rest filled up: no byte more fits.</summary>
    private SpecialFiles.Mount FullDisk(string name, params (string Name, byte[] Bytes)[] files)
    {
        string disk = Dir.Sub(name);
        var mount = SpecialFiles.MountTmpfs(disk, 256);
        foreach (var (file, bytes) in files)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(disk, file))!);
            File.WriteAllBytes(Path.Combine(disk, file), bytes);
        }
        SpecialFiles.FillUp(disk);
        return mount;
    }

    private static string[] Entries(string dir) => Directory.GetFileSystemEntries(dir).Select(Path.GetFileName).Order().ToArray()!;

    // ---- the model ----------------------------------------------------------------------------------------------------

    [NeedsFact(Need.Mount)]
    public void Model_on_a_full_disk_fails_after_training_with_one_line_and_the_previous_model_survives()
    {
        using var disk = FullDisk("disk", ("m.onnx", Previous));
        var r = Run("train", "--data", Shapes(), "--input-size", "8", "--epochs", "1", "--out", Path.Combine(disk.Directory, "m.onnx"));
        CliAssert.FailedCleanly(r, 1, progressNotesAllowed: true, "m.onnx", "No space left on device");
        Assert.Equal(Previous, File.ReadAllBytes(Path.Combine(disk.Directory, "m.onnx")));
        Assert.Equal(["filler", "m.onnx"], Entries(disk.Directory));
    }

    [NeedsFact(Need.ReadOnlyFolder)]
    public void Model_into_a_read_only_folder_is_refused_before_training()
    {
        string ro = Dir.Sub("ro");
        using (SpecialFiles.ReadOnlyFolder(ro, new Dictionary<string, byte[]> { ["m.onnx"] = Previous }))
        {
            var r = Run("train", "--data", Shapes(), "--input-size", "8", "--epochs", "1", "--out", Path.Combine(ro, "m.onnx"));
            CliAssert.Error(r, "cannot write --out");
            Assert.Equal(Previous, File.ReadAllBytes(Path.Combine(ro, "m.onnx")));
        }
    }

    [Fact]
    public void Model_through_a_symlink_is_written_to_its_target()
    {
        File.WriteAllBytes(Dir["real.onnx"], Previous);
        File.CreateSymbolicLink(Dir["m.onnx"], Dir["real.onnx"]);
        CliAssert.Succeeded(Run("train", "--data", Shapes(), "--input-size", "8", "--epochs", "1", "--out", "m.onnx"));
        Assert.Equal(Dir["real.onnx"], new FileInfo(Dir["m.onnx"]).LinkTarget);
        Assert.Equal(TestData.ShapeClasses, Model.Load(Dir["real.onnx"]).Labels);
    }

    // ---- infer's .npy files -------------------------------------------------------------------------------------------

    private string Input()
    {
        string path = Dir["x.npy"];
        if (!File.Exists(path)) Npy.Write(path, new Tensor(1, 3, 8, 8));
        return path;
    }

    [NeedsFact(Need.Mount)]
    public void Npy_on_a_full_disk_fails_with_one_line_and_the_previous_output_survives()
    {
        using var disk = FullDisk("disk", ("probabilities.npy", Previous));
        var r = Run("infer", "--model", Classifier(), "--input", Input(), "--output-dir", disk.Directory);
        CliAssert.Error(r, "probabilities.npy", "No space left on device");
        Assert.Equal(Previous, File.ReadAllBytes(Path.Combine(disk.Directory, "probabilities.npy")));
        Assert.Equal(["filler", "probabilities.npy"], Entries(disk.Directory));
    }

    [NeedsFact(Need.ReadOnlyFolder)]
    public void Npy_into_a_read_only_folder_fails_with_one_line()
    {
        string ro = Dir.Sub("ro");
        using (SpecialFiles.ReadOnlyFolder(ro, new Dictionary<string, byte[]> { ["probabilities.npy"] = Previous }))
        {
            CliAssert.Error(Run("infer", "--model", Classifier(), "--input", Input(), "--output-dir", ro), "cannot write", "probabilities.npy");
            Assert.Equal(Previous, File.ReadAllBytes(Path.Combine(ro, "probabilities.npy")));
        }
    }

    [NeedsFact(Need.Fifo)]
    public void Npy_over_a_fifo_is_refused_and_through_a_symlink_written_to_its_target()
    {
        string outDir = Dir.Sub("out");
        SpecialFiles.MakeFifo(Path.Combine(outDir, "probabilities.npy"));
        CliAssert.Error(Run("infer", "--model", Classifier(), "--input", Input(), "--output-dir", "out"), "probabilities.npy", "FIFO");
        Assert.Equal("fifo", SpecialFiles.TypeOf(Path.Combine(outDir, "probabilities.npy")));

        File.Delete(Path.Combine(outDir, "probabilities.npy"));
        File.WriteAllBytes(Dir["kept.npy"], Previous);
        File.CreateSymbolicLink(Path.Combine(outDir, "probabilities.npy"), Dir["kept.npy"]);
        CliAssert.Succeeded(Run("infer", "--model", Classifier(), "--input", Input(), "--output-dir", "out"));
        Assert.Equal([1, 3], Npy.Read(Dir["kept.npy"]).Shape);
    }

    [NeedsFact(Need.DeviceNode)]
    public void Npy_over_a_device_node_is_refused()
    {
        string outDir = Dir.Sub("out");
        Assert.True(SpecialFiles.TryMakeNullDevice(Path.Combine(outDir, "probabilities.npy")));
        CliAssert.Error(Run("infer", "--model", Classifier(), "--input", Input(), "--output-dir", "out"), "character device");
        Assert.Equal("character special file", SpecialFiles.TypeOf(Path.Combine(outDir, "probabilities.npy")));
    }

    // ---- run's stats --------------------------------------------------------------------------------------------------

    [NeedsFact(Need.Mount)]
    public void Stats_on_a_full_disk_fail_with_one_line_and_the_previous_file_survives()
    {
        using var disk = FullDisk("disk", ("stats.json", Previous));
        string stats = Path.Combine(disk.Directory, "stats.json");
        var r = Run("run", "--headless", "--model", Classifier(), "--source", "synthetic", "--frames", "2", "--stats-json", stats);
        CliAssert.FailedCleanly(r, 1, progressNotesAllowed: true, "stats.json", "No space left on device");
        Assert.Equal(Previous, File.ReadAllBytes(stats));
    }

    [NeedsFact(Need.ReadOnlyFolder)]
    public void Stats_into_a_read_only_folder_are_refused_before_the_run()
    {
        string ro = Dir.Sub("ro");
        using (SpecialFiles.ReadOnlyFolder(ro, new Dictionary<string, byte[]>()))
            CliAssert.Error(Run("run", "--headless", "--model", Classifier(), "--source", "synthetic", "--frames", "2", "--stats-json",
                Path.Combine(ro, "stats.json")), "cannot write --stats-json");
    }

    [NeedsFact(Need.DeviceNode)]
    public void Stats_over_a_device_node_are_refused_before_the_run()
    {
        Assert.True(SpecialFiles.TryMakeNullDevice(Dir["stats.json"]));
        CliAssert.Error(Run("run", "--headless", "--model", Classifier(), "--source", "synthetic", "--frames", "2", "--stats-json", "stats.json"),
            "--stats-json", "character device");
    }

    // ---- collect's frames ---------------------------------------------------------------------------------------------

    [NeedsFact(Need.Mount)]
    public void Frames_on_a_full_disk_stop_with_one_line_and_the_earlier_frames_stay()
    {
        using var disk = FullDisk("disk", ("x/x_000001.png", Previous));
        var r = Run("collect", "--source", "synthetic", "--class", "x", "--data", disk.Directory, "--frames", "3");
        CliAssert.FailedCleanly(r, 1, progressNotesAllowed: true, "No space left on device", "stopped after saving 0 frame(s)");
        Assert.Equal(["x_000001.png"], Entries(Path.Combine(disk.Directory, "x"))); // no temp file left
        Assert.Equal(Previous, File.ReadAllBytes(Path.Combine(disk.Directory, "x", "x_000001.png")));
    }

    [NeedsFact(Need.ReadOnlyFolder)]
    public void Frames_into_a_read_only_folder_fail_with_one_line()
    {
        string ro = Dir.Sub("ro");
        using (SpecialFiles.ReadOnlyFolder(ro, new Dictionary<string, byte[]>()))
            CliAssert.Error(Run("collect", "--source", "synthetic", "--class", "x", "--data", ro, "--frames", "1"), "cannot use", ro);
    }

    [NeedsFact(Need.Fifo)]
    public void Frames_never_replace_a_fifo_or_a_link_in_the_way_they_take_the_next_number()
    {
        string cls = Dir.Sub("data/x");
        SpecialFiles.MakeFifo(Path.Combine(cls, "x_000001.png"));
        File.CreateSymbolicLink(Path.Combine(cls, "x_000002.png"), Dir["elsewhere.png"]);
        CliAssert.Succeeded(Run("collect", "--source", "synthetic", "--class", "x", "--data", "data", "--frames", "1"));
        Assert.Equal(["x_000001.png", "x_000002.png", "x_000003.png"], Entries(cls));
        Assert.Equal("fifo", SpecialFiles.TypeOf(Path.Combine(cls, "x_000001.png")));
        Assert.False(File.Exists(Dir["elsewhere.png"]));
    }

    // ---- the feature cache --------------------------------------------------------------------------------------------

    [NeedsFact(Need.Mount)]
    public void A_cache_that_does_not_fit_costs_a_warning_not_the_model()
    {
        using var disk = SpecialFiles.MountTmpfs(Dir.Sub("disk"), 2048);
        for (int k = 0; k < 2; k++)
            TeachKit.WriteFolder(disk.Directory, TeachKit.SceneNames[k], Enumerable.Range(0, 4).Select(t => TeachKit.RenderFrame(k, t, 1)));
        SpecialFiles.FillUp(disk.Directory, ".filler");
        string backbone = Dir["tiny.onnx"];
        TeachKit.TinyBackbone().Save(backbone);
        var r = Run("train", "--data", disk.Directory, "--backbone", backbone, "--out", "m.onnx");
        CliAssert.Succeeded(r);
        Assert.Contains("features not cached for the next run", r.Stderr);
        Assert.Contains("No space left on device", r.Stderr);
        Assert.True(File.Exists(Dir["m.onnx"]));
        Assert.Empty(Directory.GetFiles(disk.Directory, ".camcnn-features-*"));
    }
}
