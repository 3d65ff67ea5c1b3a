// TeachSession: teach mode without the window: what the window drives when the user holds 1..9, releases a key,
// presses Backspace, R, T, S or W. It records through a TeachRecorder (its own thread: the caller never waits for the
// disk) and trains and saves through a TeachTrainer (its own thread). A trained head, or with --fine-tune a fine-tuned
// backbone together with its head, is published by swapping one reference (TeachNetwork: a head never meets another
// backbone's features) and raising HeadChanged; the live pipeline turns it into the network the inference worker runs,
// which applies the head to every frame. No OpenGL here.
using CameraCnn.App.Cli;
using CameraCnn.App.Live;
using CameraCnn.Engine.Teach;
using CameraCnn.Vision.Teach;
using OpenCvSharp;

namespace CameraCnn.App.Teach;

/// <summary>
/// The backbone teach mode computes features with and the head that classifies them, published together: the head was
/// trained on that backbone's features (or read with it from a model file).
/// </summary>
public sealed record TeachNetwork(BackboneSource Backbone, ClassifierHead? Head);

/// <summary>
/// The headless core of teach mode. Create with <see cref="Open"/>, call from any thread; nothing here blocks on disk
/// or training except the explicit waits (<see cref="Flush"/>, <see cref="WaitForTraining"/>, <see cref="WaitUntilReady"/>)
/// and the synchronous <see cref="Save"/>.
/// </summary>
public sealed class TeachSession : IDisposable
{
    private readonly TeachOptions _o;
    private readonly BackboneSource _backbone;
    private readonly TeachTrainer _trainer;
    private readonly Lock _publish = new();
    private volatile TeachNetwork _network;
    private long _headVersion, _recorded;
    private string? _recorderProblem;
    private volatile string? _lastSaved;
    private volatile float _threshold;
    private bool _disposed;
    private TeachFolderLock? _folderLock;

    private TeachSession(TeachOptions options, TeachDataset dataset)
    {
        _o = options;
        _backbone = options.Backbone ?? BackboneSource.Resolve(ModelCatalog.ResNet18);
        _threshold = Math.Clamp(options.Threshold, 0f, 1f);
        Dataset = dataset;
        _network = new TeachNetwork(_backbone, options.InitialHead is { } initial ? MapToDataset(initial) : null);
        Recorder = new TeachRecorder(dataset, options.RecordQueue);
        _trainer = new TeachTrainer(this, options, _backbone);
        Recorder.Saved += OnSaved;
        Recorder.Deleted += OnDeleted;
        Recorder.ClassChanged += OnClassChanged;
        Recorder.Failed += problem =>
        {
            _recorderProblem = problem;
            RaiseChanged();
        };
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

    /// <summary>Raised (on a teach thread) when the status, a head, a class or a recording error changed: wake the window.</summary>
    public event Action? Changed;

    /// <summary>Raised (on a teach thread) when <see cref="Network"/> (the head, or the backbone with its head) or <see cref="Threshold"/> changed.</summary>
    public event Action? HeadChanged;

    /// <summary>
    /// Raised on the trainer thread when a fine-tuned backbone is about to become <see cref="Network"/>'s, before it does:
    /// the live pipeline loads and fuses its network there, off the inference thread, so the swap itself is one write.
    /// </summary>
    public event Action<BackboneSource>? BackboneReady;

    public TeachStatus Status => _trainer.Status;
    /// <summary>The last finished training: validation accuracy, confusion matrix, timings. Null before the first.</summary>
    public TeachTrainingResult? LastTraining => _trainer.LastTraining;
    /// <summary>Trainings that finished and published a head (started by T, by a key release or on start).</summary>
    public int Trainings => _trainer.Trainings;
    /// <summary>Of those, fine-tuning runs (T with --fine-tune), each of which published a fine-tuned backbone.</summary>
    public int FineTunings => _trainer.FineTunings;
    /// <summary>The head predictions use, swapped atomically when a training finishes. Null until one exists.</summary>
    public ClassifierHead? CurrentHead => _network.Head;
    /// <summary>The backbone and head predictions use now (one reference: read it once to get a matching pair).</summary>
    public TeachNetwork Network => _network;
    /// <summary>The backbone the session opened with: what a fine-tuning run starts from.</summary>
    public BackboneSource BaseBackbone => _backbone;
    /// <summary>Residual blocks T fine-tunes (--fine-tune; 0: T trains the head only).</summary>
    public int FineTuneBlocks => _o.FineTune?.Blocks ?? 0;
    /// <summary>Goes up by one each time <see cref="CurrentHead"/> is replaced.</summary>
    public long HeadVersion => Interlocked.Read(ref _headVersion);
    /// <summary>Feature vector length of the backbone (0 until it is loaded).</summary>
    public int FeatureDimension => _trainer.FeatureDimension;
    /// <summary>The path of the last model written by <see cref="RequestSave"/> or <see cref="Save"/>.</summary>
    public string? LastSaved => _lastSaved;
    public bool IsTraining => _trainer.IsTraining;

    /// <summary>Confidence (0..1) under which predictions are "unknown".</summary>
    public float Threshold
    {
        get => _threshold;
        set
        {
            _threshold = Math.Clamp(value, 0f, 1f);
            HeadChanged?.Invoke();
        }
    }

    /// <summary>A write failed: recording is stopped (with <see cref="RecordingError"/>) until <see cref="ResumeRecording"/>.</summary>
    public bool IsRecordingStopped => Recorder.IsStopped;
    public string? RecordingError => Recorder.Error;
    public void ResumeRecording() => Recorder.Resume();

    /// <summary>Why the last frame was not recorded, or the recorder's last failure (a write, delete or rename), once; null if none since the last call.</summary>
    public string? TakeRecorderProblem() => Interlocked.Exchange(ref _recorderProblem, null);

    /// <summary>Frames accepted for recording by this session.</summary>
    public long RecordedFrames => Interlocked.Read(ref _recorded);

    internal void RaiseChanged() => Changed?.Invoke();

    // ---- recording ------------------------------------------------------------------------------------------------

    /// <summary>
    /// Records a copy of <paramref name="frame"/> into class <paramref name="classIndex"/> (key k is index k - 1;
    /// created as "class{k}" if new), with the frame's features if the caller has them (the output of
    /// <see cref="TeachModel.FeatureNode"/> of this session's backbone, as the inference thread computed them: no second
    /// forward). Returns at once; false if the frame was dropped (queue full or recording stopped by a write error),
    /// and <see cref="TakeRecorderProblem"/> then says why. Also the correction path (W then a number).
    /// </summary>
    /// <param name="computedBy">the backbone that computed <paramref name="features"/> (the inference worker says which
    /// network version ran); null: the current one. Features of a backbone that is no longer current when the frame is
    /// written are not kept: the trainer computes the frame's features again.</param>
    public bool Record(int classIndex, Mat frame, ReadOnlySpan<float> features = default, BackboneSource? computedBy = null)
    {
        if (Recorder.TryRecord(classIndex, frame, features, features.IsEmpty ? null : computedBy ?? _network.Backbone))
        {
            Interlocked.Increment(ref _recorded);
            return true;
        }
        _recorderProblem = IsRecordingStopped ? RecordingError ?? "recording stopped" : "frame dropped (the disk is behind)";
        RaiseChanged();
        return false;
    }

    /// <summary>Deletes the last recorded sample (or the newest of a class); queued behind any frames still being written.</summary>
    public void DeleteLast(int? classIndex = null) => Recorder.DeleteLast(classIndex);

    /// <summary>Renames a class (queued). Returns the name as saved (sanitised). A trained head shows the new name at once after.</summary>
    /// <exception cref="ArgumentException">No usable characters, or another class has that name.</exception>
    public string Rename(int classIndex, string name) => Recorder.Rename(classIndex, name);

    /// <summary>Waits until queued frames, deletes and renames are on disk. False on timeout.</summary>
    public bool Flush(TimeSpan timeout) => Recorder.Flush(timeout);

    /// <summary>Current classes with sample counts (written samples only).</summary>
    public IReadOnlyList<TeachClass> Classes => Dataset.Classes;

    private void OnSaved(TeachSample sample, ReadOnlySpan<float> features, object? computedBy)
    {
        _trainer.Saved(sample, features, computedBy as BackboneSource);
        RaiseChanged();
    }

    private void OnDeleted(TeachSample sample)
    {
        _trainer.Deleted(sample);
        RaiseChanged();
    }

    private void OnClassChanged(TeachClass cls)
    {
        // A renamed class keeps its number: the live head shows the new name without retraining.
        bool changed = false;
        lock (_publish) // against a training publishing meanwhile: relabel the newest head, never bring an old one back
        {
            var network = _network;
            if (network.Head is { } head && head.ClassIndices.ToList().IndexOf(cls.Index) is >= 0 and var output && head.Labels[output] != cls.Name)
            {
                var labels = head.Labels.ToArray();
                labels[output] = cls.Name;
                _network = network with { Head = head.WithLabels(labels) };
                Interlocked.Increment(ref _headVersion);
                changed = true;
            }
        }
        if (changed) HeadChanged?.Invoke();
        RaiseChanged();
    }

    /// <summary>Ties a head read from a model file to this data set's classes by name (unmatched outputs get -1).</summary>
    private ClassifierHead MapToDataset(ClassifierHead head)
    {
        var classes = Dataset.Classes;
        var indices = head.Labels.Select(l => classes.FirstOrDefault(c => c.Name == l)?.Index ?? -1).ToArray();
        return head.WithLabels(head.Labels, indices);
    }

    /// <summary>
    /// Makes <paramref name="head"/> (null: none) the current head and tells the live pipeline; with
    /// <paramref name="trainedOn"/>, only if that is still the current backbone (false otherwise: nothing changed).
    /// </summary>
    internal bool PublishHead(ClassifierHead? head, BackboneSource? trainedOn = null)
    {
        lock (_publish)
        {
            if (trainedOn is not null && trainedOn.Name != _network.Backbone.Name) return false;
            _network = _network with { Head = head };
            Interlocked.Increment(ref _headVersion);
        }
        HeadChanged?.Invoke();
        RaiseChanged();
        return true;
    }

    /// <summary>Trainer thread: a fine-tuned backbone is about to be published (<see cref="BackboneReady"/>).</summary>
    internal void PrepareBackbone(BackboneSource backbone) => BackboneReady?.Invoke(backbone);

    /// <summary>Makes a fine-tuned backbone and the head trained with it current, in one step, and tells the live pipeline.</summary>
    internal void PublishNetwork(BackboneSource backbone, ClassifierHead head)
    {
        lock (_publish)
        {
            _network = new TeachNetwork(backbone, head);
            Interlocked.Increment(ref _headVersion);
        }
        HeadChanged?.Invoke();
        RaiseChanged();
    }

    // ---- prediction -----------------------------------------------------------------------------------------------

    /// <summary>
    /// The current head's verdict on one feature vector (the backbone's output for a frame), with the class
    /// probabilities written to <paramref name="probabilities"/> (at least <see cref="CurrentHead"/>.Classes long):
    /// the same <see cref="Prediction.Of(ClassifierHead, float, ReadOnlySpan{float}, Span{float})"/> the inference worker
    /// applies live. <see cref="Prediction.None"/> without a head. Lock-free and allocation-free.
    /// </summary>
    public Prediction Classify(ReadOnlySpan<float> features, Span<float> probabilities) =>
        _network.Head is { } head ? Prediction.Of(head, _threshold, features, probabilities) : Prediction.None;

    // ---- training and saving --------------------------------------------------------------------------------------

    /// <summary>
    /// Asks the trainer thread to train a new head on every recorded frame (T). Returns at once; follow
    /// <see cref="Status"/>, then <see cref="LastTraining"/> and <see cref="CurrentHead"/>. A training already running
    /// is superseded: it stops at its next batch and this one runs instead. The current head keeps predicting until the
    /// new one is swapped in; a failed or cancelled training keeps it.
    /// </summary>
    public void StartTraining(HeadOptions? options = null)
    {
        var o = options ?? _o.Head;
        o.Validate();
        _trainer.RequestTraining(o, automatic: false);
    }

    /// <summary>
    /// The training teach mode starts by itself (a record key released, a frame deleted or corrected, a class renamed):
    /// as <see cref="StartTraining"/> with the session's options, once the frames recorded so far are written, and only
    /// when two or more classes have frames (no error otherwise: there is nothing to tell apart yet).
    /// </summary>
    public void Retrain() => _trainer.RequestTraining(_o.Head, automatic: true);

    /// <summary>
    /// Asks the trainer thread to fine-tune (T with --fine-tune): the last <see cref="FineTuneBlocks"/> residual blocks of
    /// <see cref="BaseBackbone"/> and a head on every recorded frame, from the activations at the cut (cached in the data
    /// folder). Returns at once; follow <see cref="Status"/>. When it finishes, the fine-tuned backbone and its head
    /// become <see cref="Network"/> together. A newer T (or <see cref="StartTraining"/>) supersedes it; the automatic
    /// head trainings asked for meanwhile (<see cref="Retrain"/>) wait for it and then train on the fine-tuned backbone.
    /// </summary>
    /// <exception cref="InvalidOperationException">The session has no fine-tuning options (--fine-tune 0).</exception>
    public void StartFineTuning()
    {
        var o = _o.FineTune ?? throw new InvalidOperationException("this session does not fine-tune (--fine-tune 0)");
        _trainer.RequestFineTuning(o);
    }

    /// <summary>Stops a running training at the next batch; the current head stays.</summary>
    public void CancelTraining() => _trainer.CancelTraining();

    /// <summary>Waits until no training is requested or running. False on timeout.</summary>
    public bool WaitForTraining(TimeSpan timeout) => _trainer.WaitForTraining(timeout);

    /// <summary>Waits until the backbone is loaded (or failed to load). False on timeout.</summary>
    public bool WaitUntilReady(TimeSpan timeout) => _trainer.WaitUntilReady(timeout);

    /// <summary>Asks the trainer thread to write the backbone + current head as one ONNX file (S). Returns at once; see <see cref="Status"/>.</summary>
    public void RequestSave(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        _trainer.RequestSave(path);
    }

    /// <summary>
    /// Writes the backbone + current head as one ONNX file on the calling thread (seconds: it loads a fresh backbone
    /// and writes ~45 MB for ResNet18). Labels, the backbone's preprocessing, the feature node and the threshold go in
    /// the metadata. Atomic: a crash or error leaves any previous file as it was.
    /// </summary>
    /// <exception cref="InvalidOperationException">Nothing has been trained (or loaded) yet.</exception>
    /// <exception cref="IOException">The file cannot be written.</exception>
    public void Save(string path) => SaveModel(path);

    /// <summary>As <see cref="Save"/>; returns the backbone the file holds (a fine-tuned one: its blocks' weights, cut and count).</summary>
    internal BackboneSource SaveModel(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var network = _network;
        var head = network.Head ?? throw new InvalidOperationException("nothing to save yet: train a head first");
        network.Backbone.Compose(head, _threshold).Save(path);
        _lastSaved = Path.GetFullPath(path);
        return network.Backbone;
    }

    /// <summary>Cancels a training, writes pending frames (up to 10 s), writes a model save still requested, stops both threads and keeps the feature cache.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _trainer.CancelTraining();
        Recorder.Dispose();
        _trainer.Dispose();
        _folderLock?.Dispose();
    }
}
