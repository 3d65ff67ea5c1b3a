// TeachCliTests: `camcnn train --backbone` on bad and awkward folders, with a tiny backbone saved as ONNX so each run
// takes a second: corrupt and foreign files skipped with a count, an empty class left out, the JSON contract, a second
// run served from the feature cache, eval on the result, and one-line errors for one class, a missing folder, a
// missing backbone and options that do not apply.
using CameraCnn.App.Tests.Infrastructure;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Teach;
using Xunit.Abstractions;

namespace CameraCnn.App.Tests.Teach;

public sealed class TeachCliTests(ITestOutputHelper output) : CliTest(output, "camcnn-teach-cli")
{
    private string TinyBackboneFile()
    {
        string path = Dir["tiny.onnx"];
        if (!File.Exists(path)) TeachKit.TinyBackbone().Save(path);
        return path;
    }

    /// <summary>data/&lt;scene&gt;/NNNN.png from the synthetic scenes (frames 0..n-1 of seed 1).</summary>
    private string Scenes(string name, int perClass, int classes = 3)
    {
        string root = Dir[name];
        for (int k = 0; k < classes; k++)
            TeachKit.WriteFolder(root, TeachKit.SceneNames[k], Enumerable.Range(0, perClass).Select(t => TeachKit.RenderFrame(k, t, seed: 1)));
        return root;
    }

    [Fact]
    public void Corrupt_and_foreign_files_are_skipped_with_a_count_and_an_empty_class_is_left_out()
    {
        string data = Scenes("data", 12);
        File.WriteAllBytes(Path.Combine(data, "green_square", "corrupt.png"), TestData.RandomBytes(500, 1));
        File.WriteAllText(Path.Combine(data, "red_disc", "notes.txt"), "not an image");
        Directory.CreateDirectory(Path.Combine(data, "nothing_yet"));
        string backbone = TinyBackboneFile();

        var r = Run("train", "--data", data, "--backbone", backbone, "--out", "m.onnx", "--json");
        CliAssert.Succeeded(r);
        var json = CliAssert.LastLineJson(r);
        Assert.Equal(1, CliAssert.Number(json, "skipped", r));
        Assert.Equal(1, CliAssert.Number(json, "foreign_files", r));
        Assert.Equal(["nothing_yet"], json.GetProperty("empty_classes").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(36, CliAssert.Number(json, "samples", r));
        Assert.Equal(36, CliAssert.Number(json, "features_computed", r));
        Assert.True(CliAssert.Number(json, "val_accuracy", r) >= 0.95, r.ToString());
        Assert.Contains("skipped 1 unreadable image", r.Stderr);
        Assert.Contains("left out: nothing_yet", r.Stderr);
        foreach (string key in new[] { "seconds", "feature_seconds", "total_seconds", "train_samples", "val_samples", "epochs" })
            CliAssert.Number(json, key, r);

        var model = Model.Load(Dir["m.onnx"]);
        Assert.Equal(["blue_triangle", "green_square", "red_disc"], model.Labels); // no manifest: folder-name order
        Assert.True(TeachModel.IsTeachModel(model));

        // Again: every feature comes from the cache the first run left in the folder.
        var again = Run("train", "--data", data, "--backbone", backbone, "--out", "m2.onnx", "--json", "--hidden", "16", "--epochs", "40");
        CliAssert.Succeeded(again);
        var j2 = CliAssert.LastLineJson(again);
        Assert.Equal(0, CliAssert.Number(j2, "features_computed", again));
        Assert.Equal(16, CliAssert.Number(j2, "hidden", again));
        Assert.Equal(40, CliAssert.Number(j2, "epochs", again));

        Directory.Delete(Path.Combine(data, "nothing_yet"));
        var eval = Run("eval", "--model", "m.onnx", "--data", data, "--all", "--json");
        CliAssert.Succeeded(eval);
        Assert.True(CliAssert.Number(CliAssert.LastLineJson(eval), "accuracy", eval) >= 0.95, eval.ToString());
    }

    [Fact]
    public void Augmented_copies_train_too()
    {
        string data = Scenes("data", 8);
        var r = Run("train", "--data", data, "--backbone", TinyBackboneFile(), "--augment", "2", "--out", "m.onnx", "--json");
        CliAssert.Succeeded(r);
        var json = CliAssert.LastLineJson(r);
        Assert.Equal(24, CliAssert.Number(json, "samples", r));
        Assert.Equal(72, CliAssert.Number(json, "features_computed", r)); // each frame and its two copies
        Assert.Equal(2 * 6 * 3 + 18, CliAssert.Number(json, "train_samples", r)); // 6 frames per class train, with 2 copies each
    }

    [Fact]
    public void Bad_input_fails_with_one_line()
    {
        string backbone = TinyBackboneFile();
        string one = Scenes("one", 4, classes: 1);
        CliAssert.FailedCleanly(Run("train", "--data", one, "--backbone", backbone, "--out", "m.onnx"), 1, true, "at least two classes", "red_disc");
        Assert.False(File.Exists(Dir["m.onnx"]));
        CliAssert.Error(Run("train", "--data", Dir["missing"], "--backbone", backbone, "--out", "m.onnx"), "not found");
        CliAssert.Error(Run("train", "--data", one, "--backbone", "no-such-net", "--out", "m.onnx"), "backbone not found");
        CliAssert.Error(Run("train", "--data", one, "--backbone", backbone, "--arch", "lenet", "--out", "m.onnx"), "--arch");
        CliAssert.OutOfRange(Run("train", "--data", one, "--backbone", backbone, "--augment", "-1", "--out", "m.onnx"), "--augment");
        Directory.CreateDirectory(Dir["empty"]);
        CliAssert.Error(Run("train", "--data", Dir["empty"], "--backbone", backbone, "--out", "m.onnx"), "no class sub-folders");
    }
}
