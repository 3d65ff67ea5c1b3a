// OnnxTestKit: seeded parameter filling, running an exported model in ONNX Runtime (the reference), comparing
// outputs. ONNX Runtime is a test-only dependency.
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Onnx;
using CameraCnn.Engine.Training;
using Microsoft.ML.OnnxRuntime;

namespace CameraCnn.Engine.Tests.OnnxInterop;

internal static class OnnxTestKit
{
    public static Tensor RandomTensor(Random rng, float lo, float hi, params int[] shape)
    {
        var t = new Tensor(shape);
        for (int i = 0; i < t.Length; i++) t.Data[i] = lo + (hi - lo) * rng.NextSingle();
        return t;
    }

    private static void Uniform(Tensor t, Random rng, float lo, float hi)
    {
        for (int i = 0; i < t.Length; i++) t.Data[i] = lo + (hi - lo) * rng.NextSingle();
    }

    /// <summary>
    /// Seeded weights (Initializer.Initialize, fan-in uniform), then random biases and non-trivial batch-norm scale, shift and
    /// running statistics, so that no parameter sits at a value that would hide a mistake (0 bias, unit variance).
    /// </summary>
    public static void Randomize(Graph graph, int seed)
    {
        Initializer.Initialize(graph, seed);
        var rng = new Random(seed + 1);
        foreach (var node in graph.Nodes)
            switch (node.Layer)
            {
                case Conv2d c when c.Bias is not null: Uniform(c.Bias.Value, rng, -0.5f, 0.5f); break;
                case Dense d when d.Bias is not null: Uniform(d.Bias.Value, rng, -0.5f, 0.5f); break;
                case BatchNorm2d b:
                    Uniform(b.Scale.Value, rng, 0.5f, 1.5f);
                    Uniform(b.Shift.Value, rng, -0.5f, 0.5f);
                    Uniform(b.RunningMean.Value, rng, -0.5f, 0.5f);
                    Uniform(b.RunningVar.Value, rng, 0.3f, 2.5f);
                    break;
            }
    }

    /// <summary>Runs the model bytes in ONNX Runtime (no graph optimisations) and returns every graph output by name.</summary>
    public static Dictionary<string, (long[] Shape, float[] Data)> RunOrt(byte[] model, params Tensor[] inputs)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        using var session = new InferenceSession(model, options);
        Assert.Equal(inputs.Length, session.InputNames.Count);
        var values = new List<OrtValue>();
        try
        {
            foreach (var t in inputs)
                values.Add(OrtValue.CreateTensorValueFromMemory((float[])t.Data.Clone(), t.Shape.Select(d => (long)d).ToArray()));
            using var runOptions = new RunOptions();
            using var outputs = session.Run(runOptions, session.InputNames, values, session.OutputNames);
            var result = new Dictionary<string, (long[], float[])>();
            int k = 0;
            foreach (var o in outputs)
            {
                result[session.OutputNames[k++]] = (o.GetTensorTypeAndShape().Shape, o.GetTensorDataAsSpan<float>().ToArray());
            }
            return result;
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    /// <summary>
    /// Exports the model, runs it in ONNX Runtime and in our engine (inference mode), and checks every graph output:
    /// same shape, max |ours - ort| &lt;= tolerance. Returns the largest difference seen.
    /// </summary>
    public static double AssertOrtParity(Model model, Tensor input, double tolerance = 1e-4)
    {
        byte[] bytes = OnnxExporter.ToBytes(model);
        var ort = RunOrt(bytes, input);
        model.Graph.Forward(input, training: false);
        Assert.Equal(model.Graph.Outputs.Count, ort.Count);
        double worst = 0;
        foreach (var node in model.Graph.Outputs)
        {
            Assert.True(ort.TryGetValue(node.Name, out var o), $"ONNX Runtime produced no output '{node.Name}'");
            Tensor ours = node.Output;
            Assert.Equal(ours.Shape.Select(d => (long)d).ToArray(), o.Shape);
            double max = MaxAbsDiff(ours.Data, o.Data, out int at);
            Assert.True(max <= tolerance,
                $"output '{node.Name}' {ours.ShapeString}: max |ours - ort| = {max:g4} at {at} (ours {ours.Data[at]}, ort {o.Data[at]})");
            Assert.All(ours.Data, v => Assert.True(float.IsFinite(v)));
            worst = Math.Max(worst, max);
        }
        return worst;
    }

    public static double MaxAbsDiff(float[] a, float[] b, out int at)
    {
        Assert.Equal(a.Length, b.Length);
        double max = 0;
        at = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double d = Math.Abs((double)a[i] - b[i]);
            if (double.IsNaN(d)) d = double.PositiveInfinity;
            if (d > max) { max = d; at = i; }
        }
        return max;
    }

    public static Preprocessing LeNetPre => new() { Channels = 1, Height = 28, Width = 28, ColorOrder = "gray", Mean = [0.5f], Std = [0.25f] };

    public static Preprocessing ResNetPre => new()
    {
        Channels = 3, Height = 32, Width = 32, ColorOrder = "bgr", Mean = [0.485f, 0.456f, 0.406f], Std = [0.229f, 0.224f, 0.225f],
        Resize = "crop",
    };

    public static readonly string[] Labels = ["cat", "dog", "bird", "ünïcödé label", "a \"quoted\" one"];

    /// <summary>
    /// A full architecture with seeded weights whose batch-norm layers hold running statistics from a few training-mode
    /// forwards (and random affine parameters), so inference exercises non-trivial normalisation.
    /// </summary>
    public static Model TrainedLikeModel(string arch, int seed)
    {
        var pre = arch == "lenet" ? LeNetPre : ResNetPre;
        var model = Model.Create(arch, pre, Labels);
        Initializer.Initialize(model.Graph, seed);
        var rng = new Random(seed + 7);
        foreach (var node in model.Graph.Nodes)
            if (node.Layer is BatchNorm2d b)
            {
                Uniform(b.Scale.Value, rng, 0.5f, 1.5f);
                Uniform(b.Shift.Value, rng, -0.3f, 0.3f);
            }
            else if (node.Layer is Dense d && d.Bias is not null) Uniform(d.Bias.Value, rng, -0.2f, 0.2f);
        for (int step = 0; step < 3; step++)
        {
            // Shifted, scaled inputs so the running mean and variance move well away from 0 and 1.
            var x = RandomTensor(rng, -1f + step, 2f + 2 * step, 4, pre.Channels, pre.Height, pre.Width);
            model.Graph.Forward(x, training: true);
        }
        foreach (var node in model.Graph.Nodes)
            if (node.Layer is BatchNorm2d b)
            {
                Assert.Contains(b.RunningMean.Value.Data, v => Math.Abs(v) > 1e-3);
                Assert.Contains(b.RunningVar.Value.Data, v => Math.Abs(v - 1) > 1e-3);
            }
        return model;
    }

    public static Tensor InputFor(Model model, int batch, int seed)
    {
        var pre = model.Preprocessing!;
        return RandomTensor(new Random(seed), -1f, 1f, batch, pre.Channels, pre.Height, pre.Width);
    }
}
