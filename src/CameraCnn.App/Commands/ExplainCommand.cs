// camcnn explain: where in an image a classifier's decision comes from. Grad-CAM of one class at one layer (Engine
// Explain/GradCam), laid over the picture the way the model's preprocessing saw it (Vision HeatmapOverlay), written as a
// PNG; the map itself as .npy; peak and centroid in the image's own coordinates.
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using CameraCnn.App.Cli;
using CameraCnn.Engine;
using CameraCnn.Engine.Data;
using CameraCnn.Engine.Explain;
using CameraCnn.Engine.IO;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Models;
using CameraCnn.Vision;
using OpenCvSharp;

namespace CameraCnn.App.Commands;

public static class ExplainCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "a classifier: an .onnx file (trained by camcnn train, a teach model, or any ONNX classifier)", Required = true };
        var image = new Option<string?>("--image") { Description = "the image to explain (PNG, JPG, BMP) (REQUIRED unless --list-layers)" };
        var cls = new Option<string?>("--class") { Description = "the class to explain: a label or a class index (default: the predicted class)" };
        var layer = new Option<string?>("--layer") { Description = "the node whose output is explained (default: the last convolutional stage before the pooling; --list-layers names them)" };
        var output = new Option<string?>("--out") { Description = "the overlay to write (PNG): the image with the heatmap blended over the part the network saw (REQUIRED unless --list-layers)" };
        var heatmap = new Option<string?>("--heatmap") { Description = "also write the map at the layer's resolution as .npy (float32 [H, W], 0..1)" };
        var json = new Option<bool>("--json") { Description = "print a JSON summary as the last line (peak and centroid as fractions 0..1 of the image, x right, y down)" };
        var list = new Option<bool>("--list-layers") { Description = "print the layers Grad-CAM can explain (name, shape; the default last) and exit" };
        var cmd = new Command("explain", "Show where in an image the network looks for a class (Grad-CAM): a heatmap over the image, its peak and centroid.")
        {
            model, image, cls, layer, output, heatmap, json, list,
        };
        cmd.SetAction(r => CliRunner.Run(() =>
        {
            if (r.GetValue(list)) return ListLayers(r.GetValue(model)!);
            string imagePath = r.GetValue(image) ?? throw Usage("--image is required (the image to explain)");
            string outPath = r.GetValue(output) ?? throw Usage("--out is required (the overlay PNG to write)");
            if (!outPath.EndsWith(".png", StringComparison.OrdinalIgnoreCase)) throw Usage($"--out {outPath}: the overlay is a PNG; give a .png path");
            string? heatPath = r.GetValue(heatmap);
            if (heatPath is not null && !heatPath.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
                throw Usage($"--heatmap {heatPath}: the map is written as .npy; give a .npy path");
            OutputPath.EnsureWritable(outPath, "--out");
            if (heatPath is not null) OutputPath.EnsureWritable(heatPath, "--heatmap");
            return Run(r.GetValue(model)!, imagePath, r.GetValue(cls), r.GetValue(layer), outPath, heatPath, r.GetValue(json));
        }));
        return cmd;
    }

    /// <summary>An option value the command cannot use: exit code 2, as for a command line that does not parse.</summary>
    private static CliException Usage(string message) => new(message, Program.UsageError);

    /// <summary>A model's classifier: the logits node (the Softmax's input when the graph ends in one) and a label per class.</summary>
    private sealed record Classifier(Model Model, Preprocessing Pre, Node Logits, string[] Labels);

    private static Classifier LoadClassifier(string name)
    {
        var model = ModelCatalog.Load(name);
        var pre = model.Preprocessing ?? throw new CliException($"{name} has no preprocessing metadata (input size, colour order, mean/std)");
        if (model.Graph.Inputs.Count != 1) throw new CliException($"{name} has {model.Graph.Inputs.Count} inputs; explain needs an image model with one");
        bool softmax = model.Graph.Output.Layer is Softmax;
        if (model.Labels.Count == 0 && !softmax)
            throw new CliException($"{name} has no classifier (no class labels, no softmax output): it computes features, not classes, so there is " +
                                   "no class to explain; teach it classes first (camcnn train --backbone) and explain that model");
        var logits = model.Logits;
        int[] shape = Shapes(model.Graph)[logits.Name];
        long k = Tensor.CheckedLength(shape) / Math.Max(1, shape[0]);
        if (model.Labels.Count > 0 && model.Labels.Count != k)
            throw new CliException($"{name} has {model.Labels.Count} class labels but its scores '{logits.Name}' hold {k} values");
        string[] labels = model.Labels.Count > 0 ? model.Labels.ToArray() : Enumerable.Range(0, (int)k).Select(i => $"class {i}").ToArray();
        return new Classifier(model, pre, logits, labels);
    }

    /// <summary>Every node's output shape for one image (the batch and any other open dimension taken as 1).</summary>
    private static Dictionary<string, int[]> Shapes(Graph g) =>
        g.InferShapes(g.Inputs.Select(i => i.InputShape!.Select(d => d < 0 ? 1 : d).ToArray()).ToList());

    private static int ListLayers(string modelName)
    {
        var c = LoadClassifier(modelName);
        var g = c.Model.Graph;
        var shapes = Shapes(g);
        var layers = GradCam.SpatialLayers(g, c.Logits);
        if (layers.Count == 0) throw new CliException($"{modelName}: no spatial layer (a convolutional feature map) feeds its classifier; nothing for Grad-CAM to explain");
        foreach (var n in layers)
            Console.WriteLine($"{n.Name}  {Tensor.Format(shapes[n.Name].AsSpan(1))}  {n.Layer!.GetType().Name}{(n == layers[^1] ? "  (default)" : "")}");
        return CliRunner.Ok;
    }

    private static int Run(string modelName, string imagePath, string? classArg, string? layerArg, string outPath, string? heatPath, bool json)
    {
        var c = LoadClassifier(modelName);
        var g = c.Model.Graph;
        var gradCam = NewGradCam(modelName, g, c.Logits, layerArg);
        int k = ResolveClass(classArg, c.Labels);

        if (!File.Exists(imagePath)) throw new CliException($"image not found: {imagePath}");
        byte[] encoded = File.ReadAllBytes(imagePath);
        using var picture = ImageFile.TryDecode(encoded) ?? throw new CliException($"cannot decode image: {imagePath}");
        using var pixels = c.Pre.Channels == 1 ? ImageFile.TryDecode(encoded, grayscale: true) ?? throw new CliException($"cannot decode image: {imagePath}") : null;
        using var preprocessor = new FramePreprocessor(c.Pre);
        var x = preprocessor.CreateInput();
        preprocessor.Process(pixels ?? picture, x);

        // The graph as loaded (not the fused inference graph): every node keeps its own value, so any --layer means what it names.
        long t0 = Stopwatch.GetTimestamp();
        var output = g.Forward(x);
        long t1 = Stopwatch.GetTimestamp();
        float[] probabilities = Probabilities(g, c.Logits, output);
        if (k < 0) k = Array.IndexOf(probabilities, probabilities.Max());
        var result = gradCam.Compute(k);
        long t2 = Stopwatch.GetTimestamp();

        var geometry = preprocessor.GeometryFor(picture.Cols, picture.Rows);
        using (var heat = HeatmapOverlay.Upsample(gradCam.Map, result.Height, result.Width, geometry, c.Pre.Width, c.Pre.Height, picture.Cols, picture.Rows))
        using (var overlay = HeatmapOverlay.Blend(picture, heat, geometry.Source))
        {
            if (!Cv2.ImEncode(".png", overlay, out byte[] png)) throw new CliException($"cannot encode the overlay as PNG for {outPath}");
            AtomicFile.WriteAllBytes(outPath, png);
        }
        if (heatPath is not null) Npy.Write(heatPath, new Tensor([result.Height, result.Width], gradCam.Map.ToArray()));

        (double X, double Y)? peak = null, centroid = null;
        if (!result.IsEmpty)
        {
            peak = HeatmapOverlay.InputToFrame(geometry, c.Pre.Width, c.Pre.Height, picture.Cols, picture.Rows, result.PeakFractionX, result.PeakFractionY);
            centroid = HeatmapOverlay.InputToFrame(geometry, c.Pre.Width, c.Pre.Height, picture.Cols, picture.Rows, result.CentroidX, result.CentroidY);
        }
        double forwardMs = Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds, camMs = Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds;
        string where = peak is { } p && centroid is { } m
            ? $"peak at ({p.X:F3}, {p.Y:F3}), centroid ({m.X:F3}, {m.Y:F3}) of the image"
            : "the map is empty: nothing in this layer speaks for the class";
        Console.WriteLine($"{c.Labels[k]} {probabilities[k]:P1}: layer {gradCam.Layer.Name} ({gradCam.Channels}x{result.Height}x{result.Width}), {where}; " +
                          $"overlay -> {outPath}{(heatPath is null ? "" : $", map -> {heatPath}")}");
        if (json)
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
            {
                ["image"] = imagePath,
                ["class"] = c.Labels[k],
                ["class_index"] = k,
                ["probability"] = Math.Round(probabilities[k], 5),
                ["layer"] = gradCam.Layer.Name,
                ["map_height"] = result.Height,
                ["map_width"] = result.Width,
                ["peak_x"] = Fraction(peak?.X),
                ["peak_y"] = Fraction(peak?.Y),
                ["centroid_x"] = Fraction(centroid?.X),
                ["centroid_y"] = Fraction(centroid?.Y),
                ["empty"] = result.IsEmpty,
                ["raw_max"] = Math.Round(result.RawMax, 6),
                ["forward_ms"] = Math.Round(forwardMs, 2),
                ["gradcam_ms"] = Math.Round(camMs, 2),
                ["overlay"] = outPath,
                ["heatmap"] = heatPath,
            }));
        return CliRunner.Ok;
    }

    private static double? Fraction(double? v) => v is { } f ? Math.Round(f, 5) : null;

    private static GradCam NewGradCam(string modelName, Graph g, Node logits, string? layerArg)
    {
        var layers = GradCam.SpatialLayers(g, logits);
        string hint = layers.Count == 0 ? "the model has none"
            : $"spatial layers: {string.Join(", ", layers.TakeLast(6).Select(n => n.Name))}{(layers.Count > 6 ? $" and {layers.Count - 6} before them" : "")}; see --list-layers";
        if (layerArg is null)
            return layers.Count > 0 ? new GradCam(g, logits, layers[^1])
                : throw new CliException($"{modelName}: no spatial layer (a convolutional feature map) feeds its classifier; nothing for Grad-CAM to explain");
        if (!g.TryGetNode(layerArg, out var node)) throw Usage($"--layer {layerArg}: the model has no node of that name ({hint})");
        try
        {
            return new GradCam(g, logits, node);
        }
        catch (ArgumentException e)
        {
            throw Usage($"--layer {layerArg}: {e.Message} ({hint})");
        }
    }

    /// <summary>The class probabilities: the graph's softmax output, or a softmax of the logits when it has none.</summary>
    private static float[] Probabilities(Graph g, Node logits, Tensor output)
    {
        if (g.Output.Layer is Softmax) return output.Data.ToArray();
        float[] z = logits.Output.Data.ToArray();
        float max = z.Max();
        double sum = z.Sum(v => Math.Exp(v - max));
        return z.Select(v => (float)(Math.Exp(v - max) / sum)).ToArray();
    }

    /// <summary>
    /// The class a --class value names: a label (exactly, else case-insensitively when that is unambiguous) or an
    /// index; -1 for none given (the caller takes the predicted class).
    /// </summary>
    private static int ResolveClass(string? value, string[] labels)
    {
        if (value is null) return -1;
        int exact = Array.IndexOf(labels, value);
        if (exact >= 0) return exact;
        int[] folded = labels.Select((l, i) => (l, i)).Where(p => string.Equals(p.l, value, StringComparison.OrdinalIgnoreCase)).Select(p => p.i).ToArray();
        if (folded.Length == 1) return folded[0];
        if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int index))
            return index < labels.Length ? index
                : throw Usage($"--class {value} is out of range: the model has {labels.Length} classes (0..{labels.Length - 1})");
        string names = string.Join(", ", labels.Take(12)) + (labels.Length > 12 ? $" and {labels.Length - 12} more" : "");
        throw Usage($"--class '{value}' is not a class of the model (its classes: {names}; or an index 0..{labels.Length - 1})");
    }
}
