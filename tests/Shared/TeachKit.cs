// TeachKit: inputs for the teach-mode tests of every project: synthetic scenes whose classes differ in content (a red
// disc, a green square, a blue triangle moving over a noisy grey background), written as MJPG videos with OpenCV's
// VideoWriter and read back as frames; a tiny seeded conv backbone for the fast tests, and a tiny residual one for the
// fine-tuning tests; polling with a timeout. Linked in from tests/Shared; the App tests add what needs a TeachSession
// (TeachKit.Session.cs).
using System.Diagnostics;
using CameraCnn.Engine;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Training;
using OpenCvSharp;
using Xunit.Sdk;

namespace CameraCnn.Tests;

internal static partial class TeachKit
{
    public static readonly string[] SceneNames = ["red_disc", "green_square", "blue_triangle"];
    public const int FrameWidth = 160, FrameHeight = 120;

    /// <summary>
    /// Frame <paramref name="t"/> of scene <paramref name="scene"/>: the scene's shape, in its colour and a size that
    /// varies a little, moving on a path set by <paramref name="seed"/> over a grey background with per-frame noise (so
    /// no two frames are alike). Another seed gives another path and other noise: held-out videos.
    /// </summary>
    public static Mat RenderFrame(int scene, int t, int seed, int width = FrameWidth, int height = FrameHeight)
    {
        var rng = new Random(seed * 7919 + scene * 104729 + t);
        var path = new Random(seed * 31 + scene);
        double phase = path.NextDouble() * Math.PI * 2, speed = 0.15 + 0.1 * path.NextDouble();
        var mat = new Mat(height, width, MatType.CV_8UC3, Scalar.All(120));
        using (var noise = new Mat(height, width, MatType.CV_8UC3))
        {
            Cv2.Randu(noise, Scalar.All(0), Scalar.All(40));
            Cv2.Add(mat, noise, mat);
        }
        int r = height / 5 + rng.Next(-3, 4);
        int cx = (int)(width / 2 + (width / 2 - r - 4) * Math.Sin(phase + speed * t));
        int cy = (int)(height / 2 + (height / 2 - r - 4) * Math.Cos(phase * 0.7 + speed * 1.3 * t));
        var centre = new Point(cx, cy);
        switch (scene)
        {
            case 0:
                Cv2.Circle(mat, centre, r, new Scalar(30, 30, 220), -1, LineTypes.AntiAlias);
                break;
            case 1:
                Cv2.Rectangle(mat, new Rect(cx - r, cy - r, 2 * r, 2 * r), new Scalar(40, 200, 40), -1);
                break;
            default:
                Cv2.FillPoly(mat, [[new Point(cx, cy - r), new Point(cx - r, cy + r), new Point(cx + r, cy + r)]], new Scalar(220, 60, 30), LineTypes.AntiAlias);
                break;
        }
        return mat;
    }

    /// <summary>An MJPG .avi of <paramref name="frames"/> frames of a scene (what this OpenCV build writes and reads).</summary>
    public static string WriteVideo(string path, int scene, int frames, int seed)
    {
        using var writer = new VideoWriter(path, FourCC.MJPG, 25, new Size(FrameWidth, FrameHeight));
        if (!writer.IsOpened()) throw new XunitException($"VideoWriter cannot write MJPG to {path}");
        for (int t = 0; t < frames; t++)
        {
            using var frame = RenderFrame(scene, t, seed);
            writer.Write(frame);
        }
        return path;
    }

    /// <summary>Every frame of a video file (decoded BGR).</summary>
    public static List<Mat> ReadVideo(string path)
    {
        using var capture = new VideoCapture(path);
        if (!capture.IsOpened()) throw new XunitException($"OpenCV cannot open {path}");
        var frames = new List<Mat>();
        while (true)
        {
            var m = new Mat();
            if (!capture.Read(m) || m.Empty())
            {
                m.Dispose();
                break;
            }
            frames.Add(m);
        }
        return frames;
    }

    /// <summary>Writes frames as PNGs into root/class/ (a held-out image folder for `camcnn eval`).</summary>
    public static void WriteFolder(string root, string className, IEnumerable<Mat> frames)
    {
        string dir = Directory.CreateDirectory(Path.Combine(root, className)).FullName;
        int i = 0;
        foreach (var f in frames)
            if (!Cv2.ImWrite(Path.Combine(dir, $"{i++:D4}.png"), f)) throw new XunitException($"cannot write into {dir}");
    }

    /// <summary>Preprocessing of the tiny backbone: 32x32 centre crop, RGB, scaled to [0, 1].</summary>
    public static readonly Preprocessing TinyPreprocessing = new()
    {
        Channels = 3, Height = 32, Width = 32, ColorOrder = "rgb", Resize = "crop", Scale = 1f / 255f, Mean = [0.5f], Std = [0.25f],
    };

    /// <summary>
    /// A stand-in backbone, fast enough to run hundreds of frames in a test: conv 3x3 (16) + ReLU + conv 3x3 stride 2
    /// (16) + ReLU + global average pooling: [1, 3, 32, 32] -> [1, 16, 1, 1]. Seeded, untrained.
    /// </summary>
    public static Model TinyBackbone()
    {
        var g = new Graph();
        var x = g.AddInput("image", 1, 3, 32, 32);
        x = g.Add(new Conv2d(3, 16, 3, 1, 1) { Name = "conv1" }, x);
        x = g.Add(new ReLU { Name = "relu1" }, x);
        x = g.Add(new Conv2d(16, 16, 3, 2, 1) { Name = "conv2" }, x);
        x = g.Add(new ReLU { Name = "relu2" }, x);
        x = g.Add(new GlobalAvgPool { Name = "pool" }, x);
        g.MarkOutput(x);
        Initializer.Initialize(g, seed: 11, InitScheme.He); // He: the random features these tests were tuned on
        return new Model(g, [], TinyPreprocessing);
    }

    /// <summary>
    /// A stand-in ResNet for the fine-tuning tests, built as CNTK exported ResNet18 (conv, batch norm, ReLU, Add with an
    /// identity or a projection shortcut), small enough to fine-tune hundreds of frames in seconds: [1, 3, 32, 32] -> stem
    /// (conv 3x3, 16) -> identity block "b1" -> projection block "b2" (stride 2, 32) -> identity block "b3" -> global
    /// average pooling "features" [1, 32, 1, 1]. Three residual blocks; seeded, untrained, with batch-norm statistics that
    /// are not the identity (so inference-mode batch norm matters).
    /// </summary>
    public static Model TinyResNet()
    {
        var g = new Graph();
        var x = g.AddInput("image", 1, 3, 32, 32);
        var stem = g.Add(new ReLU { Name = "stem_relu" }, g.Add(new BatchNorm2d(16) { Name = "stem_bn" }, g.Add(new Conv2d(3, 16, 3, 1, 1, bias: false) { Name = "stem_conv" }, x)));
        var b1 = ResidualBlock(g, stem, 16, 16, 1, "b1");
        var b2 = ResidualBlock(g, b1, 16, 32, 2, "b2");
        var b3 = ResidualBlock(g, b2, 32, 32, 1, "b3");
        g.MarkOutput(g.Add(new GlobalAvgPool { Name = "features" }, b3));
        Initializer.Initialize(g, seed: 12, InitScheme.He);
        var rng = new Random(13);
        foreach (var n in g.Nodes)
            if (n.Layer is BatchNorm2d bn)
                for (int c = 0; c < bn.Channels; c++)
                {
                    bn.Scale.Value.Data[c] = 0.6f + 0.8f * rng.NextSingle();
                    bn.Shift.Value.Data[c] = 0.2f * rng.NextSingle() - 0.1f;
                    bn.RunningMean.Value.Data[c] = 0.2f * rng.NextSingle() - 0.1f;
                    bn.RunningVar.Value.Data[c] = 0.5f + rng.NextSingle();
                }
        return new Model(g, [], TinyPreprocessing);
    }

    /// <summary>relu(bn(conv(relu(bn(conv(x))))) + shortcut(x)); the shortcut is conv 1x1 + BN when the shape changes.</summary>
    private static Node ResidualBlock(Graph g, Node x, int cin, int cout, int stride, string name)
    {
        Node shortcut = x;
        if (stride != 1 || cin != cout)
            shortcut = g.Add(new BatchNorm2d(cout) { Name = name + "_proj_bn" }, g.Add(new Conv2d(cin, cout, 1, stride, 0, bias: false) { Name = name + "_proj" }, x));
        var a = g.Add(new ReLU { Name = name + "_relu1" }, g.Add(new BatchNorm2d(cout) { Name = name + "_bn1" }, g.Add(new Conv2d(cin, cout, 3, stride, 1, bias: false) { Name = name + "_conv1" }, x)));
        var b = g.Add(new BatchNorm2d(cout) { Name = name + "_bn2" }, g.Add(new Conv2d(cout, cout, 3, 1, 1, bias: false) { Name = name + "_conv2" }, a));
        return g.Add(new ReLU { Name = name + "_out" }, g.Add(new ResidualAdd { Name = name + "_add" }, b, shortcut));
    }

    /// <summary>Polls <paramref name="condition"/> every 5 ms until it holds; fails the test with <paramref name="what"/> on timeout.</summary>
    public static void WaitUntil(Func<bool> condition, TimeSpan timeout, Func<string> what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout) throw new XunitException($"timed out after {timeout.TotalSeconds:F0} s waiting for {what()}");
            Thread.Sleep(5);
        }
    }
}
