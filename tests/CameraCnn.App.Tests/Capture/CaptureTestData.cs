// CaptureTestData: inputs for the capture CLI tests: small untrained models with non-default preprocessing (crop +
// BGR, letterbox), a backbone without labels, MJPG videos whose frames carry their number as a grey level, and image folders.
using System.Text.Json;
using CameraCnn.App.Tests.Infrastructure;
using CameraCnn.Engine;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Training;
using OpenCvSharp;
using Xunit.Sdk;

namespace CameraCnn.App.Tests.Capture;

public static class CaptureTestData
{
    public static readonly string[] Labels = ["red", "green", "blue"];

    /// <summary>Crop + BGR + per-channel mean/std: everything the old stretch-only predict path got wrong.</summary>
    public static readonly Preprocessing CropBgr = new()
    {
        Channels = 3, Height = 16, Width = 16, ColorOrder = "bgr", Resize = "crop",
        Scale = 1f / 255f, Mean = [0.4f, 0.5f, 0.6f], Std = [0.2f, 0.25f, 0.3f],
    };

    /// <summary>An untrained (seeded) LeNet classifier with <see cref="Labels"/>, saved as ONNX.</summary>
    public static string WriteClassifier(string path, Preprocessing? pre = null)
    {
        var model = Model.Create("lenet", pre ?? CropBgr, Labels);
        Initializer.Initialize(model.Graph, seed: 3);
        model.Save(path);
        return path;
    }

    /// <summary>A tiny "backbone": conv, ReLU, global average pooling, flatten to [N, 8]; preprocessing but no labels.</summary>
    public static string WriteBackbone(string path)
    {
        var g = new Graph();
        var x = g.AddInput("input", -1, 3, 16, 16);
        x = g.Add(new Conv2d(3, 8, 3, 1, 1) { Name = "conv" }, x);
        x = g.Add(new ReLU { Name = "relu" }, x);
        x = g.Add(new GlobalAvgPool { Name = "gap" }, x);
        x = g.Add(new Flatten { Name = "embedding" }, x);
        g.MarkOutput(x);
        Initializer.Initialize(g, seed: 5);
        new Model(g, null, CropBgr with { Resize = "letterbox" }).Save(path);
        return path;
    }

    /// <summary>Grey level of frame i in <see cref="WriteVideo"/> videos (12 apart, so JPEG error cannot confuse them).</summary>
    public static int Level(int i) => 8 + 12 * (i % 20);

    public static int FrameNumberOf(Mat frame) => (int)Math.Round((Cv2.Mean(frame).Val1 - 8) / 12);

    /// <summary>An MJPG .avi (what this OpenCV runtime writes and reads back) of flat grey frames at <see cref="Level"/>(i).</summary>
    public static string WriteVideo(string path, int frames, int width = 48, int height = 32)
    {
        using (var writer = new VideoWriter(path, FourCC.MJPG, 25, new Size(width, height)))
        {
            if (!writer.IsOpened()) throw new XunitException($"VideoWriter cannot write MJPG to {path}");
            for (int i = 0; i < frames; i++)
            {
                using var mat = new Mat(height, width, MatType.CV_8UC3, Scalar.All(Level(i)));
                writer.Write(mat);
            }
        }
        return path;
    }

    public static string WriteImage(string path, int height, int width, Scalar bgr)
    {
        using var mat = new Mat(height, width, MatType.CV_8UC3, bgr);
        Cv2.Rectangle(mat, new Rect(width / 4, height / 4, width / 2, height / 2), new Scalar(255 - bgr.Val0, 128, bgr.Val2 / 2), -1);
        if (!Cv2.ImWrite(path, mat)) throw new XunitException($"OpenCV could not write {path}");
        return path;
    }

    /// <summary>Every stdout line parsed as JSON (the --json lines contract: frames, then the summary last).</summary>
    public static JsonElement[] JsonLines(CliResult r)
    {
        try
        {
            return r.StdoutLines.Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToArray();
        }
        catch (JsonException e)
        {
            throw new XunitException($"stdout is not JSON lines ({e.Message}):\n{r}");
        }
    }
}
