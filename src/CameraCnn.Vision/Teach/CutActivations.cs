// CutActivations: the step between the recorded frames and the fine-tuner: the frozen part of the backbone (every node up
// to the cut) run once per frame and per augmented copy, its output stored in an ActivationCache, the samples gathered
// into FineTuneData in class and recording order. Decoding, augmentation and skipping are TeachFeatures' own. Trains nothing.
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Teach;

namespace CameraCnn.Vision.Teach;

/// <summary>Activations at a fine-tuning cut of teach samples, through an <see cref="ActivationCache"/>.</summary>
public static class CutActivations
{
    /// <summary>
    /// An extractor of the activations at <paramref name="cut"/>: <paramref name="backbone"/> truncated after the cut
    /// node (its layers move into the extractor: give it an instance nothing else uses), fused, with its preprocessing.
    /// </summary>
    public static FeatureExtractor Extractor(Model backbone, Cut cut)
    {
        ArgumentNullException.ThrowIfNull(backbone);
        ArgumentNullException.ThrowIfNull(cut);
        if (!backbone.Graph.TryGetNode(cut.Node.Name, out var node))
            throw new ArgumentException($"the backbone has no node '{cut.Node.Name}' to cut at");
        return new FeatureExtractor(new Model(GraphChain.Truncate(backbone.Graph, node), [], backbone.Preprocessing));
    }

    /// <summary>
    /// The fine-tuning data of <paramref name="classes"/> from <paramref name="samples"/>: each frame's activations (and
    /// those of its <paramref name="augment"/> augmented copies) taken from <paramref name="cache"/> or computed with
    /// <paramref name="extractor"/> and added to it. Unreadable files are skipped and listed.
    /// </summary>
    /// <exception cref="IOException">The cache could not be written (e.g. the disk is full).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancel"/> was signalled (checked per sample).</exception>
    public static (FineTuneData Data, FeatureReport Report) Collect(
        IReadOnlyList<TeachClass> classes, IReadOnlyList<TeachSample> samples, FeatureExtractor extractor, ActivationCache cache,
        int augment = 0, int seed = 1, AugmentOptions? augmentOptions = null,
        IProgress<(int Done, int Total)>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(classes);
        var data = new FineTuneData(cache, classes.Select(c => c.Name).ToArray(), classes.Select(c => c.Index).ToArray());
        var report = TeachFeatures.EnsureAll(classes, samples, extractor, cache, augment, seed, augmentOptions, (label, sample) =>
        {
            int group = data.Add(label, sample.Key);
            for (int a = 1; a <= augment; a++) data.Add(label, TeachFeatures.AugmentedKey(sample.Key, a), group, augmented: true);
        }, progress, cancel);
        return (data, report);
    }
}
