// TeachTraining: one teach training run, the same for the live session's trainer thread and `camcnn train --backbone`:
// features of every recorded frame (cached, computed once), then the head trained on them with a held-out split.
// The caller decides on which thread it runs, what it publishes and where the model goes.
using CameraCnn.Engine.Teach;
using CameraCnn.Vision.Teach;

namespace CameraCnn.App.Teach;

/// <summary>What a teach training run produced.</summary>
/// <param name="Head">The head training result (the head, validation accuracy and confusion, times).</param>
/// <param name="Features">How the features were obtained (computed vs cached, skipped files, seconds).</param>
/// <param name="Classes">The data set's classes at the start of the run.</param>
public sealed record TeachTrainingResult(HeadResult Head, FeatureReport Features, IReadOnlyList<TeachClass> Classes)
{
    /// <summary>Recorded frames whose features were used (readable ones), not counting augmented copies.</summary>
    public int Samples { get; init; }
    /// <summary>Augmented copies made (those of held-out frames are not trained on).</summary>
    public int AugmentedSamples { get; init; }
    /// <summary>A fine-tuning run (T with --fine-tune): its result, whose head and validation figures <see cref="Head"/> repeats; null for a head training.</summary>
    public FineTuneResult? FineTune { get; init; }
    /// <summary>The backbone the head reads (its name: the session's, or a fine-tuned one's); null when not said.</summary>
    public string? Backbone { get; init; }
}

/// <summary>Runs <see cref="TeachFeatures.Collect"/> then <see cref="HeadTrainer.Train"/>.</summary>
public static class TeachTraining
{
    /// <exception cref="System.IO.InvalidDataException">Fewer than two classes have readable samples.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public static TeachTrainingResult Run(TeachDataset dataset, FeatureExtractor extractor, FeatureCache cache, HeadOptions head,
        int augment = 0, AugmentOptions? augmentOptions = null,
        IProgress<(int Done, int Total)>? featureProgress = null, IProgress<HeadProgress>? headProgress = null,
        CancellationToken cancel = default)
    {
        var classes = dataset.Classes;
        var samples = dataset.Samples();
        var (data, report) = TeachFeatures.Collect(classes, samples, extractor, cache, augment, head.Training.Seed, augmentOptions,
            featureProgress, cancel);
        var result = HeadTrainer.Train(data, head, headProgress, cancel);
        return new TeachTrainingResult(result, report, classes) { Samples = data.OriginalCount, AugmentedSamples = data.Count - data.OriginalCount };
    }
}
