// RunFineTuneCliTests: `camcnn run --fine-tune N` from the command line, without a window: refusals in one line with exit
// code 2 (negative, more blocks than the model has, a model without residual blocks, a classifier that is not teach mode);
// `run --headless --fine-tune` fine-tunes once on start and serves the fine-tuned network; and a fine-tuned teach model
// reopened by `predict`, `eval` and `run --headless` (its head on its own fine-tuned backbone, the features cache named
// after its weights), the three giving the same verdict as our engine and ONNX Runtime on the file.
using System.Text.Json;
using CameraCnn.App.Teach;
using CameraCnn.App.Tests.Backbone;
using CameraCnn.App.Tests.Infrastructure;
using CameraCnn.Engine;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Teach;
using CameraCnn.Vision;
using OpenCvSharp;
using Xunit.Abstractions;

namespace CameraCnn.App.Tests.Teach;

public sealed class RunFineTuneCliTests(ITestOutputHelper output) : CliTest(output, "camcnn-run-finetune")
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    /// <summary>A teach folder with <paramref name="perClass"/> frames of scenes 0 and 1 ("class1", "class2").</summary>
    private string Folder(string name, int perClass)
    {
        string data = Dir.Sub(name);
        for (int k = 0; k < 2; k++)
        {
            var frames = Enumerable.Range(0, perClass).Select(t => TeachKit.RenderFrame(k, t, seed: 1)).ToList();
            TeachKit.WriteFolder(data, $"class{k + 1}", frames);
            frames.ForEach(f => f.Dispose());
        }
        return data;
    }

    private string Still(int scene)
    {
        string path = Dir[$"scene{scene}.png"];
        using var image = TeachKit.RenderFrame(scene, 7, seed: 2);
        Assert.True(Cv2.ImWrite(path, image));
        return path;
    }

    [Fact]
    public void Fine_tune_out_of_range_or_without_blocks_or_teach_mode_is_one_line_and_exit_code_2()
    {
        string data = Directory.CreateDirectory(Dir["data"]).FullName;
        TeachKit.TinyBackbone().Save(Dir["tiny.onnx"]);
        TeachKit.TinyResNet().Save(Dir["tinyres.onnx"]);
        var g = new Graph();
        var x = g.AddInput("image", 1, 3, 32, 32);
        x = g.Add(new GlobalAvgPool { Name = "pool" }, x);
        x = g.Add(new Flatten { Name = "flat" }, x);
        x = g.Add(new Dense(3, 2) { Name = "fc" }, x);
        g.MarkOutput(g.Add(new Softmax { Name = "probabilities" }, x));
        new Model(g, ["a", "b"], TeachKit.TinyPreprocessing).Save(Dir["classifier.onnx"]);

        CliAssert.FailedCleanly(Run("run", "--headless", "--fine-tune", "-1", "--data", data), 2, false, "--fine-tune");
        CliAssert.FailedCleanly(Run("run", "--headless", "--fine-tune", "10", "--data", data, "--source", "synthetic"), 2, false, "1..9", "resnet18");
        CliAssert.FailedCleanly(Run("run", "--headless", "--fine-tune", "4", "--model", "tinyres.onnx", "--data", data, "--source", "synthetic"), 2, false, "1..3");
        CliAssert.FailedCleanly(Run("run", "--headless", "--fine-tune", "1", "--model", "tiny.onnx", "--data", data, "--source", "synthetic"), 2, false, "no residual blocks");
        CliAssert.FailedCleanly(Run("run", "--headless", "--fine-tune", "1", "--model", "classifier.onnx", "--source", "synthetic"), 2, false, "teach mode");
        Assert.Empty(Directory.EnumerateFileSystemEntries(data)); // nothing was opened, trained or cached
    }

    [Fact]
    public void Headless_fine_tunes_on_start_and_serves_the_fine_tuned_network()
    {
        string data = Folder("data", 40);
        TeachKit.TinyResNet().Save(Dir["tinyres.onnx"]);
        var r = Run("run", "--headless", "--model", "tinyres.onnx", "--data", data, "--fine-tune", "2", "--source", Still(1),
            "--seconds", "20", "--stats-json", "stats.json"); // a few seconds of fine-tuning, with room for a busy machine
        CliAssert.Succeeded(r);
        using var doc = JsonDocument.Parse(File.ReadAllText(Dir["stats.json"]));
        var teach = doc.RootElement.GetProperty("teach");
        Output.WriteLine(teach.ToString());
        Assert.True(teach.GetProperty("head").GetBoolean());
        Assert.Equal(1, teach.GetProperty("fineTunings").GetInt32()); // after the head training on start
        Assert.StartsWith("tinyres-", teach.GetProperty("backbone").GetString());
        Assert.Contains("-ft-", teach.GetProperty("backbone").GetString());
        var ft = teach.GetProperty("lastFineTune");
        Assert.Equal(2, ft.GetProperty("blocks").GetInt32());
        Assert.Equal("class2", teach.GetProperty("lastTop").GetString());
        Assert.True(File.Exists(Path.Combine(data, ActivationCache.FileName("tinyres.onnx".Replace(".onnx", "") + "-" + new FileInfo(Dir["tinyres.onnx"]).Length, "b1_out"))),
            "the activations at the cut are cached in the data folder");
    }

    [Fact]
    public void A_fine_tuned_teach_model_reopens_in_predict_eval_and_run()
    {
        // The file as S writes it: a session fine-tunes the tiny residual backbone on two scenes and saves.
        string data = Folder("data", 30);
        string saved = Path.Combine(data, "teach.onnx");
        string tunedName;
        using (var s = TeachSession.Open(new TeachOptions
        {
            DataDirectory = data, Backbone = TeachKit.TinyRes, FineTune = new FineTuneOptions { Blocks = 2, Epochs = 4, Patience = 0 },
            TrainOnStart = true,
        }))
        {
            Assert.True(s.WaitUntilReady(Timeout));
            Assert.True(s.WaitForTraining(Timeout), s.Status.Message);
            s.StartFineTuning();
            Assert.True(s.WaitForTraining(Timeout), s.Status.Message);
            Assert.Equal(1, s.FineTunings);
            s.Save(saved);
            tunedName = s.Network.Backbone.Name;
        }
        string still = Still(0);
        var model = Model.Load(saved);
        using var prep = new FramePreprocessor(model.Preprocessing!);
        var input = prep.CreateInput();
        using (var frame = Cv2.ImRead(still)) prep.Process(frame, input);
        var ours = model.Graph.Forward(input).Data.ToArray();
        using var ort = BackboneKit.OpenOrt(saved);
        var reference = BackboneKit.RunOrt(ort, input).Data;
        Assert.Equal(reference, ours, (a, b) => Math.Abs(a - b) <= 1e-4f);
        string expected = model.Labels[Array.IndexOf(ours, ours.Max())];

        var predict = Run("predict", "--model", saved, "--image", still, "--top", "2", "--json");
        CliAssert.Succeeded(predict);
        var top = CliAssert.LastLineJson(predict).GetProperty("top");
        Assert.Equal(expected, top[0].GetProperty("label").GetString());
        Assert.Equal(ours.Max(), top[0].GetProperty("probability").GetSingle(), 1e-4f);

        string evalDir = Dir.Sub("eval");
        using (var frame = Cv2.ImRead(still)) TeachKit.WriteFolder(evalDir, expected, [frame]);
        var eval = Run("eval", "--model", saved, "--data", evalDir, "--all", "--json");
        CliAssert.Succeeded(eval);
        Assert.Equal(1.0, CliAssert.Number(CliAssert.LastLineJson(eval), "accuracy", eval));

        // run reopens it in teach mode on its own fine-tuned backbone (not the tiny one it came from): same name, same verdict.
        var run = Run("run", "--headless", "--model", saved, "--data", data, "--source", still, "--frames", "10", "--stats-json", "run.json");
        CliAssert.Succeeded(run);
        using var doc = JsonDocument.Parse(File.ReadAllText(Dir["run.json"]));
        var teach = doc.RootElement.GetProperty("teach");
        Assert.Equal(tunedName, teach.GetProperty("backbone").GetString());
        Assert.Equal(expected, teach.GetProperty("lastTop").GetString());
    }
}
