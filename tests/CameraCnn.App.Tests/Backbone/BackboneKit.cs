// BackboneKit: the shipped ResNet18 files (as the App project copies them into this test output), ONNX Runtime as
// the reference (test-only dependency), photos decoded the way ML.NET's featurizer sample prepares them, and the
// parity measure the backbone tests report: max |ours - ort| relative to max |ort|.
using CameraCnn.App.Cli;
using CameraCnn.Engine;
using Microsoft.ML.OnnxRuntime;
using OpenCvSharp;
using Xunit.Sdk;

namespace CameraCnn.App.Tests.Backbone;

internal static class BackboneKit
{
    public const int Size = 224;

    /// <summary>Parity bar of the issue: max abs difference at most 1e-3 of the output's scale (max |ORT output|).</summary>
    public const double RelativeTolerance = 1e-3;

    public static string ModelsDirectory => Path.Combine(AppContext.BaseDirectory, "models");
    public static string BackbonePath => File(ModelCatalog.ResNet18File);
    public static string PreprocessPath => File(ModelCatalog.ResNet18PreprocessFile);

    private static string File(string name)
    {
        string path = Path.Combine(ModelsDirectory, name);
        if (!System.IO.File.Exists(path)) throw new XunitException($"{path} is missing: the App project should copy it into every referencing project's output");
        return path;
    }

    /// <summary>Photos from Debian's darknet package (scripts/setup.sh installs it).</summary>
    public const string PhotoDirectory = "/usr/share/darknet/data";

    public static string Photo(string name)
    {
        string path = Path.Combine(PhotoDirectory, name);
        if (!System.IO.File.Exists(path)) throw new XunitException($"{path} is missing: install the darknet package (scripts/setup.sh does)");
        return path;
    }

    /// <summary>
    /// An image as ML.NET's DnnFeaturizeImage sample feeds the featurizer: ResizeImages(224, 224) with its default
    /// IsoCrop/Center (scale uniformly to cover, cut the centre), then ExtractPixels defaults: planar R, G, B as floats
    /// 0..255. Returns [1, 3, 224, 224].
    /// </summary>
    public static Tensor LoadPhotoRgb255(string path)
    {
        using var bgr = Cv2.ImRead(path, ImreadModes.Color);
        if (bgr.Empty()) throw new XunitException($"OpenCV cannot decode {path}");
        double aspect = Math.Max((double)Size / bgr.Cols, (double)Size / bgr.Rows);
        int w = Math.Max(Size, (int)Math.Round(bgr.Cols * aspect)), h = Math.Max(Size, (int)Math.Round(bgr.Rows * aspect));
        using var scaled = new Mat();
        Cv2.Resize(bgr, scaled, new Size(w, h), 0, 0, aspect < 1 ? InterpolationFlags.Area : InterpolationFlags.Linear);
        using var centre = new Mat(scaled, new Rect((w - Size) / 2, (h - Size) / 2, Size, Size));
        using var packed = centre.Clone(); // a ROI is not continuous; the clone is
        ReadOnlySpan<byte> hwc = packed.AsSpan<byte>();
        var x = new Tensor(1, 3, Size, Size);
        const int plane = Size * Size;
        for (int p = 0; p < plane; p++)
        {
            x.Data[p] = hwc[3 * p + 2];             // R (OpenCV stores B, G, R)
            x.Data[plane + p] = hwc[3 * p + 1];     // G
            x.Data[2 * plane + p] = hwc[3 * p];     // B
        }
        return x;
    }

    public static Tensor Random(int seed, float lo, float hi)
    {
        var rng = new System.Random(seed);
        var x = new Tensor(1, 3, Size, Size);
        for (int i = 0; i < x.Length; i++) x.Data[i] = lo + (hi - lo) * rng.NextSingle();
        return x;
    }

    /// <summary>ONNX Runtime on one file: plain CPU execution, no graph rewrites (the unfused graph is the reference).</summary>
    public static InferenceSession OpenOrt(string path)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        return new InferenceSession(path, options);
    }

    /// <summary>Runs a single-input, single-output session.</summary>
    public static Tensor RunOrt(InferenceSession session, Tensor input)
    {
        using var value = OrtValue.CreateTensorValueFromMemory((float[])input.Data.Clone(), input.Shape.Select(d => (long)d).ToArray());
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, session.InputNames, [value], session.OutputNames);
        var o = outputs[0];
        int[] shape = o.GetTensorTypeAndShape().Shape.Select(d => (int)d).ToArray();
        return new Tensor(shape, o.GetTensorDataAsSpan<float>().ToArray());
    }

    /// <summary>max |ours - ort|, max |ort| and their ratio; a NaN anywhere counts as an infinite difference.</summary>
    public readonly record struct Parity(double MaxAbs, double Scale, int At)
    {
        public double Relative => MaxAbs / Scale;
        public override string ToString() => $"max |ours - ort| = {MaxAbs:g3}, max |ort| = {Scale:g4}, relative {Relative:g3}";
    }

    public static Parity Compare(Tensor ours, Tensor ort)
    {
        Assert.Equal(ort.Shape, ours.Shape);
        double max = 0, scale = 0;
        int at = 0;
        for (int i = 0; i < ours.Length; i++)
        {
            double d = Math.Abs((double)ours.Data[i] - ort.Data[i]);
            if (double.IsNaN(d)) d = double.PositiveInfinity;
            if (d > max) (max, at) = (d, i);
            scale = Math.Max(scale, Math.Abs(ort.Data[i]));
        }
        return new Parity(max, scale, at);
    }

    /// <summary>Fails unless the difference is within <see cref="RelativeTolerance"/> of a non-trivial output scale.</summary>
    public static Parity AssertParity(Tensor ours, Tensor ort, string what)
    {
        var p = Compare(ours, ort);
        Assert.True(p.Scale > 1e-3, $"{what}: the reference output is all (near) zero, max |ort| = {p.Scale}");
        Assert.True(p.MaxAbs <= RelativeTolerance * p.Scale,
            $"{what}: {p} at {p.At} (ours {ours.Data[p.At]}, ort {ort.Data[p.At]}), over the bar {RelativeTolerance:g}");
        return p;
    }
}
