// TeachSession: teach mode without the window: what the window drives when the user holds 1..9, presses Backspace, R,
// T, S or W. Two long-lived threads of its own: the recorder (writes frames, never blocks the caller) and the trainer
// (loads the backbone, computes features of recorded frames while idle, trains the head on request, saves models).
// A trained head is published by swapping one reference, so the inference thread's Classify switches between two
// frames without a pause and without a lock. No OpenGL here; the window only reads the state it shows.
using System.Diagnostics;
using CameraCnn.App.Cli;
using CameraCnn.Engine;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Teach;
using CameraCnn.Engine.Training;
using CameraCnn.Vision.Teach;
using OpenCvSharp;

namespace CameraCnn.App.Teach;

/// <summary>How a <see cref="TeachSession"/> records, trains and saves.</summary>
public sealed record TeachOptions
{
    /// <summary>The ImageFolder of recorded frames (--data); created if missing, reopened and extended later.</summary>
    public string DataDirectory { get; init; } = TeachDataset.DefaultDirectory;
    /// <summary>The feature extractor; null means the shipped ResNet18.</summary>
    public BackboneSource? Backbone { get; init; }
    public HeadOptions Head { get; init; } = new();
    /// <summary>Augmented copies (flip, crop, colour jitter) per recorded frame, each one extra backbone forward; 0 = off.</summary>
    public int Augment { get; init; }
    public AugmentOptions? AugmentOptions { get; init; }
    /// <summary>Confidence below which <see cref="TeachSession.Classify"/> says "unknown" (--threshold).</summary>
    public float Threshold { get; init; } = 0.5f;
    /// <summary>Keep features in DIR/.camcnn-features-NAME.bin so the next run does not recompute them.</summary>
    public bool PersistFeatures { get; init; } = true;
    /// <summary>Compute the features of newly recorded frames while idle, so training has little left to do.</summary>
    public bool BackgroundExtraction { get; init; } = true;
    /// <summary>Frames that may wait to be written before more are dropped.</summary>
    public int RecordQueue { get; init; } = 32;
    /// <summary>A head to predict with until the first training (e.g. read from the --model file with <see cref="TeachModel.ReadHead"/>).</summary>
    public ClassifierHead? InitialHead { get; init; }
    /// <summary>
    /// Without an initial head, train one as soon as the backbone is loaded when the folder already holds two or more
    /// classes with frames (a reopened folder predicts again without pressing T; cached features make it quick).
    /// </summary>
    public bool TrainOnStart { get; init; }
}

/// <summary>What the trainer thread is doing.</summary>
public enum TeachPhase
{
    /// <summary>Loading the backbone and the feature cache.</summary>
    Starting,
    /// <summary>Waiting (possibly computing features of new frames in the background).</summary>
    Idle,
    /// <summary>Training requested: computing the features still missing.</summary>
    Extracting,
    /// <summary>Training the head.</summary>
    Training,
    /// <summary>Writing a model file.</summary>
    Saving,
    /// <summary>The backbone could not be loaded: recording works, training and saving do not.</summary>
    Failed,
}

/// <summary>
/// One snapshot of the trainer's progress (a new object per change; read <see cref="TeachSession.Status"/> as often as
/// wanted). <see cref="Message"/> is a line for the user: what is happening, or what went wrong last.
/// </summary>
public sealed record TeachStatus(
    TeachPhase Phase,
    string Message,
    int FeaturesDone = 0,
    int FeaturesTotal = 0,
    int Epoch = 0,
    int Epochs = 0,
    float Loss = float.NaN,
    float TrainAccuracy = float.NaN,
    float ValAccuracy = float.NaN,
    bool IsError = false)
{
    /// <summary>0..1 over the current extraction or training, for a progress bar.</summary>
    public double Fraction => Phase switch
    {
        TeachPhase.Extracting => FeaturesTotal == 0 ? 0 : (double)FeaturesDone / FeaturesTotal,
        TeachPhase.Training => Epochs == 0 ? 0 : (double)Epoch / Epochs,
        _ => 0,
    };
}

/// <summary>The live verdict on one feature vector.</summary>
/// <param name="Output">The head's arg-max output, -1 without a head.</param>
/// <param name="ClassIndex">That output's data set class number (key - 1), -1 without a head or for an unknown class.</param>
/// <param name="Label">The class name, or "unknown" below the threshold, or "" without a head.</param>
/// <param name="IsUnknown">True without a head or when <paramref name="Confidence"/> is below the threshold.</param>
public readonly record struct TeachPrediction(int Output, int ClassIndex, string Label, float Confidence, bool IsUnknown)
{
    public static readonly TeachPrediction None = new(-1, -1, "", 0f, true);
}

/// <summary>
/// The headless core of teach mode. Create with <see cref="Open"/>, call from any thread; nothing here blocks on disk
/// or training except the explicit waits (<see cref="Flush"/>, <see cref="WaitForTraining"/>, <see cref="WaitUntilReady"/>)
/// and the synchronous <see cref="Save"/>.
/// </summary>
public sealed class TeachSession : IDisposable
{
    public const string UnknownLabel = "unknown";

    private readonly TeachOptions _o;
    private readonly BackboneSource _backbone;
    private readonly Thread _thread;
    private readonly AutoResetEvent _wake = new(false);
    private readonly ManualResetEventSlim _ready = new(false);
    private readonly ManualResetEventSlim _trainingIdle = new(true);
    private readonly System.Collections.Concurrent.ConcurrentQueue<TeachSample> _pending = new();
    private readonly HashSet<string> _unreadable = new(StringComparer.Ordinal);
    private readonly Lock _requests = new();
    private HeadOptions? _trainRequest;
    private string? _saveRequest;
    private CancellationTokenSource? _trainCancel;
    private volatile bool _stop;
    private volatile ClassifierHead? _head;
    private long _headVersion;
    private volatile TeachStatus _status = new(TeachPhase.Starting, "loading the backbone");
    private volatile TeachTrainingResult? _last;
    private volatile string? _lastSaved;
    private string? _recorderProblem;
    private volatile float _threshold;
    private FeatureExtractor? _extractor;
    private FeatureCache? _cache;
    private volatile int _dimension;
    private volatile bool _cacheDirty;
    private TeachFolderLock? _folderLock;

    private TeachSession(TeachOptions options, TeachDataset dataset)
    {
        _o = options;
        _backbone = options.Backbone ?? BackboneSource.Resolve(ModelCatalog.ResNet18);
        _threshold = Math.Clamp(options.Threshold, 0f, 1f);
        Dataset = dataset;
        if (options.InitialHead is { } initial) _head = MapToDataset(initial);
        Recorder = new TeachRecorder(dataset, options.RecordQueue);
        Recorder.Saved += OnSaved;
        Recorder.Deleted += OnDeleted;
        Recorder.ClassChanged += OnClassChanged;
        Recorder.Failed += problem =>
        {
            _recorderProblem = problem;
            Changed?.Invoke();
        };
        foreach (var s in dataset.Samples()) _pending.Enqueue(s);
        _thread = new Thread(Run) { IsBackground = true, Name = "camcnn teach trainer", Priority = ThreadPriority.BelowNormal };
        _thread.Start();
    }

    /// <summary>
    /// Opens (creating if needed) the data folder and starts the recorder and trainer threads. Returns at once: the
    /// backbone loads on the trainer thread (<see cref="Status"/> says when it is ready).
    /// </summary>
    /// <exception cref="IOException">The data folder cannot be created or listed.</exception>
    public static TeachSession Open(TeachOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Head.Validate();
        if (options.Augment < 0) throw new ArgumentException("augmented copies must be 0 or more");
        if (!(options.Threshold >= 0 && options.Threshold <= 1)) throw new ArgumentException("the threshold must be in [0, 1]");
        var dataset = TeachDataset.Open(options.DataDirectory);
        var folderLock = TeachFolderLock.Acquire(dataset.Directory); // a second session on the folder refuses, naming the first
        return new TeachSession(options, dataset) { _folderLock = folderLock };
    }

    /// <summary>The recorded frames (classes, counts, samples; read-only use: changes go through this session).</summary>
    public TeachDataset Dataset { get; }
    /// <summary>The recording thread (thumbnails, dropped-frame count, write errors).</summary>
    public TeachRecorder Recorder { get; }
    public string BackboneName => _backbone.Name;

    /// <summary>Raised (on a teach thread) when the status, a head, a class or a recording error changed: wake the window.</summary>
    public event Action? Changed;

    public TeachStatus Status => _status;
    /// <summary>The last finished training: validation accuracy, confusion matrix, timings. Null before the first.</summary>
    public TeachTrainingResult? LastTraining => _last;
    /// <summary>The head Classify uses, swapped atomically when a training finishes. Null until one exists.</summary>
    public ClassifierHead? CurrentHead => _head;
    /// <summary>Goes up by one each time <see cref="CurrentHead"/> is replaced (the window re-reads labels then).</summary>
    public long HeadVersion => Interlocked.Read(ref _headVersion);
    /// <summary>Feature vector length of the backbone (0 until it is loaded).</summary>
    public int FeatureDimension => _dimension;
    /// <summary>The path of the last model written by <see cref="RequestSave"/> or <see cref="Save"/>.</summary>
    public string? LastSaved => _lastSaved;
    public bool IsTraining => !_trainingIdle.IsSet;

    /// <summary>Confidence (0..1) under which predictions are "unknown".</summary>
    public float Threshold
    {
        get => _threshold;
        set => _threshold = Math.Clamp(value, 0f, 1f);
    }

    /// <summary>A write failed: recording is stopped (with <see cref="RecordingError"/>) until <see cref="ResumeRecording"/>.</summary>
    public bool IsRecordingStopped => Recorder.IsStopped;
    public string? RecordingError => Recorder.Error;
    public void ResumeRecording() => Recorder.Resume();

    /// <summary>The recorder's last failure (a write, delete or rename that did not happen), once; null if none since the last call.</summary>
    public string? TakeRecorderProblem() => Interlocked.Exchange(ref _recorderProblem, null);

    // ---- recording ------------------------------------------------------------------------------------------------

    /// <summary>
    /// Records a copy of <paramref name="frame"/> into class <paramref name="classIndex"/> (key k is index k - 1;
    /// created as "class{k}" if new). Returns at once; false if the frame was dropped (queue full or recording stopped
    /// by a write error). Also the correction path (W then a number): the frame joins that class.
    /// </summary>
    public bool Record(int classIndex, Mat frame) => Recorder.TryRecord(classIndex, frame);

    /// <summary>
    /// As <see cref="Record(int, Mat)"/>, with the frame's features as the inference thread already computed them (the
    /// output of <see cref="TeachModel.FeatureNode"/> of this session's backbone), so no second forward is needed.
    /// </summary>
    public bool Record(int classIndex, Mat frame, ReadOnlySpan<float> features) => Recorder.TryRecord(classIndex, frame, features);

    /// <summary>Deletes the last recorded sample (or the newest of a class); queued behind any frames still being written.</summary>
    public void DeleteLast(int? classIndex = null) => Recorder.DeleteLast(classIndex);

    /// <summary>Renames a class (queued). Returns the name as saved (sanitised). A trained head shows the new name at once after.</summary>
    /// <exception cref="ArgumentException">No usable characters, or another class has that name.</exception>
    public string Rename(int classIndex, string name) => Recorder.Rename(classIndex, name);

    /// <summary>Waits until queued frames, deletes and renames are on disk. False on timeout.</summary>
    public bool Flush(TimeSpan timeout) => Recorder.Flush(timeout);

    /// <summary>Current classes with sample counts (written samples only).</summary>
    public IReadOnlyList<TeachClass> Classes => Dataset.Classes;

    private void OnSaved(TeachSample sample, ReadOnlySpan<float> features)
    {
        var cache = Volatile.Read(ref _cache);
        bool have = cache is not null && features.Length == cache.Dimension;
        if (have)
        {
            cache!.Set(sample.Key, features);
            _cacheDirty = true;
        }
        if (!have || _o.Augment > 0) // the augmented copies still need their own forwards
        {
            _pending.Enqueue(sample);
            _wake.Set();
        }
        Changed?.Invoke();
    }

    private void OnDeleted(TeachSample sample)
    {
        var cache = Volatile.Read(ref _cache);
        if (cache is not null)
        {
            cache.Remove(sample.Key);
            for (int a = 1; a <= _o.Augment; a++) cache.Remove(TeachFeatures.AugmentedKey(sample.Key, a));
            _cacheDirty = true;
        }
        Changed?.Invoke();
    }

    private void OnClassChanged(TeachClass cls)
    {
        // A renamed class keeps its number: the live head shows the new name without retraining.
        var head = _head;
        if (head is not null)
        {
            int output = head.ClassIndices.ToList().IndexOf(cls.Index);
            if (output >= 0 && head.Labels[output] != cls.Name)
            {
                var labels = head.Labels.ToArray();
                labels[output] = cls.Name;
                Publish(head.WithLabels(labels));
            }
        }
        Changed?.Invoke();
    }

    /// <summary>Ties a head read from a model file to this data set's classes by name (unmatched outputs get -1).</summary>
    private ClassifierHead MapToDataset(ClassifierHead head)
    {
        var classes = Dataset.Classes;
        var indices = head.Labels.Select(l => classes.FirstOrDefault(c => c.Name == l)?.Index ?? -1).ToArray();
        return head.WithLabels(head.Labels, indices);
    }

    private void Publish(ClassifierHead head)
    {
        _head = head;
        Interlocked.Increment(ref _headVersion);
    }

    // ---- prediction -----------------------------------------------------------------------------------------------

    /// <summary>
    /// The current head's verdict on one feature vector (the backbone's output for the live frame), with the class
    /// probabilities written to <paramref name="probabilities"/> (at least <see cref="CurrentHead"/>.Classes long).
    /// <see cref="TeachPrediction.None"/> without a head. Lock-free and allocation-free; safe on the inference thread
    /// while a new head is trained and swapped in.
    /// </summary>
    public TeachPrediction Classify(ReadOnlySpan<float> features, Span<float> probabilities)
    {
        var head = _head;
        if (head is null) return TeachPrediction.None;
        int top = head.Predict(features, probabilities);
        float confidence = probabilities[top];
        return confidence < _threshold
            ? new TeachPrediction(top, -1, UnknownLabel, confidence, true)
            : new TeachPrediction(top, head.ClassIndices[top], head.Labels[top], confidence, false);
    }

    // ---- training -------------------------------------------------------------------------------------------------

    /// <summary>
    /// Asks the trainer thread to train a new head on every recorded frame (T). Returns at once; follow
    /// <see cref="Status"/>, then <see cref="LastTraining"/> and <see cref="CurrentHead"/>. False if a training is
    /// already running. The current head keeps predicting until the new one is swapped in; a failed or cancelled
    /// training keeps it.
    /// </summary>
    public bool StartTraining(HeadOptions? options = null)
    {
        var o = options ?? _o.Head;
        o.Validate();
        lock (_requests)
        {
            if (!_trainingIdle.IsSet) return false;
            _trainingIdle.Reset();
            _trainRequest = o;
            _trainCancel = new CancellationTokenSource();
        }
        _wake.Set();
        return true;
    }

    /// <summary>Stops a running training at the next batch; the current head stays.</summary>
    public void CancelTraining()
    {
        lock (_requests) _trainCancel?.Cancel();
    }

    /// <summary>Waits until no training is requested or running. False on timeout.</summary>
    public bool WaitForTraining(TimeSpan timeout) => _trainingIdle.Wait(timeout);

    /// <summary>Waits until the backbone is loaded (or failed to load). False on timeout.</summary>
    public bool WaitUntilReady(TimeSpan timeout) => _ready.Wait(timeout);

    // ---- saving ---------------------------------------------------------------------------------------------------

    /// <summary>Asks the trainer thread to write the backbone + current head as one ONNX file (S). Returns at once; see <see cref="Status"/>.</summary>
    public void RequestSave(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        lock (_requests) _saveRequest = path;
        _wake.Set();
    }

    /// <summary>
    /// Writes the backbone + current head as one ONNX file on the calling thread (seconds: it loads a fresh backbone
    /// and writes ~45 MB for ResNet18). Labels, the backbone's preprocessing, the feature node and the threshold go in
    /// the metadata. Atomic: a crash or error leaves any previous file as it was.
    /// </summary>
    /// <exception cref="InvalidOperationException">Nothing has been trained (or loaded) yet.</exception>
    /// <exception cref="IOException">The file cannot be written.</exception>
    public void Save(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var head = _head ?? throw new InvalidOperationException("nothing to save yet: train a head first");
        var model = TeachModel.Compose(_backbone.Load(), head, _backbone.Name, _threshold);
        model.Save(path);
        _lastSaved = Path.GetFullPath(path);
    }

    // ---- the trainer thread ---------------------------------------------------------------------------------------

    private void SetStatus(TeachStatus status)
    {
        _status = status;
        Changed?.Invoke();
    }

    private void Run()
    {
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
            HeadOptions? train;
            string? save;
            lock (_requests)
            {
                train = _trainRequest;
                save = _saveRequest;
                _trainRequest = null;
                _saveRequest = null;
            }
            if (train is not null) RunTraining(train);
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
        _extractor?.Dispose();
    }

    private void Initialise()
    {
        var model = _backbone.Load();
        _extractor = new FeatureExtractor(model);
        _dimension = _extractor.Dimension;
        if (_o.InitialHead is { } head && head.Dimension != _dimension)
        {
            _head = null;
            Interlocked.Increment(ref _headVersion);
        }
        FeatureCache cache;
        string note = "";
        try
        {
            cache = _o.PersistFeatures ? FeatureCache.Load(_backbone.CacheFile(Dataset.Directory), _backbone.Name, _dimension)
                                       : new FeatureCache(_backbone.Name, _dimension);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException or NotSupportedException)
        {
            cache = new FeatureCache(_backbone.Name, _dimension);
            note = $" (feature cache ignored: {e.Message})";
        }
        Volatile.Write(ref _cache, cache);
        SetStatus(new TeachStatus(TeachPhase.Idle, $"ready: {_backbone.Name} loaded, {cache.Count} cached feature vector(s){note}"));
        if (_o.TrainOnStart && _head is null && Dataset.Classes.Count(c => c.Count > 0) >= 2) StartTraining();
    }

    /// <summary>Computes the features of one recorded frame that has none yet. False when there was nothing to do.</summary>
    private bool ExtractOnePending()
    {
        if (!_o.BackgroundExtraction || _extractor is null || _cache is null) return false;
        while (_pending.TryDequeue(out var sample))
        {
            if (_unreadable.Contains(sample.Key)) continue;
            try
            {
                int runs = TeachFeatures.Ensure(sample, _extractor, _cache, _o.Augment, _o.Head.Seed, _o.AugmentOptions);
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

    private void RunTraining(HeadOptions options)
    {
        CancellationToken cancel;
        lock (_requests) cancel = _trainCancel?.Token ?? default;
        try
        {
            if (_extractor is null || _cache is null)
            {
                SetStatus(_status with { Message = "cannot train: " + (_status.Phase == TeachPhase.Failed ? _status.Message : "the backbone is not loaded"), IsError = true });
                return;
            }
            SetStatus(new TeachStatus(TeachPhase.Extracting, "computing features"));
            _cacheDirty = true; // features computed before a cancel or failure are kept too
            var clock = Stopwatch.StartNew();
            var result = TeachTraining.Run(Dataset, _extractor, _cache, options, _o.Augment, _o.AugmentOptions,
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
            var names = Dataset.Classes.ToDictionary(c => c.Index, c => c.Name);
            var head = result.Head.Head;
            var labels = head.ClassIndices.Select((ci, k) => names.TryGetValue(ci, out var n) ? n : head.Labels[k]).ToArray();
            Publish(head.WithLabels(labels));
            _last = result;
            SaveCache();
            SetStatus(new TeachStatus(TeachPhase.Idle, Summary(result), result.Features.Samples, result.Features.Samples,
                result.Head.Epochs, result.Head.Epochs, result.Head.Loss, result.Head.TrainAccuracy, result.Head.ValAccuracy));
        }
        catch (OperationCanceledException)
        {
            SetStatus(new TeachStatus(TeachPhase.Idle, "training cancelled; the previous head is kept"));
        }
        catch (Exception e) when (e is InvalidDataException or DivergedException or ShapeException or ArgumentException
                                      or IOException or OpenCVException or OutOfMemoryException)
        {
            SetStatus(new TeachStatus(TeachPhase.Idle, $"training failed: {e.Message}", IsError: true));
        }
        finally
        {
            lock (_requests)
            {
                _trainCancel?.Dispose();
                _trainCancel = null;
                _trainingIdle.Set();
            }
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
            Save(path);
            SetStatus(new TeachStatus(TeachPhase.Idle, $"saved {_lastSaved}"));
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or UnauthorizedAccessException or ShapeException
                                      or NotSupportedException or InvalidDataException or ArgumentException or CliException)
        {
            SetStatus(before with { Message = $"save failed: {e.Message}", IsError = true });
        }
    }

    private void SaveCache()
    {
        var cache = _cache;
        if (!_o.PersistFeatures || cache is null || !_cacheDirty) return;
        TeachFeatures.PruneCache(Dataset, cache); // frames deleted or replaced since: their entries go (as in train --backbone)
        try
        {
            cache.Save(_backbone.CacheFile(Dataset.Directory));
            _cacheDirty = false;
        }
        catch (IOException)
        {
            // A read-only or full disk: the features stay in memory; next run recomputes them. Nothing else is lost.
        }
    }

    /// <summary>Cancels a training, writes pending frames (up to 10 s), writes a model save still requested, stops both threads and keeps the feature cache.</summary>
    public void Dispose()
    {
        if (_stop) return;
        CancelTraining();
        Recorder.Dispose();
        _stop = true;
        _wake.Set();
        if (!_thread.Join(TimeSpan.FromSeconds(30)))
        {
            Console.Error.WriteLine("camcnn: warning: the teach trainer thread did not stop within 30 s");
            return; // the events stay alive for it (and the folder stays locked until the process ends)
        }
        _folderLock?.Dispose();
        _wake.Dispose();
        _ready.Dispose();
        _trainingIdle.Dispose();
    }
}
