// TeachFineTuneWindowTests: T with --fine-tune in a real window under Xvfb. A tiny residual backbone (three blocks, saved
// as ONNX) and a teach folder with two scenes; the window runs on a still of one scene for a fixed time while T fine-tunes
// the last two blocks in the background: the rates while it trains stay near those while idle (--stats-json teach.fps:
// render >= 80 %, capture >= 90 %), the fine-tuned network is swapped in, and S saves it; its verdict on the still is the
// one `camcnn predict` and `camcnn eval` give on the saved ONNX file.
using System.Text.Json;
using CameraCnn.App.Tests.Infrastructure;
using OpenCvSharp;
using Xunit.Abstractions;

namespace CameraCnn.App.Tests.Window;

[Collection(WindowCollection.Name)]
public sealed class TeachFineTuneWindowTests(WindowFixture f, ITestOutputHelper log)
{
    [Fact]
    public void T_fine_tunes_while_the_window_keeps_its_rates_and_the_swapped_network_predicts_as_the_saved_file()
    {
        string root = Directory.CreateDirectory(Path.Combine(f.Runner.Directory, "teach-finetune")).FullName;
        string data = Path.Combine(root, "data"), stats = Path.Combine(root, "stats.json"), backbone = Path.Combine(root, "tinyres.onnx");
        if (Directory.Exists(data)) Directory.Delete(data, recursive: true);
        TeachKit.TinyResNet().Save(backbone);
        for (int k = 0; k < 2; k++)
        {
            var frames = Enumerable.Range(0, 100).Select(t => TeachKit.RenderFrame(k, t, seed: 1)).ToList();
            TeachKit.WriteFolder(data, $"class{k + 1}", frames);
            frames.ForEach(m => m.Dispose());
        }
        // The camera: a 25 fps video of one unchanging frame (a still image would be read as fast as it can be); the
        // frame the window sees is that video's decoded frame, kept lossless for predict and eval.
        string video = Path.Combine(root, "still.avi"), still = Path.Combine(root, "still.png");
        using (var frame = TeachKit.RenderFrame(1, 3, seed: 2))
        using (var writer = new VideoWriter(video, FourCC.MJPG, 25, new Size(frame.Cols, frame.Rows)))
            for (int t = 0; t < 50; t++) writer.Write(frame);
        var decoded = TeachKit.ReadVideo(video);
        Assert.True(Cv2.ImWrite(still, decoded[0]));
        decoded.ForEach(m => m.Dispose());

        // Idle first (the head trains on start, then nothing), T, the fine-tuning in the background (a few seconds; up to
        // half a minute on a machine busy with other work), idle again. S right after T: the trainer thread writes the
        // model once the fine-tuning it is running has finished.
        var r = f.Runner.OnDisplay(["run", "--model", backbone, "--source", video, "--seconds", "24", "--fine-tune", "2",
            "--keys", "Wait:6,T,S", "--data", data, "--stats-json", stats], timeoutSeconds: 120);

        CliAssert.Succeeded(r);
        using var doc = JsonDocument.Parse(File.ReadAllText(stats));
        var s = doc.RootElement;
        var teach = s.GetProperty("teach");
        log.WriteLine(teach.ToString());
        Assert.Equal(1, teach.GetProperty("fineTunings").GetInt32());
        Assert.Contains("-ft-", teach.GetProperty("backbone").GetString());
        var fps = teach.GetProperty("fps");
        var training = fps.GetProperty("training");
        Assert.True(training.GetProperty("seconds").GetDouble() >= 1, $"the fine-tuning was too short to measure: {fps}");
        double render = fps.GetProperty("renderRatio").GetDouble(), capture = fps.GetProperty("captureRatio").GetDouble();
        log.WriteLine($"while fine-tuning / idle: render {render:F3}, capture {capture:F3}; {fps}");
        Assert.True(render >= 0.8, $"render rate while fine-tuning {render:P0} of idle");
        Assert.True(capture >= 0.9, $"capture rate while fine-tuning {capture:P0} of idle");

        // The window's last verdict (its bars had seconds on the still) is the saved file's in predict and eval.
        string saved = Path.Combine(data, "teach.onnx");
        Assert.True(File.Exists(saved), $"S did not save: {teach}");
        Assert.Equal("b1_out", Engine.Models.Model.Load(saved).Metadata[Engine.Teach.FineTuneResult.CutKey]); // the fine-tuned network
        string label = teach.GetProperty("prediction").GetString()!;
        var top = s.GetProperty("top")[0];
        Assert.Equal(label, top.GetProperty("label").GetString());
        var predict = Camcnn.Run(["predict", "--model", saved, "--image", still, "--json"], root, null, TimeSpan.FromSeconds(60));
        CliAssert.Succeeded(predict);
        var best = CliAssert.LastLineJson(predict).GetProperty("top")[0];
        Assert.Equal(label, best.GetProperty("label").GetString());
        Assert.Equal(best.GetProperty("probability").GetDouble(), top.GetProperty("probability").GetDouble(), 0.005);
        string evalDir = Path.Combine(root, "eval");
        using (var image = Cv2.ImRead(still)) TeachKit.WriteFolder(evalDir, label, [image]);
        var eval = Camcnn.Run(["eval", "--model", saved, "--data", evalDir, "--all", "--json"], root, null, TimeSpan.FromSeconds(60));
        CliAssert.Succeeded(eval);
        Assert.Equal(1.0, CliAssert.Number(CliAssert.LastLineJson(eval), "accuracy", eval));
    }
}
