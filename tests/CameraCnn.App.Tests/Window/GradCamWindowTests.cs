// GradCamWindowTests: G in a real window under Xvfb, with a small LeNet that centre-crops the still (so the region the
// network saw is a part of the picture). With G at full opacity the screenshot, at the centre of every map cell not under
// a panel, is viridis of `camcnn explain`'s map of the same class on the same image; the picture the crop cut away and
// the pillarbox stay as they were; the figures (Grad-CAM time, its share of the forward) are in --stats-json and nothing
// is allocated per frame on either thread. A click on a bar explains that class (again: the prediction), [ moves the
// layer, and a backbone without a head shows why there is no map instead of crashing.
using System.Text.Json;
using CameraCnn.App.Tests.Infrastructure;
using CameraCnn.Engine;
using CameraCnn.Engine.Data;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Training;
using CameraCnn.Tests;
using Xunit.Abstractions;
using static CameraCnn.App.Tests.Window.ScreenPixels;

namespace CameraCnn.App.Tests.Window;

/// <summary>The crop LeNet and the two runs most G tests compare (no keys; G at full opacity), made once.</summary>
public sealed class GradCamRuns : IDisposable
{
    private readonly Lock _lock = new();
    private string? _model;
    private WindowRun? _plain, _heat;

    /// <summary>G, then Up five times: the heatmap at opacity 100 %, so its pixels are the colormap's own.</summary>
    public const string HeatKeys = "G,Up,Up,Up,Up,Up";

    public string Model(WindowRunner runner)
    {
        lock (_lock)
        {
            if (_model is not null) return _model;
            var pre = new Preprocessing { Channels = 3, Height = 32, Width = 32, ColorOrder = "rgb", Resize = "crop", Scale = 1f / 255f };
            var model = Engine.Models.Model.Create("lenet", pre, WindowRunner.Labels);
            Initializer.Initialize(model.Graph, seed: 1);
            model.Save(runner.In("lenet-crop.onnx"));
            return _model = runner.In("lenet-crop.onnx");
        }
    }

    public WindowRun Plain(WindowRunner runner)
    {
        string model = Model(runner);
        lock (_lock) return _plain ??= runner.RunModel(model, keys: null);
    }

    public WindowRun Heat(WindowRunner runner)
    {
        string model = Model(runner);
        lock (_lock) return _heat ??= runner.RunModel(model, HeatKeys, frames: 48);
    }

    public void Dispose()
    {
        _plain?.Dispose();
        _heat?.Dispose();
    }
}

[Collection(WindowCollection.Name)]
public sealed class GradCamWindowTests(WindowFixture f, GradCamRuns runs, ITestOutputHelper log) : IClassFixture<GradCamRuns>
{
    private JsonElement Gradcam(WindowRun run) => run.View.GetProperty("gradcam");

    /// <summary>`camcnn explain` of the crop model on the still (the predicted class, or <paramref name="cls"/>): the map and the JSON line.</summary>
    private (Tensor Map, JsonElement Json) Explain(string? cls = null)
    {
        string heat = f.Runner.In($"explain-{cls ?? "top"}.npy");
        var args = new List<string> { "explain", "--model", runs.Model(f.Runner), "--image", f.Runner.ImagePath, "--out", f.Runner.In("explain.png"), "--heatmap", heat, "--json" };
        if (cls is not null) args.AddRange(["--class", cls]);
        var r = Camcnn.Run(args.ToArray());
        CliAssert.Succeeded(r);
        return (Npy.Read(heat), CliAssert.LastLineJson(r));
    }

    /// <summary>
    /// At the centre of every map cell whose centre no panel covers, the screenshot (heatmap at full opacity) is
    /// viridis(map value): the map was drawn where the network looked, the right way round, with its values.
    /// </summary>
    private void AssertDrawnMap(WindowRun run, Tensor map, string what)
    {
        int[] q = run.Rect("heatmap") ?? throw new Xunit.Sdk.XunitException($"{what}: no heatmap drawn\n{run.Stats}");
        int[] bars = run.Rect("bars")!, legend = run.Rect("gradcam")!;
        int h = map.Shape[0], w = map.Shape[1], cells = 0;
        double worst = 0;
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++)
            {
                int x = q[0] + (int)((j + 0.5) * q[2] / w), y = q[1] + (int)((i + 0.5) * q[3] / h);
                bool underBars = x < bars[0] + bars[2] && y < bars[1] + bars[3];
                if (underBars || y >= legend[1]) continue; // the bars; the Grad-CAM row and the status line under it
                var (r, g, b) = At(run.Screenshot, x, y);
                var v = Viridis(map.Data[i * w + j]);
                worst = Math.Max(worst, Math.Max(Math.Abs(r - v.R), Math.Max(Math.Abs(g - v.G), Math.Abs(b - v.B))));
                cells++;
            }
        log.WriteLine($"{what}: {cells} of {h * w} cells checked, worst channel difference {worst:F1}");
        Assert.True(cells >= h * w * 2 / 3, $"{what}: only {cells} cells are not under a panel");
        Assert.True(worst <= 8, $"{what}: a cell's colour is {worst:F0} levels from viridis of explain's map");
        float[] values = map.Data.AsSpan(0, h * w).ToArray();
        Assert.True(values.Max() - values.Min() > 0.5, $"{what}: the map is nearly flat ({values.Min()}..{values.Max()}): the check shows little");
    }

    [Fact]
    public void G_draws_the_predicted_class_map_over_the_region_the_network_saw_and_nothing_else_changes()
    {
        var plain = runs.Plain(f.Runner);
        var heat = runs.Heat(f.Runner);
        var g = Gradcam(heat);
        log.WriteLine(g.ToString());
        Assert.Equal("Map", g.GetProperty("state").GetString());
        Assert.Equal("pool2", g.GetProperty("layer").GetString());
        Assert.Equal(new[] { 32, 8, 8 }, g.GetProperty("map").EnumerateArray().Select(e => e.GetInt32()));
        Assert.False(g.GetProperty("clicked").GetBoolean());
        Assert.Equal(1.0, g.GetProperty("opacity").GetDouble(), 3);

        // 320x240 still, pillarboxed to 960x720 from x = 160 (3 screen pixels per frame pixel); the crop keeps its
        // centre 240x240, which is 720x720 from x = 280 on screen.
        Assert.Equal(new[] { 160, 0, 960, 720 }, heat.Rect("camera"));
        Assert.Equal(new[] { 280, 0, 720, 720 }, heat.Rect("heatmap"));
        var (map, json) = Explain();
        Assert.Equal(json.GetProperty("class").GetString(), g.GetProperty("class").GetString());
        Assert.Equal(json.GetProperty("layer").GetString(), g.GetProperty("layer").GetString());
        AssertDrawnMap(heat, map, "predicted class");
        int[] inside = [300, 140, 680, 480];
        double viridis = ViridisFraction(heat.Screenshot, inside), before = ViridisFraction(plain.Screenshot, inside);
        Assert.True(viridis > 0.9 && before < 0.05, $"viridis-coloured pixels in the region: {before:P0} without G, {viridis:P0} with it");

        // The columns the crop cut away, and the pillarbox, are as they were (between the bars and the bottom rows).
        foreach (int[] outside in new[] { new[] { 165, 140, 110, 480 }, [1005, 140, 110, 480], [20, 140, 130, 480], [1130, 140, 140, 480] })
        {
            double diff = MeanAbsDiff(heat.Screenshot, plain.Screenshot, outside);
            Assert.True(diff < 2, $"[{string.Join(", ", outside)}] outside the region changed with G (mean difference {diff:F1})");
        }

        // The figures, and nothing allocated per frame in the steady state, on the render thread or the inference thread.
        var s = heat.Stats;
        var ms = s.GetProperty("gradcamMs");
        var share = s.GetProperty("gradcamShareOfForward");
        log.WriteLine($"gradcamMs {ms}, share {share}, inferenceMs {s.GetProperty("inferenceMs")}");
        Assert.True(ms.GetProperty("samples").GetInt32() > 0 && ms.GetProperty("p50").GetDouble() > 0, ms.ToString());
        Assert.Equal(ms.GetProperty("samples").GetInt32(), share.GetProperty("samples").GetInt32());
        Assert.True(share.GetProperty("p50").GetDouble() > 0, share.ToString());
        Assert.Equal(0, plain.Stats.GetProperty("gradcamMs").GetProperty("samples").GetInt32());
        Assert.True(s.GetProperty("steadyFrames").GetInt64() >= 10, s.ToString());
        Assert.Equal(0, s.GetProperty("allocatedBytesPerFrame").GetDouble());
        Assert.True(s.GetProperty("inferenceSteadyFrames").GetInt64() >= 3, s.ToString());
        Assert.Equal(0, s.GetProperty("inferenceAllocatedBytesPerFrame").GetDouble());
    }

    [Fact]
    public void A_click_on_a_bar_explains_that_class_and_a_second_click_the_prediction_again()
    {
        var plain = runs.Plain(f.Runner);
        int[] rows = plain.Rect("barRows")!;
        string second = plain.Stats.GetProperty("top")[1].GetProperty("label").GetString()!;
        string click = FormattableString.Invariant($"Click:{(rows[4] + rows[6] / 2.0) / WindowRunner.Width:F4}:{(rows[5] + rows[7] / 2.0) / WindowRunner.Height:F4}");

        using var once = f.Runner.RunModel(runs.Model(f.Runner), $"{GradCamRuns.HeatKeys},Wait:1,{click}", frames: 48);
        var g = Gradcam(once);
        Assert.Equal((second, true), (g.GetProperty("class").GetString(), g.GetProperty("clicked").GetBoolean()));
        var (map, _) = Explain(second);
        AssertDrawnMap(once, map, $"clicked class {second}");
        double diff = MeanAbsDiff(once.Screenshot, runs.Heat(f.Runner).Screenshot, [300, 140, 680, 480]);
        Assert.True(diff > 3, $"another class's map should look different (mean difference {diff:F1})");

        using var twice = f.Runner.RunModel(runs.Model(f.Runner), $"{GradCamRuns.HeatKeys},Wait:1,{click},{click}", frames: 48);
        var back = Gradcam(twice);
        Assert.False(back.GetProperty("clicked").GetBoolean());
        Assert.Equal(Gradcam(runs.Heat(f.Runner)).GetProperty("class").GetString(), back.GetProperty("class").GetString());
    }

    [Fact]
    public void Brackets_move_the_heatmap_layer_while_G_is_on()
    {
        using var back = f.Runner.RunModel(runs.Model(f.Runner), "G,[");
        var g = Gradcam(back);
        Assert.Equal(("conv2_relu", 2, 4), (g.GetProperty("layer").GetString(), g.GetProperty("layerIndex").GetInt32(), g.GetProperty("layers").GetInt32()));
        Assert.Equal(new[] { 32, 16, 16 }, g.GetProperty("map").EnumerateArray().Select(e => e.GetInt32()));
        // The keys moved the heatmap's layer, not the feature maps' (F is off; its layer stays where it was).
        Assert.Equal(runs.Plain(f.Runner).View.GetProperty("layerIndex").GetInt32(), back.View.GetProperty("layerIndex").GetInt32());

        using var wrap = f.Runner.RunModel(runs.Model(f.Runner), "G,]");
        var first = Gradcam(wrap);
        Assert.Equal((0, "Map"), (first.GetProperty("layerIndex").GetInt32(), first.GetProperty("state").GetString()));
        Assert.Equal(new[] { 16, 32, 32 }, first.GetProperty("map").EnumerateArray().Select(e => e.GetInt32()));
    }

    [Fact]
    public void A_backbone_without_a_head_says_why_there_is_no_heatmap()
    {
        string root = Directory.CreateDirectory(f.Runner.In("gradcam-nohead")).FullName;
        string backbone = Path.Combine(root, "tiny.onnx"), data = Path.Combine(root, "data");
        if (Directory.Exists(data)) Directory.Delete(data, recursive: true);
        TeachKit.TinyBackbone().Save(backbone);

        using var run = f.Runner.RunModel(backbone, "G", 24, null, "--data", data);
        var g = Gradcam(run);
        Assert.Equal("Message", g.GetProperty("state").GetString());
        Assert.Contains("no classes to explain yet", g.GetProperty("message").GetString());
        Assert.Null(run.Rect("heatmap"));
        int[] legend = run.Rect("gradcam")!;
        // The message is written in the Grad-CAM row, in orange (1, 0.6, 0.35).
        int orange = Count(run.Screenshot, legend, (r, gr, b) => r > 200 && gr is > 110 and < 190 && b < 130);
        Assert.True(orange > 100, $"the message should be written in the Grad-CAM row ({orange} orange pixels)");
    }
}
