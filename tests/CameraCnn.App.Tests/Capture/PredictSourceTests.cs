// PredictSourceTests: `camcnn predict --source` on videos, folders and the synthetic pattern (JSON lines per frame and a
// summary), `--image` through the model's own preprocessing (crop, BGR, backbones), and clean failures for a missing
// camera, undecodable video, empty or corrupt folders.
using CameraCnn.App.Tests.Infrastructure;
using CameraCnn.Engine.Models;
using CameraCnn.Vision;
using OpenCvSharp;
using Xunit.Abstractions;
using static CameraCnn.App.Tests.Capture.CaptureTestData;

namespace CameraCnn.App.Tests.Capture;

public sealed class PredictSourceTests(ITestOutputHelper output) : CliTest(output, "camcnn-capture")
{
    [Fact]
    public void A_video_gives_one_json_line_per_frame_in_order_and_a_summary()
    {
        string model = WriteClassifier(Dir["m.onnx"]);
        WriteVideo(Dir["clip.avi"], 12);
        var r = Run("predict", "--model", model, "--source", "clip.avi", "--json", "--top", "2");
        CliAssert.Succeeded(r);
        var lines = JsonLines(r);
        Assert.Equal(13, lines.Length);
        for (int i = 0; i < 12; i++)
        {
            Assert.Equal(i + 1, lines[i].GetProperty("frame").GetInt32());
            Assert.Equal(i, lines[i].GetProperty("source_index").GetInt32());
            var top = lines[i].GetProperty("top").EnumerateArray().ToArray();
            Assert.Equal(2, top.Length);
            Assert.Contains(top[0].GetProperty("label").GetString(), Labels);
            Assert.True(top[0].GetProperty("probability").GetDouble() >= top[1].GetProperty("probability").GetDouble());
        }
        var summary = lines[^1];
        Assert.Equal(12, CliAssert.Number(summary, "frames", r));
        Assert.Equal(12, CliAssert.Number(summary, "captured", r));
        Assert.Equal(0, CliAssert.Number(summary, "dropped", r)); // files deliver every frame unless --realtime
        Assert.True(CliAssert.Number(summary, "seconds", r) > 0);
        Assert.True(CliAssert.Number(summary, "capture_fps", r) > 0);
        Assert.True(CliAssert.Number(summary, "inference_fps", r) > 0);
        Assert.Contains("source: video clip.avi: 48x32 @ 25 fps", r.Stderr);
    }

    [Fact]
    public void Frames_caps_a_looping_or_live_source()
    {
        string model = WriteClassifier(Dir["m.onnx"]);
        WriteVideo(Dir["clip.avi"], 4);
        var looped = Run("predict", "--model", model, "--source", "clip.avi", "--loop", "--frames", "10", "--json");
        CliAssert.Succeeded(looped);
        var lines = JsonLines(looped);
        Assert.Equal(11, lines.Length);
        Assert.Equal([0, 1, 2, 3, 0, 1, 2, 3, 0, 1], lines[..10].Select(l => l.GetProperty("source_index").GetInt32()));

        var live = Run("predict", "--model", model, "--source", "synthetic", "--width", "64", "--height", "48", "--fps", "100", "--frames", "3");
        CliAssert.Succeeded(live);
        Assert.Equal(4, live.StdoutLines.Length);
        Assert.StartsWith("frame 1", live.StdoutLines[0]);
        Assert.Matches(@"^3 frame\(s\) in [\d.]+ s: capture [\d.]+ fps, inference [\d.]+ fps", live.StdoutLines[^1]);
        Assert.Contains("synthetic pattern: 64x48 @ 100 fps", live.Stderr);
    }

    [Fact]
    public void Image_uses_the_models_crop_and_bgr_preprocessing()
    {
        string modelPath = WriteClassifier(Dir["m.onnx"]);
        string image = WriteImage(Dir["wide.png"], 20, 50, new Scalar(30, 90, 220));

        var r = Run("predict", "--model", modelPath, "--image", image, "--json", "--top", "3");
        CliAssert.Succeeded(r);
        var top = CliAssert.LastLineJson(r).GetProperty("top").EnumerateArray()
            .Select(e => (Label: e.GetProperty("label").GetString()!, P: e.GetProperty("probability").GetDouble())).ToArray();

        // The same image through FramePreprocessor in this process: the CLI must agree to the printed precision.
        var model = Model.Load(modelPath);
        using var pre = new FramePreprocessor(model.Preprocessing!);
        using var mat = Cv2.ImRead(image);
        var x = pre.CreateInput();
        pre.Process(mat, x);
        float[] probs = model.Graph.Forward(x).Data.ToArray(); // a copy: the next forward reuses the output buffer
        foreach (var (label, p) in top)
            Assert.Equal(probs[Array.IndexOf(Labels, label)], p, 1e-4);

        // A stretched, RGB-ordered input (what predict did before) gives different probabilities: the test can tell.
        var stretched = new FramePreprocessor(CropBgr with { Resize = "stretch", ColorOrder = "rgb" });
        stretched.Process(mat, x);
        var other = model.Graph.Forward(x);
        double largest = Enumerable.Range(0, 3).Max(i => Math.Abs(other.Data[i] - probs[i]));
        Assert.True(largest > 1e-3, $"stretch/RGB and crop/BGR inputs gave the same probabilities (max difference {largest})");
    }

    [Fact]
    public void A_model_without_labels_prints_the_embedding_shape_and_norm()
    {
        string modelPath = WriteBackbone(Dir["backbone.onnx"]);
        string image = WriteImage(Dir["tall.png"], 40, 24, new Scalar(200, 10, 60));

        var json = Run("predict", "--model", modelPath, "--image", image, "--json");
        CliAssert.Succeeded(json);
        var result = CliAssert.LastLineJson(json);
        Assert.Equal([1, 8], result.GetProperty("embedding_shape").EnumerateArray().Select(e => e.GetInt32()));
        Assert.False(result.TryGetProperty("top", out _));

        var model = Model.Load(modelPath);
        using var pre = new FramePreprocessor(model.Preprocessing!);
        using var mat = Cv2.ImRead(image);
        var x = pre.CreateInput();
        pre.Process(mat, x);
        var embedding = model.Graph.Forward(x);
        double norm = Math.Sqrt(embedding.Data.Sum(v => (double)v * v));
        Assert.True(norm > 0);
        Assert.Equal(norm, CliAssert.Number(result, "l2_norm", json), 1e-4);

        var plain = Run("predict", "--model", modelPath, "--image", image);
        CliAssert.Succeeded(plain);
        Assert.Matches(@"^embedding \[1x8\]  L2 norm \d+\.\d{4}$", Assert.Single(plain.StdoutLines));

        var frames = Run("predict", "--model", modelPath, "--source", "synthetic", "--frames", "2", "--fps", "0", "--json");
        CliAssert.Succeeded(frames);
        Assert.All(JsonLines(frames)[..2], l => Assert.True(l.GetProperty("l2_norm").GetDouble() > 0));
    }

    [Fact]
    public void A_camera_that_does_not_exist_fails_fast_in_one_line()
    {
        string model = WriteClassifier(Dir["m.onnx"]);
        const string index = "9";
        if (File.Exists("/dev/video" + index)) return; // a machine with ten cameras: nothing to check here
        var r = Run("predict", "--model", model, "--source", index);
        CliAssert.Error(r, "camera 9");
        Assert.True(r.Elapsed < TimeSpan.FromSeconds(20), $"took {r.Elapsed}");
        if (!File.Exists("/dev/video0")) CliAssert.Error(Run("predict", "--model", model), "camera 0"); // the default source
    }

    [Fact]
    public void Bad_sources_fail_cleanly()
    {
        string model = WriteClassifier(Dir["m.onnx"]);
        File.WriteAllBytes(Dir["garbage.avi"], TestData.RandomBytes(4000, 3));
        CliAssert.Error(Run("predict", "--model", model, "--source", "garbage.avi"), "cannot open video file", "garbage.avi");
        CliAssert.Error(Run("predict", "--model", model, "--source", "missing.mp4"), "source not found", "missing.mp4");
        Dir.Sub("empty");
        CliAssert.Error(Run("predict", "--model", model, "--source", "empty"), "no images", "empty");
        CliAssert.Error(Run("predict", "--model", model, "--source", "synthetic", "--image", "x.png"), "--image", "--source");
        CliAssert.OutOfRange(Run("predict", "--model", model, "--source", "synthetic", "--frames", "0"), "--frames");

        string bad = Dir.Sub("bad");
        File.WriteAllBytes(Path.Combine(bad, "a.png"), TestData.RandomBytes(100, 1));
        File.WriteAllBytes(Path.Combine(bad, "b.jpg"), []);
        var none = Run("predict", "--model", model, "--source", "bad");
        CliAssert.FailedCleanly(none, 1, true, "no readable frames", "2 unreadable");
    }

    [Fact]
    public void A_corrupt_image_in_a_folder_is_skipped_with_a_warning_and_counted()
    {
        string model = WriteClassifier(Dir["m.onnx"]);
        string folder = Dir.Sub("pics");
        WriteImage(Path.Combine(folder, "1.png"), 20, 20, new Scalar(0, 0, 255));
        File.WriteAllBytes(Path.Combine(folder, "2.png"), TestData.RandomBytes(300, 2));
        WriteImage(Path.Combine(folder, "3.jpg"), 30, 10, new Scalar(255, 0, 0));
        var r = Run("predict", "--model", model, "--source", "pics", "--json");
        CliAssert.Succeeded(r);
        var lines = JsonLines(r);
        Assert.Equal(["1.png", "3.jpg"], lines[..2].Select(l => l.GetProperty("name").GetString()));
        Assert.Equal(1, CliAssert.Number(lines[^1], "skipped", r));
        Assert.Contains(r.StderrLines, l => l.StartsWith("camcnn: warning: skipped unreadable image") && l.Contains("2.png"));
    }

    [Fact]
    public void List_cameras_needs_no_model()
    {
        var r = Run("predict", "--list-cameras");
        CliAssert.Succeeded(r);
        if (!Directory.GetFiles("/dev", "video*").Any()) Assert.Equal("no cameras found (no /dev/video* devices)", Assert.Single(r.StdoutLines));
        CliAssert.Error(Run("predict", "--source", "synthetic"), "--model");
    }
}
