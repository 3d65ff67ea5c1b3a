// `camcnn train --backbone NAME`: teach mode's trainer without the window. Features of an image folder through a
// pretrained backbone (cached in the folder, computed once), a head trained on them with a held-out split, and one ONNX
// file written: backbone + head, labels and preprocessing in its metadata, loadable by camcnn and ONNX Runtime.
using System.Diagnostics;
using System.Text.Json;
using CameraCnn.App.Cli;
using CameraCnn.Engine.Teach;
using CameraCnn.Engine.Training;
using CameraCnn.Vision.Teach;
using Spectre.Console;

namespace CameraCnn.App.Teach;

/// <summary>The options of `camcnn train` that apply with --backbone (null: the teach default).</summary>
internal sealed record TeachTrainArgs(
    string Data, string Backbone, string Out, bool Json, int? Epochs, int? Batch, float? Lr, float? WeightDecay, OptimizerKind? Optimizer,
    double? ValFraction, int Seed, int Hidden, int Augment, bool NoCache);

internal static class TeachTrainCommand
{
    public static int Run(TeachTrainArgs a)
    {
        var defaults = new HeadOptions();
        var training = defaults.Training;
        var options = defaults with
        {
            Training = training with
            {
                Epochs = a.Epochs ?? training.Epochs,
                BatchSize = a.Batch ?? training.BatchSize,
                LearningRate = a.Lr ?? training.LearningRate,
                WeightDecay = a.WeightDecay ?? training.WeightDecay,
                Optimizer = a.Optimizer ?? training.Optimizer,
                Seed = a.Seed,
            },
            ValFraction = a.ValFraction ?? defaults.ValFraction,
            Hidden = a.Hidden,
        };
        try
        {
            options.Validate();
        }
        catch (ArgumentException e)
        {
            throw new CliException(e.Message);
        }
        if (a.Augment is < 0 or > 64) throw new CliException("--augment must be in [0, 64]");
        string outPath = OutputPath.EnsureWritable(a.Out, "--out");
        if (!Directory.Exists(a.Data)) throw new CliException($"data folder not found: '{a.Data}' (an image folder: one sub-folder of images per class)");
        var backbone = BackboneSource.Resolve(a.Backbone);

        var total = Stopwatch.StartNew();
        var dataset = TeachDataset.Open(a.Data, create: false);
        foreach (string w in dataset.Warnings) Report.Note($"camcnn: warning: {w}");
        if (dataset.ForeignFiles > 0)
            Report.Note($"camcnn: warning: skipped {dataset.ForeignFiles} file(s) that are not images, e.g. {dataset.ForeignFilePaths[0]}");
        var classes = dataset.Classes;
        if (classes.Count == 0) throw new CliException($"no class sub-folders in {a.Data} (expected one folder of images per class)");
        Report.Note($"data: {a.Data}: {dataset.SampleCount} image(s) in {classes.Count} class(es): " +
                    string.Join(", ", classes.Select(c => $"{c.Name} {c.Count}")));

        var loadClock = Stopwatch.StartNew();
        using var extractor = new FeatureExtractor(backbone.Load());
        double loadSeconds = loadClock.Elapsed.TotalSeconds;
        string cachePath = backbone.CacheFile(dataset.Directory);
        FeatureCache cache;
        try
        {
            cache = a.NoCache ? new FeatureCache(backbone.Name, extractor.Dimension) : FeatureCache.Load(cachePath, backbone.Name, extractor.Dimension);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException or NotSupportedException)
        {
            Report.Note($"camcnn: warning: feature cache ignored, features are recomputed: {e.Message}");
            cache = new FeatureCache(backbone.Name, extractor.Dimension);
        }
        Report.Note($"backbone: {backbone.Name}, {extractor.Dimension} features per frame, loaded in {loadSeconds:F1} s; {cache.Count} cached feature vector(s)");

        TeachTrainingResult result;
        try
        {
            result = Report.WithProgress("features", update => TeachTraining.Run(dataset, extractor, cache, options, a.Augment, null,
                new InlineProgress<(int Done, int Total)>(p => update((double)p.Done / Math.Max(1, p.Total), $"{p.Done}/{p.Total}")),
                new InlineProgress<HeadProgress>(p =>
                {
                    if (p.Epoch == p.Epochs || p.Epoch % 10 == 0)
                        Report.Note($"epoch {p.Epoch}/{p.Epochs}: loss {p.Loss:F4}, train accuracy {p.TrainAccuracy:P1}, validation accuracy {Pct(p.ValAccuracy)}");
                })));
        }
        catch (InvalidDataException e)
        {
            throw new CliException(e.Message);
        }
        catch (DivergedException e)
        {
            throw new CliException($"training stopped: {e.Message}; no model was written", CliRunner.Diverged);
        }
        if (!a.NoCache && result.Features.Computed > 0)
        {
            try { cache.Save(cachePath); }
            catch (IOException e) { Report.Note($"camcnn: warning: features not cached for the next run: {e.Message}"); }
        }
        var f = result.Features;
        if (f.Skipped > 0) Report.Note($"camcnn: warning: skipped {f.Skipped} unreadable image(s), e.g. {f.Unreadable[0]}");
        if (result.Head.EmptyClasses.Count > 0)
            Report.Note($"camcnn: warning: class(es) without readable images were left out: {string.Join(", ", result.Head.EmptyClasses)}");
        Report.Note($"features: {f.Computed} computed, {f.Cached} from the cache, {f.Seconds:F1} s" +
                    (f.Computed > 0 ? $" ({1000 * f.Seconds / f.Computed:F0} ms per frame)" : ""));

        var head = result.Head;
        var model = TeachModel.Compose(extractor.Backbone, head.Head, backbone.Name);
        model.Save(outPath);
        double seconds = total.Elapsed.TotalSeconds;
        Console.WriteLine($"validation accuracy {Pct(head.ValAccuracy)} on {head.ValSamples} held-out frame(s); head trained on {head.TrainSamples} " +
                          $"in {head.Seconds:F2} s ({head.Epochs} epochs), features {f.Seconds:F1} s, total {seconds:F1} s; model saved to {a.Out}");
        WriteConfusion(head);
        if (a.Json)
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["val_accuracy"] = float.IsNaN(head.ValAccuracy) ? -1 : Math.Round(head.ValAccuracy, 5),
                ["seconds"] = Math.Round(head.Seconds, 3),
                ["feature_seconds"] = Math.Round(f.Seconds, 2),
                ["total_seconds"] = Math.Round(seconds, 2),
                ["samples"] = result.Samples,
                ["train_samples"] = head.TrainSamples,
                ["val_samples"] = head.ValSamples,
                ["features_computed"] = f.Computed,
                ["features_cached"] = f.Cached,
                ["skipped"] = f.Skipped,
                ["foreign_files"] = dataset.ForeignFiles,
                ["empty_classes"] = head.EmptyClasses,
                ["labels"] = head.Head.Labels,
                ["confusion"] = Enumerable.Range(0, head.Head.Classes).Select(r => Enumerable.Range(0, head.Head.Classes).Select(c => head.Confusion[r, c]).ToArray()).ToArray(),
                ["epochs"] = head.Epochs,
                ["hidden"] = head.Head.Hidden,
                ["augment"] = a.Augment,
                ["backbone"] = backbone.Name,
                ["model"] = a.Out,
            }));
        return CliRunner.Ok;
    }

    private static string Pct(float v) => float.IsNaN(v) ? "n/a" : $"{v:P2}";

    private static void WriteConfusion(HeadResult head)
    {
        if (head.ValSamples == 0) return;
        var labels = head.Head.Labels;
        var table = new Table { Title = new TableTitle("validation confusion (rows: true, columns: predicted)") };
        table.AddColumn("");
        for (int c = 0; c < labels.Count; c++) table.AddColumn(new TableColumn(c.ToString()).RightAligned());
        for (int r = 0; r < labels.Count; r++)
            table.AddRow(new[] { $"{r} {Markup.Escape(labels[r])}" }.Concat(Enumerable.Range(0, labels.Count).Select(c => head.Confusion[r, c].ToString())).ToArray());
        AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) }).Write(table);
    }
}
