// TeachTrainer (fine-tuning): T with --fine-tune on the trainer thread. The last N residual blocks of the backbone the
// session opened with and a head train on every recorded frame (FineTuneTraining: activations at the cut cached in the
// data folder); the result becomes the session's backbone: its features for every frame come from the cached
// activations through the trained blocks, so a head trained afterwards (a key released) reads the fine-tuned backbone's
// features, never the old ones; the live pipeline fuses the new network here, before the one-write swap.
using System.Diagnostics;
using CameraCnn.App.Cli;
using CameraCnn.Engine;
using CameraCnn.Engine.Teach;
using CameraCnn.Engine.Training;
using CameraCnn.Vision.Teach;
using OpenCvSharp;

namespace CameraCnn.App.Teach;

internal sealed partial class TeachTrainer
{
    private void RunFineTuning(FineTuneOptions options, CancellationToken cancel)
    {
        var dataset = _session.Dataset;
        try
        {
            if (_features is not { } old)
            {
                SetStatus(_status with { Message = "cannot fine-tune: " + (_status.Phase == TeachPhase.Failed ? _status.Message : "the backbone is not loaded"), IsError = true });
                return;
            }
            _session.Recorder.Flush(RecorderWait);
            if (dataset.Classes.Count(c => c.Count > 0) < 2)
            {
                SetStatus(new TeachStatus(TeachPhase.Idle, "cannot fine-tune yet: record frames of two classes or more (hold 1-9)", IsError: true));
                return;
            }
            SetStatus(new TeachStatus(TeachPhase.Extracting, $"fine-tuning: loading {_backbone.Name}"));
            var plan = FineTuneTraining.Plan(_backbone, options.Blocks);
            var settings = new FineTuneSettings
            {
                Augment = _o.Augment, AugmentOptions = _o.AugmentOptions, PersistCache = _o.PersistFeatures, TunedFeatures = true,
            };
            var clock = Stopwatch.StartNew();
            float headOnly = float.NaN;
            var outcome = FineTuneTraining.Run(plan, dataset, options, settings,
                new InlineProgress<(int Done, int Total)>(p =>
                {
                    if (p.Done == p.Total || clock.ElapsedMilliseconds > 50)
                    {
                        clock.Restart();
                        SetStatus(new TeachStatus(TeachPhase.Extracting, $"fine-tuning: activations at '{plan.Cut.Node.Name}' {p.Done}/{p.Total}", p.Done, p.Total));
                    }
                }),
                new InlineProgress<FineTuneProgress>(p =>
                {
                    if (p.Epoch == 0) headOnly = p.ValAccuracy;
                    SetStatus(new TeachStatus(TeachPhase.Training, FineTuneLine(p, plan.Cut, headOnly), 0, 0,
                        p.Epoch, p.Epochs, p.Loss, p.TrainAccuracy, p.ValAccuracy, Batch: p.Batch, Batches: p.Batches));
                }),
                w => SetStatus(_status with { Message = w }), cancel);
            foreach (string path in outcome.Activations.Unreadable) _unreadable.Add(TeachDataset.KeyOf(new FileInfo(path)));

            // The fine-tuned backbone becomes the one features come from: an extractor of its own (frames recorded since,
            // augmented copies) and a cache that holds every trained frame already (kept in memory until a model with it is saved).
            var tuned = outcome.Backbone;
            var features = new Features(tuned, new FeatureExtractor(outcome.Model), outcome.Features!, Persist: false);
            _session.PrepareBackbone(tuned); // the live pipeline fuses its network now, on this thread
            SaveCache(); // the old backbone's cache, as it is
            _features = features;
            old.Extractor.Dispose();
            var names = dataset.Classes.ToDictionary(c => c.Index, c => c.Name);
            var head = outcome.Result.Head;
            var labels = head.ClassIndices.Select((ci, k) => names.TryGetValue(ci, out var n) ? n : head.Labels[k]).ToArray();
            _last = Result(outcome, dataset);
            Interlocked.Increment(ref _trainings);
            Interlocked.Increment(ref _fineTunings);
            _session.PublishNetwork(tuned, head.WithLabels(labels));
            foreach (var s in dataset.Samples())
                if (!features.Cache.Contains(s.Key)) _pending.Enqueue(s); // recorded while it trained: computed in the background
            SetStatus(new TeachStatus(TeachPhase.Idle, Summary(outcome), outcome.Samples, outcome.Samples,
                outcome.Result.EpochsRun, outcome.Result.EpochsRun, float.NaN, float.NaN, outcome.Result.ValAccuracy));
        }
        catch (OperationCanceledException)
        {
            bool superseded;
            lock (_requests) superseded = _fineTuneRequest is not null;
            SetStatus(new TeachStatus(TeachPhase.Idle, superseded ? "fine-tuning again with the newest frames"
                : "fine-tuning cancelled; the previous backbone and head are kept"));
        }
        catch (Exception e) when (e is InvalidDataException or DivergedException or ShapeException or ArgumentException or NotSupportedException
                                      or IOException or OpenCVException or OutOfMemoryException or UnauthorizedAccessException or CliException)
        {
            SetStatus(new TeachStatus(TeachPhase.Idle, $"fine-tuning failed: {e.Message}; the previous backbone and head are kept", IsError: true));
        }
        finally
        {
            EndRun();
        }
    }

    /// <summary>"fine-tuning 2 blocks, epoch 3/10 (12/25): loss 0.41, validation 91.0 % (head only 88.0 %)".</summary>
    private static string FineTuneLine(FineTuneProgress p, Cut cut, float headOnly)
    {
        if (p.Epoch == 0) return $"fine-tuning: head only {Percent(p.ValAccuracy)} on validation; now the last {cut.Blocks} blocks + head";
        string val = p.EpochDone ? $", validation {Percent(p.ValAccuracy)}" : "";
        return $"fine-tuning {cut.Blocks} blocks, epoch {p.Epoch}/{p.Epochs} ({p.Batch}/{p.Batches}): loss {p.Loss:F3}{val} (head only {Percent(headOnly)})";
    }

    private static string Summary(FineTuneOutcome o)
    {
        var r = o.Result;
        string skipped = o.Activations.Skipped > 0 ? $"; skipped {o.Activations.Skipped} unreadable file(s)" : "";
        return $"fine-tuned the last {r.Blocks} of {r.TotalBlocks} blocks + head on {r.TrainSamples} frame(s): validation accuracy " +
               $"{Percent(r.ValAccuracy)} (head only {Percent(r.HeadOnly.ValAccuracy)}) on {r.ValSamples}; {r.EpochsRun} epoch(s), kept " +
               $"{r.BestEpoch}, {r.Seconds:F0} s; activations {o.Activations.Seconds:F0} s ({o.Activations.Computed} computed){skipped}";
    }

    /// <summary>The run as the session reports a training: the fine-tuned head's validation figures, the activations as the features.</summary>
    private static TeachTrainingResult Result(FineTuneOutcome o, TeachDataset dataset)
    {
        var r = o.Result;
        int k = r.Head.Classes;
        var perClass = new float[k];
        for (int c = 0; c < k; c++)
        {
            int row = 0;
            for (int j = 0; j < k; j++) row += r.Confusion[c, j];
            perClass[c] = row == 0 ? float.NaN : (float)r.Confusion[c, c] / row;
        }
        var best = r.BestEpoch > 0 ? r.History[r.BestEpoch - 1] : default;
        var head = r.HeadOnly with
        {
            Head = r.Head, ValAccuracy = r.ValAccuracy, ValLoss = r.ValLoss, Confusion = r.Confusion, PerClassAccuracy = perClass,
            TrainAccuracy = r.BestEpoch > 0 ? best.TrainAccuracy : r.HeadOnly.TrainAccuracy, Loss = r.BestEpoch > 0 ? best.Loss : r.HeadOnly.Loss,
            Epochs = r.EpochsRun, Seconds = r.Seconds, History = [],
        };
        return new TeachTrainingResult(head, o.Activations, dataset.Classes)
        {
            Samples = o.Samples, AugmentedSamples = o.AugmentedSamples, FineTune = r, Backbone = o.Backbone.Name,
        };
    }
}
