// camcnn predict: top-K classes of a trained model for one image, with the model's own preprocessing.
using System.CommandLine;
using System.Text.Json;
using CameraCnn.App.Cli;
using CameraCnn.Engine.Models;
using CameraCnn.Vision;

namespace CameraCnn.App.Commands;

public static class PredictCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "trained model (.onnx)", Required = true };
        var image = new Option<string>("--image") { Description = "image file (PNG, JPG, BMP)", Required = true };
        var top = new Option<int>("--top") { Description = "how many classes to show", DefaultValueFactory = _ => 5 };
        var json = new Option<bool>("--json") { Description = "print the result as one JSON line" };
        var cmd = new Command("predict", "Classify an image with a trained model and print the top classes.") { model, image, top, json };
        cmd.SetAction(r => CliRunner.Run(() => Run(r.GetValue(model)!, r.GetValue(image)!, r.GetValue(top), r.GetValue(json))));
        return cmd;
    }

    private static int Run(string modelPath, string imagePath, int top, bool json)
    {
        if (top <= 0) throw new CliException("--top must be at least 1");
        var model = Model.Load(modelPath);
        var pre = model.Preprocessing ?? throw new CliException($"{modelPath} has no preprocessing metadata");
        var x = ImageFile.LoadAsTensor(imagePath, pre.Height, pre.Width, pre.Channels == 1);
        if (pre.ColorOrder == "bgr") SwapRedBlue(x);
        pre.NormalizeUnit(x);
        var probs = model.Graph.Forward(x);
        int k = probs.Length;
        var ranked = Enumerable.Range(0, k).OrderByDescending(i => probs.Data[i]).Take(top)
            .Select(i => (Label: i < model.Labels.Count ? model.Labels[i] : $"class {i}", Probability: probs.Data[i])).ToList();
        if (json)
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                image = imagePath,
                top = ranked.Select(r => new { label = r.Label, probability = Math.Round(r.Probability, 5) }),
            }));
        else
            foreach (var (label, p) in ranked) Console.WriteLine($"{p,7:P1}  {label}");
        return CliRunner.Ok;
    }

    private static void SwapRedBlue(CameraCnn.Engine.Tensor x)
    {
        int s = x.H * x.W;
        for (int i = 0; i < s; i++) (x.Data[i], x.Data[2 * s + i]) = (x.Data[2 * s + i], x.Data[i]);
    }
}
