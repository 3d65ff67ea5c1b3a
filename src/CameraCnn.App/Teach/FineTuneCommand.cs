// `camcnn train --backbone NAME --fine-tune N`: fine-tuning without the window. The cut before the backbone's last N
// residual blocks, activations of an image folder's frames at the cut (cached in the folder, computed once), a head
// trained on the frozen features and then the N blocks and the head together, and one ONNX file written: the whole
// network with its new weights, labels, preprocessing and the cut in its metadata.
using System.Diagnostics;
using System.Text.Json;
using CameraCnn.App.Cli;
using CameraCnn.Engine.Teach;
using CameraCnn.Engine.Training;
using CameraCnn.Vision.Teach;

namespace CameraCnn.App.Teach;

/// <summary>The options of `camcnn train --backbone --fine-tune N` (null: the fine-tuning default).</summary>
internal sealed record FineTuneArgs(
    string Data, string Backbone, string Out, bool Json, int Blocks, int? Epochs, int? Batch, float? Lr, float? BackboneLr,
    float? WeightDecay, OptimizerKind? Optimizer, double? ValFraction, int Seed, int Hidden, int Augment, bool NoCache, int? Patience);

internal static class FineTuneCommand
{
    public static int Run(FineTuneArgs a)
    {
        var defaults = new FineTuneOptions();
        var options = defaults with
        {
            Blocks = a.Blocks,
            Epochs = a.Epochs ?? defaults.Epochs,
            BatchSize = a.Batch ?? defaults.BatchSize,
            LearningRate = a.Lr ?? defaults.LearningRate,
            BackboneLearningRate = a.BackboneLr ?? defaults.BackboneLearningRate,
            WeightDecay = a.WeightDecay ?? defaults.WeightDecay,
            Optimizer = a.Optimizer ?? defaults.Optimizer,
            Patience = a.Patience ?? defaults.Patience,
            Head = defaults.Head with { ValFraction = a.ValFraction ?? defaults.Head.ValFraction, Training = defaults.Head.Training with { Seed = a.Seed }, Hidden = a.Hidden },
        };
        try
        {
            options.Validate();
        }
        catch (ArgumentException e)
        {
            throw new CliException(e.Message, Program.UsageError);
        }
        if (a.Augment is < 0 or > 64) throw new CliException("--augment must be in [0, 64]", Program.UsageError);
        string outPath = OutputPath.EnsureWritable(a.Out, "--out");
        if (!Directory.Exists(a.Data)) throw new CliException($"data folder not found: '{a.Data}' (an image folder: one sub-folder of images per class)");
        var source = BackboneSource.Resolve(a.Backbone);

        var total = Stopwatch.StartNew();
        FineTunePlan plan;
        try
        {
            plan = FineTuneTraining.Plan(source, a.Blocks);
        }
        catch (ArgumentException e)
        {
            throw new CliException($"{e.Message} ({source.Name})", Program.UsageError);
        }
        Report.Note($"fine-tuning {source.Name}: cut at {plan.Cut}; everything before it stays frozen, batch norm keeps its running statistics");

        var dataset = TeachDataset.Open(a.Data, create: false);
        foreach (string w in dataset.Warnings) Report.Note($"camcnn: warning: {w}");
        var classes = dataset.Classes;
        if (classes.Count == 0) throw new CliException($"no class sub-folders in {a.Data} (expected one folder of images per class)");
        Report.Note($"data: {a.Data}: {dataset.SampleCount} image(s) in {classes.Count} class(es): " +
                    string.Join(", ", classes.Select(c => $"{c.Name} {c.Count}")));

        var settings = new FineTuneSettings { Augment = a.Augment, PersistCache = !a.NoCache };
        FineTuneOutcome outcome;
        try
        {
            outcome = Report.WithProgress("fine-tuning", update => FineTuneTraining.Run(plan, dataset, options, settings,
                new InlineProgress<(int Done, int Total)>(p => update((double)p.Done / Math.Max(1, p.Total), $"activations {p.Done}/{p.Total}")),
                new InlineProgress<FineTuneProgress>(p => Progress(p, update)),
                w => Report.Note($"camcnn: warning: {w}")));
        }
        catch (IOException e)
        {
            string kept = File.Exists(outPath) ? $"; no model was written, {a.Out} is kept as it was" : "; no model was written";
            throw new CliException(e.Message + kept);
        }
        catch (InvalidDataException e)
        {
            throw new CliException(e.Message);
        }
        catch (DivergedException e)
        {
            throw new CliException($"training stopped: {e.Message}; no model was written", CliRunner.Diverged);
        }
        var f = outcome.Activations;
        var r = outcome.Result;
        if (f.Skipped > 0) Report.Note($"camcnn: warning: skipped {f.Skipped} unreadable image(s), e.g. {f.Unreadable[0]}");
        if (r.HeadOnly.EmptyClasses.Count > 0)
            Report.Note($"camcnn: warning: class(es) without readable images were left out: {string.Join(", ", r.HeadOnly.EmptyClasses)}");
        Report.Note($"activations: {f.Computed} computed, {f.Cached} from the cache, {f.Seconds:F1} s" +
                    (f.Computed > 0 ? $" ({1000 * f.Seconds / f.Computed:F0} ms per frame)" : "") +
                    $"; {(outcome.InMemory ? "held in memory" : "read from disk every epoch (over the memory budget)")}" +
                    (outcome.Pruned > 0 ? $"; {outcome.Pruned} entries of deleted frames pruned" : ""));

        outcome.Model.Save(outPath);
        double seconds = total.Elapsed.TotalSeconds;
        Console.WriteLine($"validation accuracy {Pct(r.ValAccuracy)} (head only {Pct(r.HeadOnly.ValAccuracy)}) on {r.ValSamples} held-out frame(s); " +
                          $"fine-tuned the last {r.Blocks} of {r.TotalBlocks} residual blocks + head on {r.TrainSamples} frame(s), " +
                          $"{r.EpochsRun} epoch(s) (kept epoch {r.BestEpoch}) in {r.Seconds:F1} s, activations {f.Seconds:F1} s, total {seconds:F1} s; " +
                          $"model saved to {a.Out}");
        if (a.Json)
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["val_accuracy"] = Rounded(r.ValAccuracy),
                ["head_val_accuracy"] = Rounded(r.HeadOnly.ValAccuracy),
                ["seconds"] = Math.Round(r.Seconds, 3),
                ["activation_seconds"] = Math.Round(f.Seconds, 2),
                ["total_seconds"] = Math.Round(seconds, 2),
                ["fine_tune"] = r.Blocks,
                ["blocks"] = r.TotalBlocks,
                ["cut"] = r.CutNode,
                ["epochs_run"] = r.EpochsRun,
                ["best_epoch"] = r.BestEpoch,
                ["epoch_val_accuracy"] = r.History.Select(h => Rounded(h.ValAccuracy)).ToArray(),
                // Wall time of each epoch (its batches and its validation), for the per-epoch cost against the frame count.
                ["epoch_seconds"] = r.History.Select((h, i) => Math.Round(h.Seconds - (i == 0 ? r.HeadSeconds : r.History[i - 1].Seconds), 2)).ToArray(),
                ["samples"] = outcome.Samples,
                ["train_samples"] = r.TrainSamples,
                ["val_samples"] = r.ValSamples,
                ["activations_computed"] = f.Computed,
                ["activations_cached"] = f.Cached,
                ["in_memory"] = outcome.InMemory,
                ["skipped"] = f.Skipped,
                ["labels"] = r.Head.Labels,
                ["augment"] = a.Augment,
                ["backbone"] = source.Name,
                ["model"] = a.Out,
            }));
        return CliRunner.Ok;
    }

    /// <summary>One bar for the whole run: the activations, then the epochs; a note with the validation accuracy per epoch.</summary>
    private static void Progress(FineTuneProgress p, Action<double, string> update)
    {
        if (p.Epoch == 0)
        {
            Report.Note($"head only: validation accuracy {Pct(p.ValAccuracy)} (train {p.TrainAccuracy:P1}); fine-tuning for up to {p.Epochs} epoch(s)");
            return;
        }
        double fraction = (p.Epoch - 1 + (double)p.Batch / Math.Max(1, p.Batches)) / p.Epochs;
        update(fraction, $"epoch {p.Epoch}/{p.Epochs} loss {p.Loss:F4} acc {p.TrainAccuracy:P1}" + (p.EpochDone ? $" val {Pct(p.ValAccuracy)}" : ""));
        if (p.EpochDone)
            Report.Note($"epoch {p.Epoch}/{p.Epochs}: loss {p.Loss:F4}, train accuracy {p.TrainAccuracy:P1}, validation accuracy {Pct(p.ValAccuracy)}, {p.Seconds:F1} s");
    }

    private static string Pct(float v) => float.IsNaN(v) ? "n/a" : $"{v:P2}";

    private static double Rounded(float v) => float.IsNaN(v) ? -1 : Math.Round(v, 5);
}
