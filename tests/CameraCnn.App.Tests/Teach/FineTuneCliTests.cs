// FineTuneCliTests: `camcnn train --backbone resnet18 --fine-tune N` from the command line: a short run on a few
// Fashion-MNIST images (the JSON contract, the model's metadata, a second run served from the activation cache and a
// deleted frame pruned from it), one-line refusals with exit code 2 (N out of range, negative, a backbone without residual
// blocks, options without --backbone), and a disk that fills while caching: a message, the old model kept.
using System.Diagnostics;
using CameraCnn.App.Tests.Infrastructure;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Teach;
using Xunit.Abstractions;

namespace CameraCnn.App.Tests.Teach;

[Collection(TrainingCollection.Name)]
public sealed class FineTuneCliTests(ITestOutputHelper output) : CliTest(output, "camcnn-finetune-cli")
{
    private string Fashion(string name, int perClass, int classes)
    {
        string root = FashionFolders.Train(Dir.Sub(name + "-all"), perClass);
        // Keep the first `classes` classes only (fewer backbone forwards).
        string dir = Dir.Sub(name);
        foreach (string c in FashionFolders.ClassNames.Take(classes)) Directory.Move(Path.Combine(root, c), Path.Combine(dir, c));
        return dir;
    }

    [Fact]
    public void A_short_run_writes_a_fine_tuned_model_and_a_second_run_reads_the_activation_cache()
    {
        string data = Fashion("data", 6, 3);
        var r = Run("train", "--data", data, "--backbone", "resnet18", "--fine-tune", "1", "--epochs", "2", "--out", "ft.onnx", "--json");
        CliAssert.Succeeded(r);
        var json = CliAssert.LastLineJson(r);
        Assert.Equal(18, CliAssert.Number(json, "samples", r));
        Assert.Equal(18, CliAssert.Number(json, "activations_computed", r));
        Assert.Equal(1, CliAssert.Number(json, "fine_tune", r));
        Assert.Equal(9, CliAssert.Number(json, "blocks", r));
        Assert.Equal("ReLU379_Output_0", json.GetProperty("cut").GetString());
        foreach (string key in new[] { "val_accuracy", "head_val_accuracy", "seconds", "activation_seconds", "epochs_run", "best_epoch", "train_samples", "val_samples" })
            CliAssert.Number(json, key, r);
        Assert.Contains("cut at 'ReLU379_Output_0' [512x7x7]", r.Stderr);
        Assert.True(File.Exists(Path.Combine(data, ActivationCache.FileName("resnet18", "ReLU379_Output_0"))));

        var model = Model.Load(Dir["ft.onnx"]);
        Assert.Equal(FashionFolders.ClassNames.Take(3).Order(), model.Labels.Order());
        Assert.Equal("ReLU379_Output_0", model.Metadata[FineTuneResult.CutKey]);
        Assert.Equal("1", model.Metadata[FineTuneResult.BlocksKey]);
        Assert.Equal("resnet18", model.Metadata[TeachModel.BackboneKey]);
        Assert.NotNull(TeachModel.ReadHead(model));

        // A deleted frame: the second run takes the rest from the cache and prunes the deleted one's entry.
        File.Delete(Directory.GetFiles(Path.Combine(data, "trouser")).Order().First());
        var again = Run("train", "--data", data, "--backbone", "resnet18", "--fine-tune", "1", "--epochs", "1", "--out", "ft2.onnx", "--json");
        CliAssert.Succeeded(again);
        var j2 = CliAssert.LastLineJson(again);
        Assert.Equal(0, CliAssert.Number(j2, "activations_computed", again));
        Assert.Equal(17, CliAssert.Number(j2, "activations_cached", again));
        Assert.Contains("1 entries of deleted frames pruned", again.Stderr);

        // The saved model opens like any other.
        var eval = Run("eval", "--model", "ft.onnx", "--data", data, "--all", "--json");
        CliAssert.Succeeded(eval);
        Assert.Equal(17, CliAssert.Number(CliAssert.LastLineJson(eval), "count", eval));
    }

    [Theory]
    [InlineData("10", "1..9")]
    [InlineData("-1", "--fine-tune")]
    public void A_block_count_out_of_range_is_one_line_and_exit_code_2(string n, string mention)
    {
        string data = Fashion("data", 1, 2);
        var r = Run("train", "--data", data, "--backbone", "resnet18", "--fine-tune", n, "--out", "m.onnx");
        CliAssert.FailedCleanly(r, 2, false, mention);
        Assert.False(File.Exists(Dir["m.onnx"]));
    }

    [Fact]
    public void A_backbone_without_residual_blocks_is_one_line_and_exit_code_2()
    {
        string data = Fashion("data", 1, 2);
        TeachKit.TinyBackbone().Save(Dir["tiny.onnx"]);
        var r = Run("train", "--data", data, "--backbone", Dir["tiny.onnx"], "--fine-tune", "1", "--out", "m.onnx");
        CliAssert.FailedCleanly(r, 2, false, "no residual blocks");
    }

    [Theory]
    [InlineData("--fine-tune", "2")]
    [InlineData("--backbone-lr", "0.001")]
    public void Fine_tuning_options_without_backbone_are_one_line_and_exit_code_2(string option, string value)
    {
        var r = Run("train", "--data", "fashion-mnist", option, value, "--out", "m.onnx");
        CliAssert.FailedCleanly(r, 2, false, option, "--backbone");
    }

    [Fact]
    public async Task A_disk_that_fills_while_caching_stops_with_a_message_and_keeps_the_old_model()
    {
        // The data folder on a 1.5 MB tmpfs of a private mount namespace (unshare: root, as CI runs): the frames fit, their
        // activations (100 KB each) do not.
        string data = Fashion("data", 5, 3);
        long imageBytes = Directory.GetFiles(data, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        string mount = Dir.Sub("small-disk");
        string model = Dir["old.onnx"];
        File.WriteAllBytes(model, [1, 2, 3, 4, 5]);
        string script = $"mount -t tmpfs -o size={imageBytes / 1024 + 300}k tmpfs '{mount}' && cp -r '{data}/.' '{mount}/' && " +
                        $"'{Camcnn.DotnetHost}' '{Camcnn.DllPath}' train --data '{mount}' --backbone resnet18 --fine-tune 2 --out '{model}'; " +
                        $"code=$?; ls -A '{mount}' >&2; exit $code";
        var psi = new ProcessStartInfo("unshare", ["-m", "sh", "-c", script]) { RedirectStandardOutput = true, RedirectStandardError = true };
        var clock = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(Camcnn.DefaultTimeout), "the run did not finish");
        var r = new CliResult("unshare -m sh -c " + script, p.ExitCode, await stdout, await stderr, clock.Elapsed);
        Output.WriteLine(r.ToString());
        Assert.DoesNotContain("mount:", r.Stderr); // the test needs the tmpfs; a failed mount is a broken test machine
        string error = r.StderrLines.Single(l => l.StartsWith(CliAssert.ErrorPrefix, StringComparison.Ordinal));
        Assert.Equal(1, r.ExitCode);
        CliAssert.NoStackTrace(r);
        Assert.Contains("No space left on device", error);
        Assert.Contains("old.onnx is kept", error);
        Assert.Equal([1, 2, 3, 4, 5], File.ReadAllBytes(model));
        // The listing of the full disk after the run: the class folders, no cache file, no temp file left behind.
        var listing = r.StderrLines.SkipWhile(l => !l.StartsWith(CliAssert.ErrorPrefix, StringComparison.Ordinal)).Skip(1).ToArray();
        Assert.Equal(FashionFolders.ClassNames.Take(3).Order(), listing.Where(l => !l.StartsWith(".camcnn-teach", StringComparison.Ordinal)).Order());
    }
}
