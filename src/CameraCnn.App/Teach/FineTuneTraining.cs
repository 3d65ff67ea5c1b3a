// FineTuneTraining: one fine-tuning run, for `camcnn train --backbone --fine-tune N` and the live session's trainer
// thread (T): the cut before the last N residual blocks, the frozen part run once per frame into the activation cache
// (DATA/.camcnn-activations-*.bin, pruned of deleted frames), the blocks and a head trained on it, and the whole network
// (backbone with the new weights + head) returned as one model nobody else holds; for the session also every frame's
// features through the trained blocks, from the cached activations. The caller picks the thread.
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Teach;
using CameraCnn.Vision.Teach;

namespace CameraCnn.App.Teach;

/// <summary>A backbone instance and where it is cut, checked before any frame is read.</summary>
/// <param name="Network">A fresh instance of the backbone: its weights are the start point and it becomes the result's
/// network (trained weights written in), so nothing else may use it.</param>
public sealed record FineTunePlan(BackboneSource Source, Model Network, Cut Cut);

/// <summary>How a run treats the activation cache and the frames.</summary>
public sealed record FineTuneSettings
{
    /// <summary>Augmented copies per frame (flip, crop, colour jitter), each one frozen-part forward, cached.</summary>
    public int Augment { get; init; }
    public AugmentOptions? AugmentOptions { get; init; }
    /// <summary>False: a temporary cache that is never saved (--no-cache).</summary>
    public bool PersistCache { get; init; } = true;
    /// <summary>The activations are held in memory when they fit this many bytes; else every epoch reads them from disk.</summary>
    public long MemoryBudgetBytes { get; init; } = DefaultMemoryBudget;
    /// <summary>
    /// Also compute every frame's features through the trained blocks (<see cref="FineTuneOutcome.Features"/>, from the
    /// cached activations: a pass over the blocks, not whole forwards), for a head trained later on the fine-tuned backbone.
    /// </summary>
    public bool TunedFeatures { get; init; }

    /// <summary>1 GiB, or a quarter of the memory this process may use when that is less.</summary>
    public static long DefaultMemoryBudget => Math.Min(1L << 30, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 4);
}

/// <summary>What a fine-tuning run produced.</summary>
/// <param name="Model">Backbone with the trained blocks + head, labels, preprocessing and the cut in its metadata: save
/// it, or fuse it (<c>InferenceFusion.Fuse(Model.Graph)</c>) and swap it in. Owned by the caller alone.</param>
/// <param name="Activations">How the activations were obtained (computed vs cached, skipped files, seconds).</param>
/// <param name="InMemory">The activations fit the memory budget (else the epochs read them from the cache file).</param>
/// <param name="Pruned">Cache entries dropped because their frames are gone.</param>
/// <param name="Backbone">The fine-tuned backbone as a source of its own (named by its weights), loading the plan's
/// source with the trained blocks written over it.</param>
/// <param name="Features">With <see cref="FineTuneSettings.TunedFeatures"/>: every frame's (and augmented copy's)
/// features through the trained blocks, tagged with <paramref name="Backbone"/>'s name; else null.</param>
public sealed record FineTuneOutcome(Model Model, FineTuneResult Result, FeatureReport Activations, bool InMemory, int Pruned,
    int Samples, int AugmentedSamples, string? CacheFile, BackboneSource Backbone, FeatureCache? Features = null);

/// <summary>Runs <see cref="CutActivations.Collect"/> then <see cref="FineTuner.Train"/>.</summary>
public static class FineTuneTraining
{
    /// <summary>Loads a fresh backbone instance and finds the cut before its last <paramref name="blocks"/> residual blocks.</summary>
    /// <exception cref="ArgumentException">The backbone has no residual blocks, or <paramref name="blocks"/> is not in 1..count.</exception>
    public static FineTunePlan Plan(BackboneSource source, int blocks)
    {
        ArgumentNullException.ThrowIfNull(source);
        var network = source.Load();
        return new FineTunePlan(source, network, ResidualBlocks.CutBefore(network.Graph, blocks));
    }

    /// <summary>The activation cache file of a plan inside a data folder.</summary>
    public static string CacheFile(FineTunePlan plan, string dataDirectory) =>
        Path.Combine(dataDirectory, ActivationCache.FileName(plan.Source.Name, plan.Cut.Node.Name));

    /// <summary>
    /// Fine-tunes <paramref name="plan"/> on the frames of <paramref name="dataset"/>. Runs on the calling thread (give
    /// the live session's trainer thread a below-normal priority); it loads a second backbone instance for the frozen
    /// part and shares no layer with any other graph, so inference may run elsewhere meanwhile. The plan's network is
    /// consumed: it is <see cref="FineTuneOutcome.Model"/>'s backbone afterwards.
    /// <paramref name="warning"/> hears about a cache file that could not be used (it is rebuilt).
    /// </summary>
    /// <exception cref="IOException">The activation cache could not be written (e.g. the disk is full); the old cache
    /// file is untouched and nothing else was written.</exception>
    /// <exception cref="InvalidDataException">Fewer than two classes have readable frames.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    /// <exception cref="CameraCnn.Engine.Training.DivergedException">The loss became NaN or infinite.</exception>
    public static FineTuneOutcome Run(FineTunePlan plan, TeachDataset dataset, FineTuneOptions options, FineTuneSettings settings,
        IProgress<(int Done, int Total)>? activationProgress = null, IProgress<FineTuneProgress>? trainProgress = null,
        Action<string>? warning = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(settings);
        options.Validate();
        if (options.Blocks != plan.Cut.Blocks) throw new ArgumentException($"the plan cuts before {plan.Cut.Blocks} blocks, the options ask for {options.Blocks}");
        var cut = plan.Cut;
        string? cacheFile = settings.PersistCache ? CacheFile(plan, dataset.Directory) : null;
        int[] shape = cut.Shape[1..];
        string cutName = cut.Node.Name;
        using var cache = OpenCache(cacheFile, plan.Source.Name, cutName, shape, warning);
        using var extractor = CutActivations.Extractor(plan.Source.Load(), cut);
        var classes = dataset.Classes;
        var samples = dataset.Samples();
        FineTuneData data;
        FeatureReport report;
        int pruned;
        try
        {
            (data, report) = CutActivations.Collect(classes, samples, extractor, cache, settings.Augment, options.Head.Training.Seed,
                settings.AugmentOptions, activationProgress, cancel);
            var present = new HashSet<string>(samples.Select(s => s.Key), StringComparer.Ordinal);
            pruned = cache.Commit(key => present.Contains(BaseKey(key)));
        }
        catch (IOException e)
        {
            string where = cacheFile is null ? "a temporary file" : Path.GetDirectoryName(Path.GetFullPath(cacheFile))!;
            throw new IOException($"cannot cache the activations at '{cutName}' in {where}: {e.Message}", e);
        }
        bool inMemory = cache.HoldInMemory(data.Keys, settings.MemoryBudgetBytes);
        var result = FineTuner.Train(plan.Network.Graph, cut, data, options, trainProgress, cancel);
        var model = result.Compose(plan.Network, plan.Source.Family);
        var tuned = plan.Source.Tuned(result, model);
        FeatureCache? features = null;
        if (settings.TunedFeatures)
        {
            var end = TeachModel.FeatureNode(model);
            var tunedCut = ResidualBlocks.CutBefore(model.Graph, cut.Blocks, end);
            features = new FeatureCache(tuned.Name, result.Head.Dimension);
            FineTuner.Features(model.Graph, tunedCut, end, data, features, options.BatchSize, cancel);
        }
        return new FineTuneOutcome(model, result, report, inMemory, pruned, data.OriginalCount, data.Count - data.OriginalCount, cacheFile,
            tuned, features);
    }

    /// <summary>A sample's key without the augmented-copy suffix (see <see cref="TeachFeatures.AugmentedKey"/>).</summary>
    private static string BaseKey(string key)
    {
        int at = key.LastIndexOf("#aug", StringComparison.Ordinal);
        return at < 0 ? key : key[..at];
    }

    private static ActivationCache OpenCache(string? path, string backbone, string cut, int[] shape, Action<string>? warning)
    {
        if (path is null) return ActivationCache.Create(null, backbone, cut, shape);
        try
        {
            return ActivationCache.Open(path, backbone, cut, shape);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            warning?.Invoke($"activation cache ignored, activations are recomputed: {e.Message}");
            return ActivationCache.Create(path, backbone, cut, shape);
        }
    }
}
