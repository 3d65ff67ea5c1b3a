// TeachRecorder: the long-lived thread that writes teach-mode samples, so the thread that sees frames (the window's
// render or inference thread) never waits for PNG encoding or the disk. A frame is copied into one of a fixed set of
// reusable Mats and queued; deletes and renames go through the same queue, in order. A write error (full or read-only
// disk, folder gone) stops recording with a message until Resume; every sample saved before stays.
using OpenCvSharp;

namespace CameraCnn.Vision.Teach;

/// <summary>
/// Called on the recorder thread after a sample was saved, with the features given to <see cref="TeachRecorder.TryRecord"/>
/// (empty if none) and what the caller said computed them (e.g. which version of the backbone; null if it said nothing).
/// </summary>
public delegate void SampleSavedHandler(TeachSample sample, ReadOnlySpan<float> features, object? computedBy);

/// <summary>Saves frames into a <see cref="TeachDataset"/> on its own thread. Methods are thread-safe and never block on I/O.</summary>
public sealed class TeachRecorder : IDisposable
{
    private sealed class Slot
    {
        public readonly Mat Frame = new();
        public float[] Features = [];
        public int FeatureCount;
        public object? ComputedBy;
    }

    private enum Kind { Record, DeleteLast, Rename }

    private readonly record struct Command(Kind Kind, int ClassIndex, bool AnyClass, Slot? Slot, string? Name);

    private readonly object _lock = new(); // Monitor: the thread waits on it
    private readonly Queue<Command> _queue = new();
    private readonly Stack<Slot> _free = new();
    private readonly Slot[] _slots;
    private readonly Dictionary<int, Mat> _thumbnails = [];
    private readonly Thread _thread;
    private readonly int _thumbnailWidth;
    private int _inFlight;
    private bool _stop;
    private volatile bool _stopped;
    private volatile string? _error;
    private long _dropped, _saved;
    private int _thumbnailVersion;

    /// <param name="capacity">frames that can wait to be written; more are dropped (and counted) rather than blocking.</param>
    /// <param name="thumbnailWidth">width of the per-class thumbnails (height follows the frame's aspect).</param>
    public TeachRecorder(TeachDataset dataset, int capacity = 32, int thumbnailWidth = 96)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(thumbnailWidth, 8);
        Dataset = dataset;
        _thumbnailWidth = thumbnailWidth;
        _slots = new Slot[capacity];
        for (int i = 0; i < capacity; i++) _free.Push(_slots[i] = new Slot());
        _thread = new Thread(Run) { IsBackground = true, Name = "camcnn teach recorder" };
        _thread.Start();
    }

    public TeachDataset Dataset { get; }

    /// <summary>After a sample was saved (on the recorder thread).</summary>
    public event SampleSavedHandler? Saved;
    /// <summary>After a sample was deleted (on the recorder thread).</summary>
    public event Action<TeachSample>? Deleted;
    /// <summary>After a class was created or renamed (on the recorder thread).</summary>
    public event Action<TeachClass>? ClassChanged;
    /// <summary>When a write, delete or rename failed, with the one-line message (on the recorder thread).</summary>
    public event Action<string>? Failed;

    /// <summary>True after a write failed: <see cref="TryRecord"/> refuses frames until <see cref="Resume"/>.</summary>
    public bool IsStopped => _stopped;
    /// <summary>The last failure's message (write, delete or rename), or null.</summary>
    public string? Error => _error;
    /// <summary>Frames refused because the queue was full.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);
    /// <summary>Frames saved by this recorder.</summary>
    public long SavedCount => Interlocked.Read(ref _saved);

    /// <summary>Commands queued or being carried out.</summary>
    public int Pending
    {
        get { lock (_lock) return _inFlight; }
    }

    /// <summary>
    /// Queues a copy of <paramref name="frame"/> (8-bit BGR, BGRA or gray) for class <paramref name="classIndex"/>
    /// (created as "class{k}" if needed), with the frame's backbone features if the caller has them (they are handed
    /// to <see cref="Saved"/>, sparing a second forward, with <paramref name="computedBy"/>: the features of a backbone that
    /// changed while the frame waited are not its current ones). False when recording is stopped by an error or the queue
    /// is full (the frame is dropped and counted). Copies the pixels into a reused buffer; never waits for the disk.
    /// </summary>
    public bool TryRecord(int classIndex, Mat frame, ReadOnlySpan<float> features = default, object? computedBy = null)
    {
        ArgumentNullException.ThrowIfNull(frame);
        if (classIndex < 0 || classIndex >= TeachDataset.MaxClasses) throw new ArgumentOutOfRangeException(nameof(classIndex));
        if (frame.Empty()) throw new ArgumentException("cannot record an empty frame", nameof(frame));
        Slot slot;
        lock (_lock)
        {
            if (_stopped || _stop) return false;
            if (!_free.TryPop(out slot!))
            {
                _dropped++;
                return false;
            }
        }
        frame.CopyTo(slot.Frame);
        if (slot.Features.Length < features.Length) slot.Features = new float[features.Length];
        features.CopyTo(slot.Features);
        slot.FeatureCount = features.Length;
        slot.ComputedBy = computedBy;
        Enqueue(new Command(Kind.Record, classIndex, false, slot, null));
        return true;
    }

    /// <summary>Queues deleting the newest sample of a class, or with null the last one recorded (see <see cref="TeachDataset.DeleteLast"/>).</summary>
    public void DeleteLast(int? classIndex = null) =>
        Enqueue(new Command(Kind.DeleteLast, classIndex ?? -1, classIndex is null, null, null));

    /// <summary>
    /// Queues renaming class <paramref name="classIndex"/> (created first if it does not exist). Returns the name as it
    /// will be saved (sanitised for a folder).
    /// </summary>
    /// <exception cref="ArgumentException">No usable characters, or another class has that name.</exception>
    public string Rename(int classIndex, string name)
    {
        string clean = SampleWriter.SanitizeClassName(name);
        if (Dataset.Classes.Any(c => c.Index != classIndex && string.Equals(c.Name, clean, StringComparison.OrdinalIgnoreCase)))
            throw new ArgumentException($"there is already a class named '{clean}'");
        Enqueue(new Command(Kind.Rename, classIndex, false, null, clean));
        return clean;
    }

    /// <summary>Clears a write error so recording can go on (e.g. after space was freed).</summary>
    public void Resume()
    {
        _error = null;
        _stopped = false;
    }

    /// <summary>Waits until everything queued so far is done. False on timeout.</summary>
    public bool Flush(TimeSpan timeout)
    {
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        lock (_lock)
        {
            while (_inFlight > 0)
            {
                long left = deadline - Environment.TickCount64;
                if (left <= 0) return false;
                Monitor.Wait(_lock, (int)Math.Min(left, int.MaxValue));
            }
            return true;
        }
    }

    /// <summary>Bumped whenever a thumbnail changes.</summary>
    public int ThumbnailVersion => Volatile.Read(ref _thumbnailVersion);

    /// <summary>Copies the newest thumbnail of a class (8-bit BGR, <c>thumbnailWidth</c> wide) into <paramref name="destination"/>; false if none.</summary>
    public bool TryCopyThumbnail(int classIndex, Mat destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        lock (_thumbnails)
        {
            if (!_thumbnails.TryGetValue(classIndex, out var t) || t.Empty()) return false;
            t.CopyTo(destination);
            return true;
        }
    }

    private void Enqueue(Command c)
    {
        lock (_lock)
        {
            _queue.Enqueue(c);
            _inFlight++;
            Monitor.PulseAll(_lock);
        }
    }

    private void Run()
    {
        InitialThumbnails();
        while (true)
        {
            Command c;
            lock (_lock)
            {
                while (_queue.Count == 0 && !_stop) Monitor.Wait(_lock);
                if (_queue.Count == 0) return; // stopping, everything written
                c = _queue.Dequeue();
            }
            try
            {
                Execute(c);
            }
            finally
            {
                lock (_lock)
                {
                    if (c.Slot is not null) _free.Push(c.Slot);
                    _inFlight--;
                    Monitor.PulseAll(_lock); // Flush waits on it
                }
            }
        }
    }

    private void Execute(Command c)
    {
        switch (c.Kind)
        {
            case Kind.Record:
                if (_stopped) return; // queued before the error: dropped with it
                TeachSample sample;
                try
                {
                    bool existed = Dataset.Class(c.ClassIndex) is not null;
                    sample = Dataset.Add(c.ClassIndex, c.Slot!.Frame);
                    if (!existed && Dataset.Class(c.ClassIndex) is { } created) ClassChanged?.Invoke(created);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or OpenCVException)
                {
                    _error = $"recording stopped: {e.Message}";
                    _stopped = true;
                    Failed?.Invoke(_error);
                    return;
                }
                Interlocked.Increment(ref _saved);
                SetThumbnail(c.ClassIndex, c.Slot.Frame);
                Saved?.Invoke(sample, c.Slot.Features.AsSpan(0, c.Slot.FeatureCount), c.Slot.ComputedBy);
                return;
            case Kind.DeleteLast:
                try
                {
                    var gone = Dataset.DeleteLast(c.AnyClass ? null : c.ClassIndex);
                    if (gone is null) return;
                    RefreshThumbnail(gone.ClassIndex);
                    Deleted?.Invoke(gone);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    _error = $"delete failed: {e.Message}";
                    Failed?.Invoke(_error);
                }
                return;
            case Kind.Rename:
                try
                {
                    Dataset.EnsureClass(c.ClassIndex);
                    ClassChanged?.Invoke(Dataset.Rename(c.ClassIndex, c.Name!));
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or KeyNotFoundException)
                {
                    _error = $"rename failed: {e.Message}";
                    Failed?.Invoke(_error);
                }
                return;
        }
    }

    private void InitialThumbnails()
    {
        foreach (var cls in Dataset.Classes) RefreshThumbnail(cls.Index);
    }

    /// <summary>The thumbnail of a class from its newest sample on disk (or none).</summary>
    private void RefreshThumbnail(int classIndex)
    {
        var samples = Dataset.SamplesOf(classIndex);
        for (int i = samples.Count - 1; i >= 0; i--)
        {
            using var image = ImageFile.TryDecodeFile(samples[i].Path);
            if (image is null) continue;
            SetThumbnail(classIndex, image);
            return;
        }
        lock (_thumbnails)
        {
            if (_thumbnails.Remove(classIndex, out var old)) old.Dispose();
        }
        Interlocked.Increment(ref _thumbnailVersion);
    }

    private void SetThumbnail(int classIndex, Mat frame)
    {
        int w = _thumbnailWidth, h = Math.Max(1, (int)Math.Round((double)frame.Rows * w / Math.Max(1, frame.Cols)));
        lock (_thumbnails)
        {
            if (!_thumbnails.TryGetValue(classIndex, out var t)) _thumbnails[classIndex] = t = new Mat();
            try
            {
                Cv2.Resize(frame, t, new Size(w, h), 0, 0, InterpolationFlags.Area);
                if (t.Channels() == 1) Cv2.CvtColor(t, t, ColorConversionCodes.GRAY2BGR);
                else if (t.Channels() == 4) Cv2.CvtColor(t, t, ColorConversionCodes.BGRA2BGR);
            }
            catch (OpenCVException)
            {
                return; // a thumbnail is a nicety; the sample is saved
            }
        }
        Interlocked.Increment(ref _thumbnailVersion);
    }

    /// <summary>Writes what is queued (up to 10 s), stops the thread and frees the buffers.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_stop) return;
            _stop = true;
            Monitor.PulseAll(_lock);
        }
        if (!_thread.Join(TimeSpan.FromSeconds(10))) return; // leave the buffers to the finalizers rather than free them under the thread
        foreach (var s in _slots) s.Frame.Dispose();
        lock (_thumbnails)
        {
            foreach (var t in _thumbnails.Values) t.Dispose();
            _thumbnails.Clear();
        }
    }
}
