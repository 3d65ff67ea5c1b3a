// TeachAutoTrainTests: teach mode trains itself. In a real window under Xvfb, with a tiny backbone saved as ONNX and
// the synthetic pattern, holding 1 then 2 (no T anywhere in the script) records two classes; each release asks for a
// training, so the run ends with a head whose classes are the bars and whose verdict is the prediction, and once it is
// quiet the teach window allocates nothing per rendered frame. Also: --screenshot with --seconds saves the last frame.
using System.Text.Json;
using CameraCnn.App.Tests.Infrastructure;
using CameraCnn.App.Tests.Teach;
using OpenCvSharp;
using Xunit.Abstractions;

namespace CameraCnn.App.Tests.Window;

[Collection(WindowCollection.Name)]
public sealed class TeachAutoTrainTests(WindowFixture f, ITestOutputHelper log)
{
    [Fact]
    public void Releasing_the_record_keys_trains_a_head_that_predicts_without_T()
    {
        string root = Directory.CreateDirectory(Path.Combine(f.Runner.Directory, "teach-auto")).FullName;
        string data = Path.Combine(root, "data"), stats = Path.Combine(root, "stats.json"), backbone = Path.Combine(root, "tiny.onnx");
        if (Directory.Exists(data)) Directory.Delete(data, recursive: true);
        TeachKit.TinyBackbone().Save(backbone);
        const string keys = "Hold:1:2,Hold:2:2,Wait:1";
        Assert.DoesNotContain('T', keys);

        var r = f.Runner.OnDisplay(["run", "--model", backbone, "--source", "synthetic", "--frames", "40", "--max-fps", "30",
            "--record-rate", "8", "--keys", keys, "--data", data, "--stats-json", stats], timeoutSeconds: 120);

        CliAssert.Succeeded(r);
        using var doc = JsonDocument.Parse(File.ReadAllText(stats));
        var s = doc.RootElement;
        var teach = s.GetProperty("teach");
        log.WriteLine(teach.ToString());
        int[] counts = teach.GetProperty("classes").EnumerateArray().Select(c => c.GetProperty("count").GetInt32()).ToArray();
        Assert.Equal(2, counts.Length);
        Assert.All(counts, n => Assert.InRange(n, 2, 40));
        Assert.True(teach.GetProperty("head").GetBoolean(), $"no head after the keys were released: {teach}");
        Assert.InRange(teach.GetProperty("trainings").GetInt32(), 1, 3);
        Assert.Contains(teach.GetProperty("prediction").GetString(), new[] { "class1", "class2", "unknown" });
        // The bars are the head's classes: the worker applied the head to every frame after it was trained.
        var top = s.GetProperty("top").EnumerateArray().Select(t => t.GetProperty("label").GetString()).ToArray();
        Assert.Equal(["class1", "class2"], top.Order());
        Assert.InRange(s.GetProperty("top").EnumerateArray().Sum(t => t.GetProperty("probability").GetDouble()), 0.97, 1.03);
        // Once nothing is recorded or trained any more, a teach frame allocates nothing (it was ~1 KB).
        Assert.True(s.GetProperty("steadyFrames").GetInt64() >= 10, s.ToString());
        Assert.Equal(0, s.GetProperty("allocatedBytesPerFrame").GetDouble());
    }

    [Fact]
    public void Screenshot_with_seconds_saves_the_last_frame()
    {
        string shot = Path.Combine(f.Runner.Directory, "seconds.png"), stats = Path.Combine(f.Runner.Directory, "seconds.json");
        var r = f.Runner.OnDisplay(["run", "--model", f.Runner.ModelPath, "--source", f.Runner.ImagePath, "--seconds", "2",
            "--screenshot", shot, "--stats-json", stats]);

        CliAssert.Succeeded(r);
        using var image = Cv2.ImRead(shot, ImreadModes.Color);
        Assert.Equal(WindowRunner.Width, image.Cols);
        Assert.Equal(WindowRunner.Height, image.Rows);
        using var doc = JsonDocument.Parse(File.ReadAllText(stats));
        int[] camera = doc.RootElement.GetProperty("layout").GetProperty("camera").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var left = ScreenPixels.AtFraction(image, camera, 0.25, 0.85);
        Assert.True(left.R > 200 && left.G < 60 && left.B < 60, $"the still's red half should be in the screenshot: {left}");
    }
}
