// HostileInputTests: issue 15, "what a hard test of the CLI and teach folders broke", one test (or more) per row of its
// table, each reproducing the case as the report gave it and checking what camcnn does now. Row 5 (a screenshot on a
// full disk) needs the window: HostileWindowTests. Special files (FIFOs, device nodes, tmpfs mounts) are made in the
// test's own temp folder, never in /dev; a test whose tool is not permitted on the machine is skipped with the reason.
using System.Text.Json;
using CameraCnn.App.Teach;
using CameraCnn.App.Tests.Infrastructure;
using CameraCnn.App.Tests.Teach;
using CameraCnn.Engine;
using CameraCnn.Engine.Data;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Models;
using CameraCnn.Tests.Shared;
using CameraCnn.Vision.Teach;
using Xunit.Abstractions;

namespace CameraCnn.App.Tests;

// With the trainings: its child processes use both cores, and the window tests, which run beside that collection,
// measure frame rates.
[Collection(TrainingCollection.Name)]
public sealed class HostileInputTests(ITestOutputHelper output) : CliTest(output, "camcnn-hostile")
{
    /// <summary>An untrained LeNet for 16x16 RGB with three classes: enough for run, predict and infer to do real work quickly.</summary>
    private string TinyClassifier() => TestData.Classifier(Dir["tiny-classifier.onnx"], 16, ["a", "b", "c"]);

    private string TinyBackbone()
    {
        string path = Dir["tiny-backbone.onnx"];
        if (!File.Exists(path)) TeachKit.TinyBackbone().Save(path);
        return path;
    }

    /// <summary>root/&lt;scene&gt;/NNNN.png: <paramref name="perClass"/> frames of each of the three synthetic scenes.</summary>
    private string Scenes(string root, int perClass, int seed = 1)
    {
        for (int k = 0; k < 3; k++)
            TeachKit.WriteFolder(root, TeachKit.SceneNames[k], Enumerable.Range(0, perClass).Select(t => TeachKit.RenderFrame(k, t, seed)));
        return root;
    }

    private static JsonElement Json(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        return doc.RootElement.Clone();
    }

    // ---- row 1: --out /dev/null replaced the device; a --stats-json symlink was replaced ----------------------------

    [NeedsFact(Need.Fifo)]
    public void Row01_train_out_to_a_fifo_is_refused_before_training_and_stays_a_fifo()
    {
        string fifo = Dir["model-pipe"];
        SpecialFiles.MakeFifo(fifo);
        var r = Run("train", "--data", "fashion-mnist", "--limit", "100", "--epochs", "1", "--out", fifo);
        CliAssert.Error(r, "--out", fifo, "FIFO", "not a regular file");
        Assert.Equal("fifo", SpecialFiles.TypeOf(fifo));
        Assert.Empty(r.StdoutLines); // refused up front: nothing trained, no "model saved to"
    }

    [NeedsFact(Need.DeviceNode)]
    public void Row01_train_out_to_a_device_node_is_refused_and_stays_a_device()
    {
        // The report's `--out /dev/null` as root, with a null device made in the test's folder instead of the real one.
        string device = Dir["null"];
        Assert.True(SpecialFiles.TryMakeNullDevice(device));
        var r = Run("train", "--data", "fashion-mnist", "--limit", "100", "--epochs", "1", "--out", device);
        CliAssert.Error(r, "--out", "character device", "not a regular file");
        Assert.Equal("character special file", SpecialFiles.TypeOf(device));
    }

    [NeedsFact(Need.Fifo)]
    public void Row01_stats_json_through_a_symlink_writes_the_target_and_a_link_to_a_fifo_is_refused()
    {
        string target = Dir["real-stats.json"], link = Dir["stats.json"];
        File.WriteAllText(target, "old");
        File.CreateSymbolicLink(link, target);
        var r = Run("run", "--headless", "--model", TinyClassifier(), "--source", "synthetic", "--frames", "3", "--stats-json", link);
        CliAssert.Succeeded(r);
        Assert.Equal(target, new FileInfo(link).LinkTarget); // the link is still a link...
        Assert.Equal("headless", Json(target).GetProperty("mode").GetString()); // ...and its target has the stats

        string fifo = Dir["pipe"], toFifo = Dir["to-pipe.json"];
        SpecialFiles.MakeFifo(fifo);
        File.CreateSymbolicLink(toFifo, fifo);
        var refused = Run("run", "--headless", "--model", TinyClassifier(), "--source", "synthetic", "--frames", "3", "--stats-json", toFifo);
        CliAssert.Error(refused, "--stats-json", "symbolic link", "FIFO");
        Assert.Equal("fifo", SpecialFiles.TypeOf(fifo));
    }

    // ---- row 2: --input-size 40000 crashed with an OverflowException -------------------------------------------------

    [Theory]
    [InlineData("40000")]
    [InlineData("46341")]
    [InlineData("100000")]
    public void Row02_a_huge_input_size_is_one_line_naming_the_range(string size)
    {
        TestData.WriteShapesFolder(Dir["shapes"], 2, 8, seed: 1);
        var r = Run("train", "--data", "shapes", "--input-size", size, "--out", "m.onnx");
        CliAssert.OutOfRange(r, "--input-size", "[4, 1024]", size);
        Assert.False(File.Exists(Dir["m.onnx"]));
    }

    // ---- row 3: --batch 2147483600 trained nothing and exited 0 -------------------------------------------------------

    [Fact]
    public void Row03_a_huge_batch_is_refused_up_front_with_and_without_a_backbone()
    {
        CliAssert.OutOfRange(Run("train", "--data", "fashion-mnist", "--batch", "2147483600", "--out", "m.onnx"), "--batch", "[1, 65536]");
        Scenes(Dir["scenes"], 4);
        CliAssert.OutOfRange(Run("train", "--data", "scenes", "--backbone", TinyBackbone(), "--batch", "2147483647", "--out", "m.onnx"), "--batch");
        Assert.False(File.Exists(Dir["m.onnx"]));
        // The largest batch allowed trains for real: every sample in one step.
        var r = Run("train", "--data", "scenes", "--backbone", TinyBackbone(), "--batch", "65536", "--out", "m.onnx", "--json");
        CliAssert.Succeeded(r);
        Assert.Equal(12, CliAssert.Number(CliAssert.LastLineJson(r), "samples", r));
    }

    // ---- row 4: infer wrote outputs a/b, a_b and a?b all to a_b.npy ---------------------------------------------------

    [Fact]
    public void Row04_infer_gives_outputs_that_collide_once_sanitised_files_of_their_own()
    {
        var g = new Graph();
        var x = g.AddInput("x", 1, 3);
        var slash = g.Add(new Identity { Name = "a/b" }, x);
        var under = g.Add(new Neg { Name = "a_b" }, x);
        var query = g.Add(new Exp { Name = "a?b" }, x);
        foreach (var n in new[] { slash, under, query }) g.MarkOutput(n);
        new Model(g).Save(Dir["three.onnx"]);
        var input = new Tensor(1, 3);
        input.Data[0] = 0.5f; input.Data[1] = -1f; input.Data[2] = 2f;
        Npy.Write(Dir["x.npy"], input);

        var r = Run("infer", "--model", "three.onnx", "--input", "x.npy", "--output-dir", "out");
        CliAssert.Succeeded(r);
        string Out(string f) => Path.Combine("out", f);
        Assert.Equal([$"a/b [1x3] -> {Out("a_b.npy")}", $"a_b [1x3] -> {Out("a_b_2.npy")}", $"a?b [1x3] -> {Out("a_b_3.npy")}"], r.StdoutLines);
        Assert.Equal(input.Data, Npy.Read(Dir[Out("a_b.npy")]).Data);
        Assert.Equal(input.Data.Select(v => -v), Npy.Read(Dir[Out("a_b_2.npy")]).Data);
        Assert.Equal(input.Data.Select(MathF.Exp), Npy.Read(Dir[Out("a_b_3.npy")]).Data);
        Assert.Contains("'a_b' -> a_b_2.npy", r.Stderr);
    }

    [Fact]
    public void Row04_output_file_names_never_collide_and_never_rename_a_plain_owner()
    {
        Assert.Equal(["a_b", "a_b_2", "a_b_3"], Commands.InferCommand.OutputFileNames(["a/b", "a_b", "a?b"]));
        // An output already called a_b_2 keeps that name; the second a_b moves on to _3.
        Assert.Equal(["a_b", "a_b_3", "a_b_2"], Commands.InferCommand.OutputFileNames(["a_b", "a/b", "a_b_2"]));
        // Names equal but for case are one file on a case-insensitive disk.
        Assert.Equal(["Prob", "prob_2"], Commands.InferCommand.OutputFileNames(["Prob", "prob"]));
        Assert.Equal(["output", "output_2"], Commands.InferCommand.OutputFileNames(["..", "."]));
    }

    // ---- row 6: raw IDX under the usual names was "no class sub-folders" ---------------------------------------------

    [Fact]
    public void Row06_train_reads_raw_idx_files_under_the_gunzipped_names()
    {
        string data = Dir.Sub("idx");
        var rng = new Random(6);
        byte[] Images(int n) => [0, 0, 8, 3, 0, 0, 0, (byte)n, 0, 0, 0, 28, 0, 0, 0, 28, .. Enumerable.Range(0, n * 784).Select(_ => (byte)rng.Next(256))];
        byte[] Labels(int n) => [0, 0, 8, 1, 0, 0, 0, (byte)n, .. Enumerable.Range(0, n).Select(i => (byte)(i % 10))];
        File.WriteAllBytes(Path.Combine(data, "train-images-idx3-ubyte"), Images(60));
        File.WriteAllBytes(Path.Combine(data, "train-labels-idx1-ubyte"), Labels(60));
        File.WriteAllBytes(Path.Combine(data, "t10k-images-idx3-ubyte"), Images(20));
        File.WriteAllBytes(Path.Combine(data, "t10k-labels-idx1-ubyte"), Labels(20));
        var r = Run("train", "--data", "idx", "--epochs", "1", "--batch", "16", "--out", "m.onnx", "--json");
        CliAssert.Succeeded(r);
        Assert.Contains(r.StderrLines, l => l.StartsWith("data: IDX idx: 54 train, 6 validation, 20 test, 10 classes", StringComparison.Ordinal));
        Assert.Equal(20, CliAssert.Number(CliAssert.LastLineJson(r), "test_samples", r));
    }

    // ---- row 7: the feature cache grew with every run -----------------------------------------------------------------

    [Fact]
    public void Row07_train_backbone_prunes_stale_cache_entries_and_reports_the_cache_size()
    {
        string data = Scenes(Dir["scenes"], 12);
        string[] Args() => ["train", "--data", "scenes", "--backbone", TinyBackbone(), "--out", "m.onnx", "--json"];
        JsonElement Train()
        {
            var r = Run(Args());
            CliAssert.Succeeded(r);
            return CliAssert.LastLineJson(r);
        }
        var first = Train();
        string cacheFile = Directory.GetFiles(data, ".camcnn-features-*.bin").Single();
        Assert.Equal(36, first.GetProperty("cache_entries").GetInt32());
        long bytes36 = new FileInfo(cacheFile).Length;
        Assert.Equal(bytes36, first.GetProperty("cache_bytes").GetInt64());

        // The images change: 6 deleted, 3 replaced by other frames (same names, new content).
        foreach (string f in Directory.GetFiles(Path.Combine(data, "red_disc")).Order().Take(6)) File.Delete(f);
        TeachKit.WriteFolder(Dir["replacements"], "green_square", Enumerable.Range(100, 3).Select(t => TeachKit.RenderFrame(1, t, seed: 1)));
        foreach (string f in Directory.GetFiles(Dir["replacements/green_square"]))
        {
            string replaced = Path.Combine(data, "green_square", Path.GetFileName(f));
            File.Copy(f, replaced, overwrite: true);
            File.SetLastWriteTimeUtc(replaced, DateTime.UtcNow.AddMinutes(1)); // a new file: new time (and size)
        }

        var second = Train();
        Assert.Equal(30, second.GetProperty("samples").GetInt32());
        Assert.Equal(3, second.GetProperty("features_computed").GetInt32());
        Assert.Equal(9, second.GetProperty("cache_pruned").GetInt32()); // 6 deleted + 3 replaced
        Assert.Equal(30, second.GetProperty("cache_entries").GetInt32());
        Assert.True(new FileInfo(cacheFile).Length < bytes36, "the cache file shrinks with the data set");

        // Unchanged data: the same size run after run (it grew 94 KB -> 471 KB over 6 runs before).
        long size = new FileInfo(cacheFile).Length;
        var again = Train();
        Assert.Equal(0, again.GetProperty("features_computed").GetInt32());
        Assert.Equal(30, again.GetProperty("cache_entries").GetInt32());
        Assert.Equal(size, new FileInfo(cacheFile).Length);
    }

    // ---- row 8: --outage 0-2 exited 1 "unavailable" instead of reconnecting -------------------------------------------

    [Fact]
    public void Row08_an_outage_from_second_0_reconnects_with_back_off_like_any_outage()
    {
        string stats = Dir["outage.json"];
        var r = Camcnn.Run(["run", "--headless", "--model", TinyClassifier(), "--source", "synthetic", "--outage", "0-1.5", "--frames", "10",
            "--stats-json", stats], Dir.Path, new Dictionary<string, string?> { ["DISPLAY"] = null, ["WAYLAND_DISPLAY"] = null });
        Output.WriteLine(r.ToString());
        CliAssert.Succeeded(r);
        var json = Json(stats);
        Assert.True(json.GetProperty("reconnects").GetInt64() >= 1, json.ToString());
        Assert.Equal("Live", json.GetProperty("sourceState").GetString());
        Assert.True(json.GetProperty("frames").GetInt64() >= 10, json.ToString());
    }

    // ---- row 9: two teach sessions on one folder both wrote it --------------------------------------------------------

    [Fact]
    public void Row09_a_second_teach_session_on_a_folder_refuses_naming_the_first_and_a_dead_ones_lock_is_taken_over()
    {
        string data = Dir["teach"];
        var options = new TeachOptions { DataDirectory = data, Backbone = TeachKit.Tiny };
        using (var first = TeachSession.Open(options))
        {
            var e = Assert.Throws<TeachFolderBusyException>(() => TeachSession.Open(options));
            Assert.Contains($"is in use by process {Environment.ProcessId}", e.Message);
            Assert.DoesNotContain('\n', e.Message);
            Assert.Empty(Directory.GetDirectories(data)); // the refused session created nothing
        }
        using (var again = TeachSession.Open(options)) Assert.Equal(Path.GetFullPath(data), again.Dataset.Directory); // released on Dispose

        // A lock left by a process that is gone (its owner file names a pid that exited): taken over without asking.
        using var gone = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("true") { UseShellExecute = false })!;
        gone.WaitForExit();
        File.WriteAllText(Path.Combine(data, TeachFolderLock.LockFileName), "");
        File.WriteAllText(Path.Combine(data, TeachFolderLock.OwnerFileName),
            $$"""{"Pid":{{gone.Id}},"StartedUtcTicks":{{DateTime.UtcNow.AddMinutes(-5).Ticks}},"Command":"camcnn run (killed -9)"}""");
        using (var taken = TeachSession.Open(options))
            Assert.Contains($"\"Pid\":{Environment.ProcessId}", File.ReadAllText(Path.Combine(data, TeachFolderLock.OwnerFileName)));
    }

    [Fact]
    public void Row09_the_lock_of_a_session_killed_with_sigkill_is_taken_over()
    {
        string data = Scenes(Dir["teach"], 3);
        // Its output goes to files, not pipes: a pipe nobody reads would stall the session once full.
        var psi = new System.Diagnostics.ProcessStartInfo("sh") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add($"exec \"$0\" \"$@\" >{Dir["session.out"]} 2>{Dir["session.err"]} </dev/null");
        psi.ArgumentList.Add(Camcnn.DotnetHost);
        foreach (string a in new[] { Camcnn.DllPath, "run", "--headless", "--model", TinyBackbone(), "--source", "synthetic", "--data", data })
            psi.ArgumentList.Add(a);
        using var session = System.Diagnostics.Process.Start(psi)!;
        string owner = Path.Combine(data, TeachFolderLock.OwnerFileName);
        try
        {
            TeachKit.WaitUntil(() => File.Exists(owner) || session.HasExited, TimeSpan.FromSeconds(60), () => "the headless session to take the folder");
            if (session.HasExited) Assert.Fail($"the session ended (exit code {session.ExitCode}): {File.ReadAllText(Dir["session.err"])}");
            Assert.Throws<TeachFolderBusyException>(() => TeachFolderLock.Acquire(data)); // held while it runs
        }
        finally
        {
            session.Kill(entireProcessTree: true); // SIGKILL: no Dispose, the lock and owner files stay behind
            session.WaitForExit();
        }
        Assert.True(File.Exists(owner));
        using var taken = TeachSession.Open(new TeachOptions { DataDirectory = data, Backbone = TeachKit.Tiny });
        Assert.Contains($"\"Pid\":{Environment.ProcessId}", File.ReadAllText(owner));
        Assert.Equal(3, taken.Classes.Count);
    }

    [Fact]
    public void Row09_while_a_folder_is_held_run_refuses_and_train_backbone_only_reads_it()
    {
        string data = Scenes(Dir["teach"], 6);
        using var held = TeachFolderLock.Acquire(data); // this test process plays the first session
        var run = Run("run", "--headless", "--model", TinyBackbone(), "--source", "synthetic", "--frames", "2", "--data", data);
        CliAssert.Error(run, "teach mode", "in use by process", Environment.ProcessId.ToString());

        var train = Run("train", "--data", data, "--backbone", TinyBackbone(), "--out", "m.onnx", "--json");
        CliAssert.Succeeded(train);
        Assert.Contains("reading it only: the feature cache is not updated", train.Stderr);
        Assert.Empty(Directory.GetFiles(data, ".camcnn-features-*.bin"));
        Assert.Equal(0, CliAssert.Number(CliAssert.LastLineJson(train), "cache_entries", train));
        // Writing the model into the held folder would be a second writer: refused.
        CliAssert.FailedCleanly(Run("train", "--data", data, "--backbone", TinyBackbone(), "--out", Path.Combine(data, "teach.onnx")), 1, true, "in use", "--out");
    }

    // ---- row 10: messages -------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("0")]
    [InlineData("1")]
    [InlineData("3")]
    public void Row10_an_input_size_too_small_for_the_network_names_the_option_and_range(string size)
    {
        TestData.WriteShapesFolder(Dir["shapes"], 2, 8, seed: 1);
        string line = CliAssert.OutOfRange(Run("train", "--data", "shapes", "--input-size", size, "--out", "m.onnx"), "--input-size", "[4, 1024]");
        Assert.DoesNotContain("Parameter", line);
        Assert.DoesNotContain("Dense", line);
    }

    [Fact]
    public void Row10_empty_paths_are_named_by_their_option()
    {
        CliAssert.OutOfRange(Run("train", "--data", "fashion-mnist", "--out", ""), "--out is empty");
        CliAssert.OutOfRange(Run("predict", "--model", "", "--image", "x.png"), "--model is empty");
        CliAssert.OutOfRange(Run("infer", "--model", "m.onnx", "--input", "x.npy", "--output-dir", ""), "--output-dir is empty");
        CliAssert.OutOfRange(Run("collect", "--source", "synthetic", "--class", "a", "--data", ""), "--data is empty");
        CliAssert.OutOfRange(Run("predict", "--model", TinyClassifier(), "--source", ""), "--source is empty");
    }

    [Fact]
    public void Row10_infer_output_dir_that_is_a_file_and_a_model_that_is_a_directory()
    {
        File.WriteAllText(Dir["taken"], "a file");
        CliAssert.Error(Run("infer", "--model", TinyClassifier(), "--input", "x.npy", "--output-dir", "taken"), "--output-dir taken", "is a regular file, not a directory");
        Assert.Equal("a file", File.ReadAllText(Dir["taken"]));
        Dir.Sub("models");
        CliAssert.Error(Run("predict", "--model", "models", "--image", "x.png"), "--model models is a directory");
        CliAssert.Error(Run("eval", "--model", "models", "--data", "fashion-mnist"), "--model models is a directory");
    }

    [Theory]
    [InlineData("train", "--momentum", "nan")]
    [InlineData("train", "--momentum", "1")]
    [InlineData("train", "--val-fraction", "nan")]
    [InlineData("train", "--lr", "Infinity")]
    [InlineData("train", "--weight-decay", "-Infinity")]
    [InlineData("train", "--lr-decay", "NaN")]
    [InlineData("run", "--threshold", "NaN")]
    [InlineData("run", "--record-rate", "Infinity")]
    [InlineData("run", "--seconds", "NaN")]
    [InlineData("run", "--max-fps", "Infinity")]
    [InlineData("predict", "--fps", "NaN")]
    [InlineData("collect", "--fps", "-1")]
    public void Row10_nan_infinite_and_out_of_range_floats_are_refused_up_front(string command, string option, string value)
    {
        string[] args = command switch
        {
            "train" => ["train", "--data", "fashion-mnist", "--out", "m.onnx", option, value],
            "run" => ["run", "--headless", "--model", "missing.onnx", option, value],
            "predict" => ["predict", "--model", TinyClassifier(), "--source", "synthetic", "--frames", "1", option, value],
            _ => ["collect", "--source", "synthetic", "--class", "a", "--data", "d", option, value],
        };
        CliAssert.OutOfRange(Camcnn.RunInProcess(args), option);
        Assert.False(File.Exists(Dir["m.onnx"]));
    }

    [Fact]
    public void Row10_threads_beyond_a_few_per_core_are_refused()
    {
        CliAssert.OutOfRange(Run("train", "--data", "fashion-mnist", "--out", "m.onnx", "--threads", "100000"), "--threads", $"[1, {4 * Environment.ProcessorCount}]");
        CliAssert.OutOfRange(Run("train", "--data", "fashion-mnist", "--out", "m.onnx", "--threads", "0"), "--threads");
    }

    [Fact]
    public void Row10_train_backbone_reads_train_and_test_like_plain_train()
    {
        // Before: train/ and test/ became two classes called "train" and "test".
        Scenes(Dir["split/train"], 8, seed: 1);
        Scenes(Dir["split/test"], 4, seed: 2);
        var r = Run("train", "--data", "split", "--backbone", TinyBackbone(), "--out", "m.onnx", "--json");
        CliAssert.Succeeded(r);
        var json = CliAssert.LastLineJson(r);
        Assert.Equal(TeachKit.SceneNames.Order(StringComparer.Ordinal), json.GetProperty("labels").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(24, CliAssert.Number(json, "samples", r));
        Assert.Equal(12, CliAssert.Number(json, "test_samples", r));
        Assert.True(CliAssert.Number(json, "test_accuracy", r) >= 0.9, r.ToString());
        Assert.Contains(r.StdoutLines, l => l.StartsWith("test accuracy ", StringComparison.Ordinal));
        // The teach folder reads the same way: its classes are train/'s.
        var ds = TeachDataset.Open(Dir["split"], create: false);
        Assert.Equal(Path.GetFullPath(Dir["split/train"]), ds.Directory);
        Assert.Equal(Path.GetFullPath(Dir["split/test"]), ds.TestDirectory);
        Assert.Equal(3, ds.Classes.Count);
        // A test class the training set does not have is refused before any feature is computed.
        Scenes(Dir["split/test/extra"], 1);
        CliAssert.FailedCleanly(Run("train", "--data", "split", "--backbone", TinyBackbone(), "--out", "m2.onnx"), 1, true, "has class(es) that", "extra");
    }

    /// <summary>
    /// Runs camcnn so that file permissions apply: as is when not root; as root through setpriv without the capabilities
    /// that let root read anything (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH). Null when neither is possible.
    /// </summary>
    private CliResult? RunWithPermissionsEnforced(params string[] args)
    {
        IReadOnlyList<string>? launcher = null;
        if (SpecialFiles.IsRoot)
        {
            if (SpecialFiles.Sh("setpriv", "--version").Code != 0) return null;
            launcher = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"];
        }
        var r = Camcnn.Run(args, Dir.Path, launcher: launcher);
        Output.WriteLine(r.ToString());
        return r;
    }

    [Fact]
    public void Row10_a_class_folder_without_read_permission_is_named_as_such()
    {
        if (!OperatingSystem.IsLinux()) return;
        TestData.WriteShapesFolder(Dir["shapes"], 4, 8, seed: 1);
        string locked = Dir["shapes/stripes"];
        File.SetUnixFileMode(locked, UnixFileMode.None);
        try
        {
            var r = RunWithPermissionsEnforced("train", "--data", "shapes", "--input-size", "8", "--epochs", "1", "--out", "m.onnx");
            if (r is null)
            {
                Output.WriteLine("skipped: running as root without setpriv, permissions cannot be enforced");
                return;
            }
            CliAssert.Error(r, "permission denied", "cannot read class folder", Path.Combine("shapes", "stripes"));
            var teach = RunWithPermissionsEnforced("train", "--data", "shapes", "--backbone", TinyBackbone(), "--out", "m.onnx");
            Assert.Contains($"permission denied: cannot read class folder {Path.GetFullPath(locked)}", teach!.Stderr);
        }
        finally
        {
            File.SetUnixFileMode(locked, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    [Fact]
    public void Row10_run_headless_data_that_is_a_file_says_it_is_a_file()
    {
        File.WriteAllText(Dir["afile"], "x");
        CliAssert.Error(Camcnn.RunInProcess("run", "--headless", "--source", "synthetic", "--data", Dir["afile"]), "--data", "is a file, not a teach folder");
        CliAssert.Error(Run("train", "--data", "afile", "--out", "m.onnx"), "--data afile is a file");
        CliAssert.Error(Run("train", "--data", "afile", "--backbone", TinyBackbone(), "--out", "m.onnx"), "--data afile is a file");
    }

    [Fact]
    public void Row10_images_in_nested_folders_are_counted_and_reported()
    {
        string data = Scenes(Dir["scenes"], 6);
        TeachKit.WriteFolder(Path.Combine(data, "red_disc", "more"), "deeper", Enumerable.Range(0, 4).Select(t => TeachKit.RenderFrame(0, t, 3)));
        var teach = Run("train", "--data", "scenes", "--backbone", TinyBackbone(), "--out", "m.onnx", "--json");
        CliAssert.Succeeded(teach);
        Assert.Equal(4, CliAssert.Number(CliAssert.LastLineJson(teach), "nested_images", teach));
        Assert.Contains("ignored 4 image(s) in folders below class folder red_disc", teach.Stderr);

        var plain = Run("train", "--data", "scenes", "--input-size", "16", "--epochs", "1", "--out", "p.onnx");
        CliAssert.Succeeded(plain);
        Assert.Contains("ignored 4 image(s) in folders below the class folders", plain.Stderr);

        // A class folder with images only below it: the error says where they are.
        string only = Dir.Sub("only/a/sub");
        TeachKit.WriteFolder(only, "x", [TeachKit.RenderFrame(0, 0, 1)]);
        Dir.Sub("only/b");
        CliAssert.Error(Run("train", "--data", "only", "--out", "o.onnx"), "no image files", "folders below the class folders");
    }

    [Fact]
    public void Row10_an_idx_test_set_of_another_image_size_fails_before_the_first_epoch()
    {
        string data = Dir.Sub("idx");
        byte[] Images(int n, byte side) => [0, 0, 8, 3, 0, 0, 0, (byte)n, 0, 0, 0, side, 0, 0, 0, side, .. new byte[n * side * side]];
        byte[] Labels(int n) => [0, 0, 8, 1, 0, 0, 0, (byte)n, .. Enumerable.Range(0, n).Select(i => (byte)(i % 2))];
        File.WriteAllBytes(Path.Combine(data, FashionMnist.TrainImagesFile), BadInputTests.Gzip(Images(40, 28)));
        File.WriteAllBytes(Path.Combine(data, FashionMnist.TrainLabelsFile), BadInputTests.Gzip(Labels(40)));
        File.WriteAllBytes(Path.Combine(data, FashionMnist.TestImagesFile), BadInputTests.Gzip(Images(10, 20)));
        File.WriteAllBytes(Path.Combine(data, FashionMnist.TestLabelsFile), BadInputTests.Gzip(Labels(10)));
        var r = Run("train", "--data", "idx", "--epochs", "3", "--out", "m.onnx");
        CliAssert.Error(r, "20x20 images", "28x28");
        Assert.False(File.Exists(Dir["m.onnx"]));
    }
}
