// TeachFeatures: the step between the recorded frames and the head trainer: every sample's backbone features (and
// those of its augmented copies), taken from the feature cache or computed once and cached, gathered into HeadData in
// class and recording order. Corrupt or unreadable files are skipped and counted. It trains nothing.
using System.Diagnostics;
using CameraCnn.Engine.Teach;
using OpenCvSharp;

namespace CameraCnn.Vision.Teach;

/// <summary>What <see cref="TeachFeatures.Collect"/> did.</summary>
/// <param name="Samples">Samples asked for (recorded frames).</param>
/// <param name="Computed">Backbone forwards run (frames and augmented copies not in the cache).</param>
/// <param name="Cached">Feature vectors taken from the cache.</param>
/// <param name="Unreadable">Files skipped because they could not be read or decoded.</param>
/// <param name="Seconds">Wall time, almost all of it backbone forwards.</param>
public sealed record FeatureReport(int Samples, int Computed, int Cached, IReadOnlyList<string> Unreadable, double Seconds)
{
    public int Skipped => Unreadable.Count;
}

/// <summary>Backbone features of teach samples, through a <see cref="FeatureCache"/>.</summary>
public static class TeachFeatures
{
    /// <summary>The cache key of augmented copy <paramref name="copy"/> (1, 2, ...) of a sample.</summary>
    public static string AugmentedKey(string key, int copy) => $"{key}#aug{copy}";

    /// <summary>The sample's key of a cache key: an augmented copy's key (<see cref="AugmentedKey"/>) without its "#augN".</summary>
    public static string SampleKeyOf(string cacheKey)
    {
        int at = cacheKey.LastIndexOf("#aug", StringComparison.Ordinal);
        return at > 0 && at + 4 < cacheKey.Length && !cacheKey.AsSpan(at + 4).ContainsAnyExceptInRange('0', '9') ? cacheKey[..at] : cacheKey;
    }

    /// <summary>
    /// Drops from <paramref name="cache"/> every entry whose frame is no longer in <paramref name="dataset"/> (deleted,
    /// or replaced: its key changed), augmented copies with their frame. Returns how many. Every writer of a cache calls
    /// it before saving (the live session and `train --backbone`), so the file never outgrows the data set.
    /// </summary>
    public static int PruneCache(TeachDataset dataset, FeatureCache cache)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(cache);
        var live = dataset.Samples().Select(s => s.Key).ToHashSet(StringComparer.Ordinal);
        return cache.Prune(k => live.Contains(SampleKeyOf(k)));
    }

    /// <summary>
    /// Makes sure the cache holds the features of <paramref name="sample"/> and of its first <paramref name="augment"/>
    /// augmented copies, running the backbone only for what is missing (a feature cache, or an activation cache with an
    /// extractor that stops at a fine-tuning cut). Returns the number of forwards run, or -1 when
    /// the file cannot be read or decoded (nothing is cached then).
    /// </summary>
    public static int Ensure(TeachSample sample, FeatureExtractor extractor, IFeatureStore cache, int augment = 0, int seed = 1,
        AugmentOptions? augmentOptions = null)
    {
        ArgumentNullException.ThrowIfNull(sample);
        ArgumentNullException.ThrowIfNull(extractor);
        ArgumentNullException.ThrowIfNull(cache);
        bool missing = !cache.Contains(sample.Key);
        for (int a = 1; a <= augment && !missing; a++) missing = !cache.Contains(AugmentedKey(sample.Key, a));
        if (!missing) return 0;

        using var image = ImageFile.TryDecodeFile(sample.Path);
        if (image is null) return -1;
        var features = new float[extractor.Dimension];
        int runs = 0;
        if (!cache.Contains(sample.Key))
        {
            extractor.Extract(image, features);
            cache.Set(sample.Key, features);
            runs++;
        }
        if (augment > 0)
        {
            using var copy = new Mat();
            for (int a = 1; a <= augment; a++)
            {
                string key = AugmentedKey(sample.Key, a);
                if (cache.Contains(key)) continue;
                FrameAugmenter.Apply(image, copy, FrameAugmenter.RandomFor(sample.Key, a, seed), augmentOptions);
                extractor.Extract(copy, features);
                cache.Set(key, features);
                runs++;
            }
        }
        return runs;
    }

    /// <summary>
    /// The training data of <paramref name="classes"/> (labels in that order; the class numbers go along as
    /// <see cref="HeadData.ClassIndices"/>) from <paramref name="samples"/> (in class, then recording order), with
    /// <paramref name="augment"/> augmented copies per frame. Samples of other classes are ignored; unreadable files
    /// are skipped and listed. <paramref name="progress"/> gets (done, total) after every sample.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancel"/> was signalled (checked per sample).</exception>
    public static (HeadData Data, FeatureReport Report) Collect(
        IReadOnlyList<TeachClass> classes, IReadOnlyList<TeachSample> samples, FeatureExtractor extractor, FeatureCache cache,
        int augment = 0, int seed = 1, AugmentOptions? augmentOptions = null,
        IProgress<(int Done, int Total)>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(classes);
        var data = new HeadData(extractor.Dimension, classes.Select(c => c.Name).ToArray(), classes.Select(c => c.Index).ToArray());
        var features = new float[extractor.Dimension];
        var report = EnsureAll(classes, samples, extractor, cache, augment, seed, augmentOptions, (label, sample) =>
        {
            // Entries can vanish between Ensure and here only if another thread pruned them; then the frame is left out.
            if (!cache.TryGet(sample.Key, features)) return;
            int group = data.Add(label, features);
            for (int a = 1; a <= augment; a++)
                if (cache.TryGet(AugmentedKey(sample.Key, a), features)) data.Add(label, features, group, augmented: true);
        }, progress, cancel);
        return (data, report);
    }

    /// <summary>
    /// Runs <see cref="Ensure"/> for every sample of <paramref name="classes"/> (in the order of <paramref name="samples"/>)
    /// and calls <paramref name="add"/>(label, sample) for each readable one, label being the class's position in
    /// <paramref name="classes"/>: the loop <see cref="Collect"/> and the fine-tuning activations share.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancel"/> was signalled (checked per sample).</exception>
    public static FeatureReport EnsureAll(
        IReadOnlyList<TeachClass> classes, IReadOnlyList<TeachSample> samples, FeatureExtractor extractor, IFeatureStore cache,
        int augment, int seed, AugmentOptions? augmentOptions, Action<int, TeachSample> add,
        IProgress<(int Done, int Total)>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(classes);
        ArgumentNullException.ThrowIfNull(samples);
        ArgumentNullException.ThrowIfNull(add);
        if (augment < 0) throw new ArgumentOutOfRangeException(nameof(augment), "augmented copies must be 0 or more");
        if (cache.Dimension != extractor.Dimension)
            throw new ArgumentException($"the cache holds {cache.Dimension} values per sample, the backbone makes {extractor.Dimension}");
        var clock = Stopwatch.StartNew();
        var labelOf = new Dictionary<int, int>();
        for (int i = 0; i < classes.Count; i++) labelOf[classes[i].Index] = i;
        var wanted = samples.Where(s => labelOf.ContainsKey(s.ClassIndex)).ToArray();
        var unreadable = new List<string>();
        int computed = 0, cached = 0, done = 0;
        foreach (var sample in wanted)
        {
            cancel.ThrowIfCancellationRequested();
            int runs = Ensure(sample, extractor, cache, augment, seed, augmentOptions);
            done++;
            progress?.Report((done, wanted.Length));
            if (runs < 0)
            {
                unreadable.Add(sample.Path);
                continue;
            }
            computed += runs;
            cached += 1 + augment - runs;
            add(labelOf[sample.ClassIndex], sample);
        }
        return new FeatureReport(wanted.Length, computed, cached, unreadable, clock.Elapsed.TotalSeconds);
    }
}
