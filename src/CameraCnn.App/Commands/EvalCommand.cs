// camcnn eval: accuracy, per-class accuracy and the confusion matrix of a trained model on a data set's test split.
using System.CommandLine;
using System.Text.Json;
using CameraCnn.App.Cli;
using CameraCnn.Engine;
using CameraCnn.Engine.Data;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Training;
using Spectre.Console;

namespace CameraCnn.App.Commands;

public static class EvalCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "trained model (.onnx written by camcnn train)", Required = true };
        var data = new Option<string>("--data") { Description = "fashion-mnist, an IDX directory, or an image folder", Required = true };
        var json = new Option<bool>("--json") { Description = "print a JSON summary as the last line" };
        var limit = new Option<int?>("--limit") { Description = "evaluate at most this many samples" };
        var all = new Option<bool>("--all") { Description = "image folders: evaluate every image instead of the 20% test split" };
        var seed = new Option<int>("--seed") { Description = "seed of the image-folder split (as given to train)", DefaultValueFactory = _ => 1 };
        var cmd = new Command("eval", "Evaluate a trained model: accuracy, per-class accuracy and confusion matrix.") { model, data, json, limit, all, seed };
        cmd.SetAction(r => CliRunner.Run(() => Run(r.GetValue(model)!, r.GetValue(data)!, r.GetValue(json), r.GetValue(limit), r.GetValue(all), r.GetValue(seed))));
        return cmd;
    }

    private static int Run(string modelPath, string data, bool json, int? limit, bool all, int seed)
    {
        OptionRanges.Whole(limit, "--limit", 1);
        var model = ModelCatalog.Load(modelPath);
        var pre = model.Preprocessing ?? throw new CliException($"{modelPath} has no preprocessing metadata; eval needs a model trained by camcnn");
        if (model.Labels.Count == 0) throw new CliException($"{modelPath} has no class labels in its metadata");
        // The model's own resize (e.g. a teach model's centre crop), as predict and the live view apply it.
        var loaded = DataSets.Load(data, pre.Height, pre.Channels == 1, limit, seed, model.Labels, pre.Resize);
        // --all: every image (the train and test parts together), not just the part train learned from.
        var set = all ? Concatenate(loaded.Train, loaded.Test) : loaded.Test;
        // DataSets caps only the training part of an image folder, so --limit is applied to the evaluated set here.
        if (limit is { } cap && cap < set.Count) set = set.Take(cap);
        if (!set.SampleShape.SequenceEqual(new[] { pre.Channels, pre.Height, pre.Width }))
            throw new CliException($"the data's images are {string.Join("x", set.SampleShape)} but the model expects {pre.Channels}x{pre.Height}x{pre.Width}");
        // A model whose input has a fixed batch (ResNet18 and teach models built on it: 1) is fed batches of that size.
        int batch = model.Graph.Inputs[0].InputShape is [> 0 and var fixedBatch, ..] ? fixedBatch : 256;
        var result = Report.WithProgress("evaluating", update =>
            Trainer.Evaluate(model, set, batch, progress: new InlineProgress<int>(done => update((double)done / set.Count, $"{done}/{set.Count}"))));

        var labels = model.Labels;
        Console.WriteLine($"accuracy {result.Accuracy:P2} on {result.Count} samples ({loaded.Description}), mean loss {result.Loss:F4}");
        var perClass = new Table().AddColumns("class", "accuracy", "samples");
        for (int c = 0; c < labels.Count; c++)
        {
            int n = 0;
            for (int p = 0; p < labels.Count; p++) n += result.Confusion[c, p];
            perClass.AddRow(Markup.Escape(labels[c]), n == 0 ? "-" : $"{result.PerClassAccuracy[c]:P1}", n.ToString());
        }
        var confusion = new Table { Title = new TableTitle("confusion (rows: true, columns: predicted)") };
        confusion.AddColumn("");
        for (int c = 0; c < labels.Count; c++) confusion.AddColumn(new TableColumn(c.ToString()).RightAligned());
        for (int c = 0; c < labels.Count; c++)
            confusion.AddRow(new[] { $"{c} {Markup.Escape(labels[c])}" }.Concat(Enumerable.Range(0, labels.Count).Select(p => result.Confusion[c, p].ToString())).ToArray());
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });
        console.Write(perClass);
        console.Write(confusion);
        if (json)
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["accuracy"] = Math.Round(result.Accuracy, 5),
                ["count"] = result.Count,
                ["loss"] = Math.Round(result.Loss, 5),
                ["per_class"] = labels.Select((l, c) => KeyValuePair.Create(l, float.IsNaN(result.PerClassAccuracy[c]) ? -1 : Math.Round(result.PerClassAccuracy[c], 5)))
                                      .ToDictionary(),
            }));
        return CliRunner.Ok;
    }

    /// <summary>a's samples followed by b's (same sample shape and classes, as both halves of one data set have).</summary>
    private static Dataset Concatenate(Dataset a, Dataset b)
    {
        if (b.Count == 0) return a;
        if (a.Count == 0) return b;
        int s = a.Images.SampleLength, na = a.Count * s, nb = b.Count * s;
        int[] shape = (int[])a.Images.Shape.Clone();
        shape[0] = a.Count + b.Count;
        var images = new Tensor(shape);
        a.Images.Data.AsSpan(0, na).CopyTo(images.Data);
        b.Images.Data.AsSpan(0, nb).CopyTo(images.Data.AsSpan(na));
        return new Dataset(images, [.. a.Labels, .. b.Labels], a.ClassNames);
    }
}
