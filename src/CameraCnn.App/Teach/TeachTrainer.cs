// TeachTrainer: the trainer thread of a TeachSession. It loads the backbone, computes features of recorded frames
// while idle (cached per frame, kept on disk), trains a head when asked (a newer request supersedes the running one) or
// fine-tunes the backbone's last blocks with it (TeachTrainer.FineTune.cs), hands the result to the session, and writes
// models. Long-lived, at a lower priority (nice 5 on Linux) and on its own core: its kernels never take the engine's
// worker threads, so the camera, the inference thread and the window keep running.
using System.Diagnostics;
using CameraCnn.App.Cli;
using CameraCnn.Engine;
using CameraCnn.Engine.Teach;
using CameraCnn.Engine.Training;
using CameraCnn.Vision.Teach;
using OpenCvSharp;

namespace CameraCnn.App.Teach;

/// <summary>Training, feature extraction and saving for one <see cref="TeachSession"/>, on one thread.</summary>
internal sealed partial class TeachTrainer : IDisposable
{
    /// <summary>A training asked for: with its options, and whether it came by itself (a key release) rather than T.</summary>
    private sealed record TrainRequest(HeadOptions Options, bool Automatic);

    /// <summary>
    /// The backbone the features are computed with, its extractor (this thread's instance) and its cache, swapped as one:
    /// a fine-tuned backbone comes with a cache of its own. <paramref name="Persist"/>: the cache is written to the data
    /// folder (the session's backbone, or a fine-tuned one once a model with it was saved).
    /// </summary>
    private sealed record Features(BackboneSource Backbone, FeatureExtractor Extractor, FeatureCache Cache, bool Persist);

    private static readonly TimeSpan RecorderWait = TimeSpan.FromSeconds(10);

    private readonly TeachSession _session;
    private readonly TeachOptions _o;
    private readonly BackboneSource _backbone;
    private readonly Thread _thread;
    private readonly AutoResetEvent _wake = new(false);
    private readonly ManualResetEventSlim _ready = new(false);
    private readonly ManualResetEventSlim _trainingIdle = new(true);
    private readonly System.Collections.Concurrent.ConcurrentQueue<TeachSample> _pending = new();
    private readonly HashSet<string> _unreadable = new(StringComparer.Ordinal);
    private readonly Lock _requests = new();
    private TrainRequest? _trainRequest;
    private FineTuneOptions? _fineTuneRequest;
    private string? _saveRequest;
    private CancellationTokenSource? _running;
    private bool _runningFineTune;
    private volatile bool _stop;
    private volatile TeachStatus _status = new(TeachPhase.Starting, "loading the backbone");
    private volatile TeachTrainingResult? _last;
    private volatile Features? _features;
    private volatile int _dimension;
    private volatile bool _cacheDirty;
    private int _trainings, _fineTunings;

    public TeachTrainer(TeachSession session, TeachOptions options, BackboneSource backbone)
    {
        _session = session;
        _o = options;
        _backbone = backbone;
        foreach (var s in session.Dataset.Samples()) _pending.Enqueue(s);
        _thread = new Thread(Run) { IsBackground = true, Name = "camcnn teach trainer", Priority = ThreadPriority.BelowNormal };
        _thread.Start();
    }

    public TeachStatus Status => _status;
    public TeachTrainingResult? LastTraining => _last;
    public int FeatureDimension => _dimension;
    public bool IsTraining => !_trainingIdle.IsSet;
    /// <summary>Trainings that finished and published a head.</summary>
    public int Trainings => Volatile.Read(ref _trainings);
    /// <summary>Of those, fine-tuning runs (which published a backbone too).</summary>
    public int FineTunings => Volatile.Read(ref _fineTunings);

    /// <summary>
    /// Asks for a head training on every recorded frame; a request not yet started is replaced and a running head training
    /// is cancelled at its next batch (its head is not published), so the newest request is the one that finishes. A
    /// running fine-tuning is not: the head trains after it, on the fine-tuned backbone (a key released during minutes of
    /// fine-tuning should not throw them away for a training of a fraction of a second).
    /// </summary>
    public void RequestTraining(HeadOptions options, bool automatic)
    {
        lock (_requests)
        {
            _trainRequest = new TrainRequest(options, automatic);
            if (!_runningFineTune) _running?.Cancel();
            _trainingIdle.Reset();
        }
        _wake.Set();
    }

    /// <summary>
    /// Asks for a fine-tuning run (T with --fine-tune): a running training or fine-tuning is cancelled and a waiting head
    /// training dropped (the fine-tuning trains a head on every frame too).
    /// </summary>
    public void RequestFineTuning(FineTuneOptions options)
    {
        lock (_requests)
        {
            _fineTuneRequest = options;
            _trainRequest = null;
            _running?.Cancel();
            _trainingIdle.Reset();
        }
        _wake.Set();
    }

    /// <summary>Stops a running training at the next batch and drops the waiting requests; the current head stays.</summary>
    public void CancelTraining()
    {
        lock (_requests)
        {
            _trainRequest = null;
            _fineTuneRequest = null;
            _running?.Cancel();
            if (_running is null) _trainingIdle.Set();
        }
    }

    public bool WaitForTraining(TimeSpan timeout) => _trainingIdle.Wait(timeout);

    public bool WaitUntilReady(TimeSpan timeout) => _ready.Wait(timeout);

    public void RequestSave(string path)
    {
        lock (_requests) _saveRequest = path;
        _wake.Set();
    }

    /// <summary>
    /// A sample was written (recorder thread): its features, if the inference thread had them from the current backbone,
    /// go to the cache; others (none, or a backbone replaced since) are computed in the background.
    /// </summary>
    public void Saved(TeachSample sample, ReadOnlySpan<float> features, BackboneSource? computedBy)
    {
        var f = _features;
        bool have = f is not null && features.Length == f.Cache.Dimension && (computedBy is null || computedBy.Name == f.Backbone.Name);
        if (have)
        {
            f!.Cache.Set(sample.Key, features);
            _cacheDirty = true;
        }
        if (!have || _o.Augment > 0) // the augmented copies still need their own forwards
        {
            _pending.Enqueue(sample);
            _wake.Set();
        }
    }

    /// <summary>A sample was deleted (recorder thread): its features (and its augmented copies') leave the cache.</summary>
    public void Deleted(TeachSample sample)
    {
        if (_features?.Cache is not { } cache) return;
        cache.Remove(sample.Key);
        for (int a = 1; a <= _o.Augment; a++) cache.Remove(TeachFeatures.AugmentedKey(sample.Key, a));
        _cacheDirty = true;
    }

    private void SetStatus(TeachStatus status)
    {
        _status = status;
        _session.RaiseChanged();
    }

    private void Run()
    {
        // Thread.Priority does nothing on Linux (every thread of the default policy has priority 0): nice does it there.
        // Kernels stay on this thread, so the engine's workers (normal priority) serve the inference thread alone.
        BackgroundPriority.Lower();
        Engine.Kernels.Parallelism.InlineOnThisThread = true;
        try
        {
            Initialise();
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or ShapeException
                                      or ArgumentException or CliException or OutOfMemoryException or UnauthorizedAccessException)
        {
            SetStatus(new TeachStatus(TeachPhase.Failed, $"cannot load backbone {_backbone.Name}: {e.Message}", IsError: true));
        }
        finally
        {
            _ready.Set();
        }

        while (!_stop)
        {
            TrainRequest? train;
            FineTuneOptions? fineTune = null;
            string? save = null;
            CancellationToken cancel = default;
            lock (_requests)
            {
                // A head training first (a fraction of a second; on start, before a fine-tuning asked for with it).
                train = _trainRequest;
                _trainRequest = null;
                if (train is null) (fineTune, _fineTuneRequest) = (_fineTuneRequest, null);
                if (train is not null || fineTune is not null)
                {
                    _running = new CancellationTokenSource();
                    cancel = _running.Token;
                    _runningFineTune = fineTune is not null;
                }
                else (save, _saveRequest) = (_saveRequest, null);
            }
            if (train is not null) RunTraining(train, cancel);
            else if (fineTune is not null) RunFineTuning(fineTune, cancel);
            else if (save is not null) RunSave(save);
            else if (!ExtractOnePending()) _wake.WaitOne(500);
        }
        // S pressed just before quitting: the model is still written (a training in progress was cancelled).
        string? lastSave;
        lock (_requests) lastSave = _saveRequest;
        if (lastSave is not null)
        {
            RunSave(lastSave);
            if (_status.IsError) Console.Error.WriteLine($"camcnn: {_status.Message}");
        }
        SaveCache();
        _features?.Extractor.Dispose();
    }

    private void Initialise()
    {
        var extractor = new FeatureExtractor(_backbone.Load());
        _dimension = extractor.Dimension;
        if (_session.CurrentHead is { } head && head.Dimension != _dimension) _session.PublishHead(null);
        FeatureCache cache;
        string note = "";
        try
        {
            cache = _o.PersistFeatures ? FeatureCache.Load(_backbone.CacheFile(_session.Dataset.Directory), _backbone.Name, _dimension)
                                       : new FeatureCache(_backbone.Name, _dimension);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException or NotSupportedException)
        {
            cache = new FeatureCache(_backbone.Name, _dimension);
            note = $" (feature cache ignored: {e.Message})";
        }
        _features = new Features(_backbone, extractor, cache, _o.PersistFeatures);
        SetStatus(new TeachStatus(TeachPhase.Idle, $"ready: {_backbone.Name} loaded, {cache.Count} cached feature vector(s){note}"));
        if (_o.TrainOnStart && _session.CurrentHead is null) RequestTraining(_o.Head, automatic: true);
        if (_o.FineTuneOnStart && _o.FineTune is { } fineTune && _session.Dataset.Classes.Count(c => c.Count > 0) >= 2)
            lock (_requests)
            {
                _fineTuneRequest = fineTune; // after the head training on start: the head predicts while the blocks train
                _trainingIdle.Reset();
            }
    }

    /// <summary>Computes the features of one recorded frame that has none yet. False when there was nothing to do.</summary>
    private bool ExtractOnePending()
    {
        if (!_o.BackgroundExtraction || _features is not { } f) return false;
        while (_pending.TryDequeue(out var sample))
        {
            if (_unreadable.Contains(sample.Key)) continue;
            try
            {
                int runs = TeachFeatures.Ensure(sample, f.Extractor, f.Cache, _o.Augment, _o.Head.Training.Seed, _o.AugmentOptions);
                if (runs == 0) continue;
                if (runs < 0)
                {
                    if (File.Exists(sample.Path)) _unreadable.Add(sample.Key); // deleted meanwhile is not unreadable
                    continue;
                }
                _cacheDirty = true;
                return true;
            }
            catch (Exception e) when (e is ArgumentException or ShapeException or OpenCVException)
            {
                _unreadable.Add(sample.Key);
            }
        }
        return false;
    }

    private void RunTraining(TrainRequest request, CancellationToken cancel)
    {
        var dataset = _session.Dataset;
        try
        {
            if (_features is not { } f)
            {
                if (!request.Automatic)
                    SetStatus(_status with { Message = "cannot train: " + (_status.Phase == TeachPhase.Failed ? _status.Message : "the backbone is not loaded"), IsError = true });
                return;
            }
            // Frames recorded before the request are trained on: let the recorder write what it has queued.
            _session.Recorder.Flush(RecorderWait);
            // A training that came by itself (a key release) waits quietly for a second class; T says why it cannot.
            if (request.Automatic && dataset.Classes.Count(c => c.Count > 0) < 2) return;
            SetStatus(new TeachStatus(TeachPhase.Extracting, "computing features"));
            _cacheDirty = true; // features computed before a cancel or failure are kept too
            var clock = Stopwatch.StartNew();
            var result = TeachTraining.Run(dataset, f.Extractor, f.Cache, request.Options, _o.Augment, _o.AugmentOptions,
                new InlineProgress<(int Done, int Total)>(p =>
                {
                    if (p.Done == p.Total || clock.ElapsedMilliseconds > 50)
                    {
                        clock.Restart();
                        SetStatus(new TeachStatus(TeachPhase.Extracting, $"computing features {p.Done}/{p.Total}", p.Done, p.Total));
                    }
                }),
                new InlineProgress<HeadProgress>(p => SetStatus(new TeachStatus(TeachPhase.Training,
                    $"training epoch {p.Epoch}/{p.Epochs}: loss {p.Loss:F3}, validation accuracy {Percent(p.ValAccuracy)}",
                    0, 0, p.Epoch, p.Epochs, p.Loss, p.TrainAccuracy, p.ValAccuracy))),
                cancel);
            foreach (string path in result.Features.Unreadable) _unreadable.Add(TeachDataset.KeyOf(new FileInfo(path)));

            // Classes renamed while training: the head shows today's names.
            var names = dataset.Classes.ToDictionary(c => c.Index, c => c.Name);
            var head = result.Head.Head;
            var labels = head.ClassIndices.Select((ci, k) => names.TryGetValue(ci, out var n) ? n : head.Labels[k]).ToArray();
            _last = result with { Backbone = f.Backbone.Name };
            Interlocked.Increment(ref _trainings);
            _session.PublishHead(head.WithLabels(labels), f.Backbone);
            SaveCache();
            SetStatus(new TeachStatus(TeachPhase.Idle, Summary(result), result.Features.Samples, result.Features.Samples,
                result.Head.Epochs, result.Head.Epochs, result.Head.Loss, result.Head.TrainAccuracy, result.Head.ValAccuracy));
        }
        catch (OperationCanceledException)
        {
            bool superseded;
            lock (_requests) superseded = _trainRequest is not null || _fineTuneRequest is not null;
            SetStatus(new TeachStatus(TeachPhase.Idle, superseded ? "training again with the newest frames" : "training cancelled; the previous head is kept"));
        }
        catch (Exception e) when (e is InvalidDataException or DivergedException or ShapeException or ArgumentException
                                      or IOException or OpenCVException or OutOfMemoryException)
        {
            SetStatus(new TeachStatus(TeachPhase.Idle, $"training failed: {e.Message}", IsError: true));
        }
        finally
        {
            EndRun();
        }
    }

    /// <summary>A training or fine-tuning ended (finished, cancelled or failed): idle unless another is waiting.</summary>
    private void EndRun()
    {
        lock (_requests)
        {
            _running?.Dispose();
            _running = null;
            _runningFineTune = false;
            if (_trainRequest is null && _fineTuneRequest is null) _trainingIdle.Set();
        }
    }

    private static string Percent(float v) => float.IsNaN(v) ? "n/a" : $"{v:P1}";

    private static string Summary(TeachTrainingResult r)
    {
        var h = r.Head;
        string skipped = r.Features.Skipped > 0 ? $"; skipped {r.Features.Skipped} unreadable file(s)" : "";
        string empty = h.EmptyClasses.Count > 0 ? $"; left out class(es) without frames: {string.Join(", ", h.EmptyClasses)}" : "";
        return $"trained {h.Head.Classes} classes on {h.TrainSamples} frame(s): validation accuracy {Percent(h.ValAccuracy)} " +
               $"on {h.ValSamples} held-out frame(s); head {h.Seconds:F2} s, features {r.Features.Seconds:F1} s " +
               $"({r.Features.Computed} computed){skipped}{empty}";
    }

    private void RunSave(string path)
    {
        var before = _status;
        SetStatus(new TeachStatus(TeachPhase.Saving, $"saving {path}"));
        try
        {
            var backbone = _session.SaveModel(path);
            // A fine-tuned backbone's features are worth keeping once a model with it exists (reopening it reads them).
            if (_features is { Persist: false } f && f.Backbone.Name == backbone.Name)
            {
                _features = f with { Persist = _o.PersistFeatures };
                _cacheDirty = true;
                SaveCache();
            }
            SetStatus(new TeachStatus(TeachPhase.Idle, $"saved {_session.LastSaved}"));
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or UnauthorizedAccessException or ShapeException
                                      or NotSupportedException or InvalidDataException or ArgumentException or CliException)
        {
            SetStatus(before with { Message = $"save failed: {e.Message}", IsError = true });
        }
    }

    private void SaveCache()
    {
        if (_features is not { Persist: true } f || !_cacheDirty) return;
        var cache = f.Cache;
        TeachFeatures.PruneCache(_session.Dataset, cache); // frames deleted or replaced since: their entries go (as in train --backbone)
        try
        {
            cache.Save(f.Backbone.CacheFile(_session.Dataset.Directory));
            _cacheDirty = false;
        }
        catch (IOException)
        {
            // A read-only or full disk: the features stay in memory; next run recomputes them. Nothing else is lost.
        }
    }

    /// <summary>Cancels a training, writes a model save still requested, stops the thread and keeps the feature cache.</summary>
    public void Dispose()
    {
        if (_stop) return;
        CancelTraining();
        _stop = true;
        _wake.Set();
        if (!_thread.Join(TimeSpan.FromSeconds(30)))
        {
            Console.Error.WriteLine("camcnn: warning: the teach trainer thread did not stop within 30 s");
            return; // the events stay alive for it
        }
        _wake.Dispose();
        _ready.Dispose();
        _trainingIdle.Dispose();
    }
}
