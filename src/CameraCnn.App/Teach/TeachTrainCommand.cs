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
        string outPath = OutputPath.EnsureWritable(a.Out, "--out");
        if (File.Exists(a.Data)) throw new CliException($"--data {a.Data} is a file, expected an image folder (one sub-folder of images per class)");
        if (!Directory.Exists(a.Data)) throw new CliException($"data folder not found: '{a.Data}' (an image folder: one sub-folder of images per class)");
        var backbone = BackboneSource.Resolve(a.Backbone);

        var total = Stopwatch.StartNew();
        // The layout rule of plain `train`: DIR/train/ + DIR/test/ when both exist (the head trains on train/, test/ is
        // reported as test accuracy), else the classes are DIR's own sub-folders.
        var dataset = TeachDataset.Open(a.Data, create: false);
        var testSet = dataset.TestDirectory is { } testDir ? TeachDataset.Open(testDir, create: false) : null;
        foreach (string w in dataset.Warnings.Concat(testSet?.Warnings ?? [])) Report.Note($"camcnn: warning: {w}");
        int foreign = dataset.ForeignFiles + (testSet?.ForeignFiles ?? 0);
        if (foreign > 0)
            Report.Note($"camcnn: warning: skipped {foreign} file(s) that are not images, e.g. {dataset.ForeignFilePaths.Concat(testSet?.ForeignFilePaths ?? []).First()}");
        var classes = dataset.Classes;
        if (classes.Count == 0) throw new CliException($"no class sub-folders in {dataset.Directory} (expected one folder of images per class)");
        if (testSet?.Classes.Select(c => c.Name).Except(classes.Select(c => c.Name)).ToArray() is { Length: > 0 } extra)
            throw new CliException($"{testSet.Directory} has class(es) that {dataset.Directory} has not: {string.Join(", ", extra)}");
        Report.Note($"data: {a.Data}{(testSet is null ? "" : " (train/test)")}: {dataset.SampleCount} image(s) in {classes.Count} class(es): " +
                    string.Join(", ", classes.Select(c => $"{c.Name} {c.Count}")) + (testSet is null ? "" : $"; {testSet.SampleCount} test image(s)"));

        // One writer per folder: with a teach session on it, this run reads it and leaves its cache alone.
        string? busy = null;
        using var folderLock = a.NoCache ? null : TeachFolderLock.TryAcquire(dataset.Directory, out busy);
        if (!a.NoCache && folderLock is null)
        {
            if (Path.GetFullPath(outPath).StartsWith(dataset.Directory + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                throw new CliException($"{busy}; write --out outside it");
            Report.Note($"camcnn: note: {busy}; reading it only: the feature cache is not updated");
        }
        bool writeCache = folderLock is { IsHeld: true };

        var loadClock = Stopwatch.StartNew();
        using var extractor = new FeatureExtractor(backbone.Load());
        double loadSeconds = loadClock.Elapsed.TotalSeconds;
        string cachePath = backbone.CacheFile(dataset.Directory);
        var cache = LoadCache(a.NoCache, cachePath, backbone.Name, extractor.Dimension);
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
        var stored = writeCache ? SaveCache(dataset, cache, cachePath, result.Features.Computed > 0) : default;
        var f = result.Features;
        if (f.Skipped > 0) Report.Note($"camcnn: warning: skipped {f.Skipped} unreadable image(s){Denied(f.Unreadable)}, e.g. {f.Unreadable[0]}");
        if (result.Head.EmptyClasses.Count > 0)
            Report.Note($"camcnn: warning: class(es) without readable images were left out: {string.Join(", ", result.Head.EmptyClasses)}");
        Report.Note($"features: {f.Computed} computed, {f.Cached} from the cache, {f.Seconds:F1} s" +
                    (f.Computed > 0 ? $" ({1000 * f.Seconds / f.Computed:F0} ms per frame)" : ""));

        var head = result.Head;
        var test = testSet is null ? default : Test(testSet, head.Head, extractor, a.NoCache, writeCache, backbone);
        var model = TeachModel.Compose(extractor.Backbone, head.Head, backbone.Name);
        model.Save(outPath);
        double seconds = total.Elapsed.TotalSeconds;
        Console.WriteLine($"validation accuracy {Pct(head.ValAccuracy)} on {head.ValSamples} held-out frame(s); head trained on {head.TrainSamples} " +
                          $"in {head.Seconds:F2} s ({head.Epochs} epochs), features {f.Seconds:F1} s, total {seconds:F1} s; model saved to {a.Out}");
        if (testSet is not null) Console.WriteLine($"test accuracy {Pct(test.Accuracy)} on {test.Count} image(s) of {testSet.Directory}");
        WriteConfusion(head);
        if (a.Json)
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["val_accuracy"] = float.IsNaN(head.ValAccuracy) ? -1 : Math.Round(head.ValAccuracy, 5),
                ["test_accuracy"] = testSet is null || float.IsNaN(test.Accuracy) ? -1 : Math.Round(test.Accuracy, 5),
                ["test_samples"] = test.Count,
                ["seconds"] = Math.Round(head.Seconds, 3),
                ["feature_seconds"] = Math.Round(f.Seconds, 2),
                ["total_seconds"] = Math.Round(seconds, 2),
                ["samples"] = result.Samples,
                ["train_samples"] = head.TrainSamples,
                ["val_samples"] = head.ValSamples,
                ["features_computed"] = f.Computed,
                ["features_cached"] = f.Cached,
                ["skipped"] = f.Skipped,
                ["foreign_files"] = foreign,
                ["nested_images"] = dataset.NestedImages + (testSet?.NestedImages ?? 0),
                ["empty_classes"] = head.EmptyClasses,
                ["labels"] = head.Head.Labels,
                ["confusion"] = Enumerable.Range(0, head.Head.Classes).Select(r => Enumerable.Range(0, head.Head.Classes).Select(c => head.Confusion[r, c]).ToArray()).ToArray(),
                ["epochs"] = head.Epochs,
                ["hidden"] = head.Head.Hidden,
                ["augment"] = a.Augment,
                ["backbone"] = backbone.Name,
                ["cache_entries"] = stored.Entries,
                ["cache_bytes"] = stored.Bytes,
                ["cache_pruned"] = stored.Pruned,
                ["model"] = a.Out,
            }));
        return CliRunner.Ok;
    }

    private static FeatureCache LoadCache(bool noCache, string path, string backbone, int dimension)
    {
        if (noCache) return new FeatureCache(backbone, dimension);
        try
        {
            return FeatureCache.Load(path, backbone, dimension);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException or NotSupportedException)
        {
            Report.Note($"camcnn: warning: feature cache ignored, features are recomputed: {e.Message}");
            return new FeatureCache(backbone, dimension);
        }
    }

    /// <summary>What the cache file holds after this run: entries, bytes, and the stale ones pruned.</summary>
    private readonly record struct StoredCache(int Entries, long Bytes, int Pruned);

    /// <summary>
    /// Prunes the entries of frames that are gone or changed (the rule every cache writer follows) and writes the file
    /// when anything changed, within the cache's size bound; reports its size. A failed write costs only the next run's time.
    /// </summary>
    private static StoredCache SaveCache(TeachDataset dataset, FeatureCache cache, string path, bool computed)
    {
        int pruned = TeachFeatures.PruneCache(dataset, cache);
        try
        {
            if (computed || pruned > 0 || !File.Exists(path))
            {
                var written = cache.Save(path);
                if (written.LeftOut > 0)
                    Report.Note($"camcnn: warning: the feature cache is capped at {cache.MaxFileBytes >> 20} MB: {written.LeftOut} vector(s) not saved");
                Report.Note($"feature cache: {written.Entries} vector(s), {written.Bytes / 1e6:F2} MB in {path}" + (pruned > 0 ? $" ({pruned} stale pruned)" : ""));
                return new StoredCache(written.Entries, written.Bytes, pruned);
            }
            return new StoredCache(cache.Count, new FileInfo(path).Length, 0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Report.Note($"camcnn: warning: features not cached for the next run: {e.Message}");
            return new StoredCache(0, 0, pruned);
        }
    }

    /// <summary>Accuracy of the head on the test/ folder's images (classes matched by name), features cached like train/'s.</summary>
    private static (float Accuracy, int Count) Test(TeachDataset testSet, ClassifierHead head, FeatureExtractor extractor, bool noCache,
        bool writeCache, BackboneSource backbone)
    {
        string path = backbone.CacheFile(testSet.Directory);
        var cache = LoadCache(noCache, path, backbone.Name, extractor.Dimension);
        var names = testSet.Classes.ToDictionary(c => c.Index, c => c.Name);
        var features = new float[extractor.Dimension];
        var probabilities = new float[head.Classes];
        int correct = 0, count = 0, computed = 0;
        foreach (var sample in testSet.Samples())
        {
            int runs = TeachFeatures.Ensure(sample, extractor, cache);
            if (runs < 0 || !cache.TryGet(sample.Key, features)) continue; // unreadable: counted in neither
            computed += runs;
            count++;
            int predicted = head.Predict(features, probabilities);
            if (head.Labels[predicted] == names[sample.ClassIndex]) correct++;
        }
        if (writeCache) SaveCache(testSet, cache, path, computed > 0);
        return (count == 0 ? float.NaN : (float)correct / count, count);
    }

    /// <summary>" (N: permission denied)" for the unreadable files that are so for lack of permission, else "".</summary>
    private static string Denied(IReadOnlyList<string> unreadable)
    {
        int denied = 0;
        foreach (string path in unreadable)
        {
            try { using (File.OpenRead(path)) { } }
            catch (UnauthorizedAccessException) { denied++; }
            catch (IOException) { }
        }
        return denied > 0 ? $" ({denied}: permission denied)" : "";
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
