// CaptureThread: one long-lived thread that reads a FrameSource, writes each frame straight into the newest-frame slot
// of every reader (one copy per reader, no thread in between), paces and loops files, re-opens a lost camera with
// back-off, and publishes its status. Reading a frame allocates nothing in steady state.
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using OpenCvSharp;

namespace CameraCnn.Vision;

/// <summary>What the capture thread is doing.</summary>
public enum CaptureState
{
    /// <summary>Not started, or opening the source.</summary>
    Starting,
    /// <summary>Delivering frames.</summary>
    Running,
    /// <summary>The source was lost (or a looped file vanished); re-opening it with back-off.</summary>
    Reconnecting,
    /// <summary>The source ended (a video or folder played once) or <see cref="CaptureThread.Stop"/> was called.</summary>
    Ended,
    /// <summary>It cannot go on: no readable frames at all, reconnect attempts exhausted, or an unexpected error.</summary>
    Failed,
}

/// <summary>A status for the user (the window shows it): the state and one line saying what happened.</summary>
public sealed record CaptureStatus(CaptureState State, string Message, int Attempt = 0)
{
    public override string ToString() => $"{State}: {Message}";
}

/// <summary>How the capture thread treats its source.</summary>
public sealed record CaptureOptions
{
    /// <summary>Flip frames left-right (a webcam then works like a mirror).</summary>
    public bool Mirror { get; init; }

    /// <summary>Start videos and folders over at their end instead of ending.</summary>
    public bool Loop { get; init; }

    /// <summary>
    /// Never drop: the thread waits until the reader took the previous frame (processing every frame of a file).
    /// Off (the default), a reader always gets the newest frame and older unread ones are dropped and counted.
    /// </summary>
    public bool Lossless { get; init; }

    /// <summary>Deliver videos and folders at their nominal frame rate, as a camera would, instead of as fast as read.</summary>
    public bool Pace { get; init; }

    /// <summary>First wait before re-opening a lost source; doubled per failed attempt up to <see cref="MaxReconnectDelay"/>.</summary>
    public TimeSpan ReconnectDelay { get; init; } = TimeSpan.FromMilliseconds(250);

    public TimeSpan MaxReconnectDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Give up (state Failed) after this many failed re-open attempts in a row; 0 retries for ever.</summary>
    public int MaxReconnectAttempts { get; init; }

    /// <summary>
    /// Consumers that each get every frame in their own slot (<see cref="CaptureThread.Readers"/>), e.g. the inference
    /// worker and the window's render loop. Each costs one copy of the frame per frame.
    /// </summary>
    public int Readers { get; init; } = 1;
}

/// <summary>
/// Runs a <see cref="FrameSource"/> on a dedicated background thread. The thread reads into a private Mat, mirrors or
/// copies it into the back frame of each reader's three-frame ring and publishes it with an Interlocked swap; a reader
/// takes the newest frame with <see cref="FrameReader.TryTake"/> (the first reader also through
/// <see cref="TryTakeLatest"/> or <see cref="TakeLatest"/>). Frames a reader was too slow for are dropped and counted.
/// Takes ownership of the source.
/// </summary>
public sealed class CaptureThread : IDisposable
{
    private readonly FrameSource _source;
    private readonly FrameReader[] _readers;
    private readonly ProxiedMat _raw = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly ManualResetEventSlim _frameReady = new(false), _consumed = new(false);
    private Thread? _thread;
    private CaptureStatus _status;
    private volatile bool _finished;
    private bool _disposed;

    private long _captured, _reconnects;
    private long _firstTimestamp, _lastTimestamp, _allocatedBytes;
    private long _windowStart, _windowFrames;
    private double _fps;

    public CaptureThread(FrameSource source, CaptureOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        _source = source;
        Options = options ?? new CaptureOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(Options.Readers, 1);
        _readers = new FrameReader[Options.Readers];
        for (int i = 0; i < _readers.Length; i++) _readers[i] = new FrameReader(_consumed.Set);
        _status = new CaptureStatus(CaptureState.Starting, $"{source.Description}: not started");
        // The events create their lock object on the first wait that blocks; block once now (1 ms each) so that the
        // first wait on the frame path does not allocate.
        _frameReady.Wait(1);
        _consumed.Wait(1);
    }

    public FrameSource Source => _source;
    public CaptureOptions Options { get; }

    /// <summary>The consumers (<see cref="CaptureOptions.Readers"/>), each with its own newest-frame slot.</summary>
    public IReadOnlyList<FrameReader> Readers => _readers;

    /// <summary>The current status (an immutable record replaced on every change).</summary>
    public CaptureStatus Status => Volatile.Read(ref _status);

    /// <summary>Raised on every status change, on the thread that made it (usually the capture thread). Must not block.</summary>
    public event Action<CaptureStatus>? StatusChanged;

    /// <summary>The thread has stopped for good (Ended or Failed); frames already published can still be taken.</summary>
    public bool IsFinished => _finished;

    /// <summary>Frames read from the source and published (the newest of them can be taken).</summary>
    public long Captured => Interlocked.Read(ref _captured);

    /// <summary>Frames replaced by a newer one before the first reader took them.</summary>
    public long Dropped => _readers[0].Dropped;

    /// <summary>Frames the first reader took.</summary>
    public long Delivered => _readers[0].Delivered;

    /// <summary>Successful re-opens after the source was lost.</summary>
    public long Reconnects => Interlocked.Read(ref _reconnects);

    /// <summary>Capture rate over the last half second or so (0 until then).</summary>
    public double CaptureFps => Volatile.Read(ref _fps);

    /// <summary>Mean capture rate from the first frame to the last.</summary>
    public double AverageCaptureFps
    {
        get
        {
            long n = Captured, span = Interlocked.Read(ref _lastTimestamp) - Interlocked.Read(ref _firstTimestamp);
            return n > 1 && span > 0 ? (n - 1) * (double)Stopwatch.Frequency / span : 0;
        }
    }

    /// <summary>
    /// Bytes the capture thread has allocated since it started, sampled after each frame. It stops growing once the
    /// ring's Mats are sized (the zero-allocation check).
    /// </summary>
    public long AllocatedBytes => Interlocked.Read(ref _allocatedBytes);

    /// <summary>Opens the source on the calling thread, then starts the capture thread.</summary>
    /// <exception cref="FrameSourceException">The source cannot be opened (the message is one line for the user).</exception>
    public void Start()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_thread is not null) throw new InvalidOperationException("the capture thread was already started");
        SetStatus(CaptureState.Starting, $"opening {_source.Description}");
        try
        {
            _source.Open();
        }
        catch (FrameSourceException e)
        {
            SetStatus(CaptureState.Failed, e.Message);
            _finished = true;
            throw;
        }
        SetStatus(CaptureState.Running, Describe(_source));
        _thread = new Thread(Run) { IsBackground = true, Name = "capture" };
        _thread.Start();
    }

    /// <summary>"camera 0: 640x480 @ 30 fps (V4L2)"-style summary of an open source's actual settings.</summary>
    public static string Describe(FrameSource source)
    {
        if (source is ImageFolderSource folder) return $"{folder.Description}: {folder.Count} image(s)";
        string size = source.Width > 0 && source.Height > 0 ? $" {source.Width}x{source.Height}" : "";
        string fps = source.Fps > 0 ? $" @ {source.Fps:0.##} fps" : "";
        string backend = source.Backend is { } b ? $" ({b})" : "";
        return $"{source.Description}:{size}{fps}{backend}".TrimEnd(':');
    }

    /// <summary>The first reader's <see cref="FrameReader.TryTake"/>: the newest frame if one arrived since the last take.</summary>
    public bool TryTakeLatest([NotNullWhen(true)] out CapturedFrame? frame) => _readers[0].TryTake(out frame);

    /// <summary>
    /// Waits up to <paramref name="timeout"/> (<see cref="Timeout.InfiniteTimeSpan"/> for ever) for a new frame for the
    /// first reader and takes it. False on timeout, or once the thread has finished and every frame was taken (see <see cref="IsFinished"/>).
    /// </summary>
    public bool TakeLatest(TimeSpan timeout, [NotNullWhen(true)] out CapturedFrame? frame)
    {
        if (_thread is null) throw new InvalidOperationException("start the capture thread first");
        bool forever = timeout == Timeout.InfiniteTimeSpan || timeout > TimeSpan.FromDays(1);
        long deadline = forever ? long.MaxValue : Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            bool finished = _finished; // read first: a frame published before finishing is still taken below
            if (TryTakeLatest(out frame)) return true;
            if (finished) return false;
            _frameReady.Reset();
            if (_readers[0].HasFresh || _finished) continue;
            long left = deadline - Stopwatch.GetTimestamp();
            if (left <= 0) return false;
            int ms = forever ? 200 : (int)Math.Clamp(left * 1000 / Stopwatch.Frequency + 1, 1, 200);
            _frameReady.Wait(ms);
        }
    }

    /// <summary>Stops the thread (waiting up to two seconds for a blocked read) and closes the source.</summary>
    public void Stop()
    {
        if (_thread is null || _stop.IsCancellationRequested) return;
        _stop.Cancel();
        _consumed.Set();
        if (_thread.Join(TimeSpan.FromSeconds(2)) && Status.State is CaptureState.Running or CaptureState.Reconnecting)
            SetStatus(CaptureState.Ended, $"{_source.Description}: stopped");
    }

    private void Run()
    {
        try
        {
            Loop();
        }
        catch (Exception e)
        {
            // Nothing may escape a thread; a broken source is a status, not a crash.
            SetStatus(CaptureState.Failed, $"{_source.Description}: {OneLine(e.Message)}");
        }
        finally
        {
            try { _source.Close(); }
            catch (Exception) { /* closing a broken device must not hide why it broke */ }
            _finished = true;
            _frameReady.Set();
        }
    }

    private void Loop()
    {
        CancellationToken cancel = _stop.Token;
        long passFrames = 0, paceStart = 0, paced = 0;
        while (!cancel.IsCancellationRequested)
        {
            FrameRead read;
            string? why = null;
            try
            {
                read = _source.Read(_raw.Mat, cancel);
            }
            catch (FrameSourceException e)
            {
                read = FrameRead.Lost;
                why = e.Message;
            }
            if (cancel.IsCancellationRequested) break;

            if (read == FrameRead.Frame)
            {
                if (Options.Pace && !_source.IsLive && _source.Fps > 0)
                {
                    if (paced == 0) paceStart = Stopwatch.GetTimestamp();
                    long wait = paceStart + (long)(paced++ * Stopwatch.Frequency / _source.Fps) - Stopwatch.GetTimestamp();
                    if (wait > 0 && cancel.WaitHandle.WaitOne((int)(wait * 1000 / Stopwatch.Frequency))) break;
                }
                if (Options.Lossless && !WaitForReader(cancel)) break;
                passFrames++;
                Publish();
                continue;
            }

            if (read == FrameRead.End)
            {
                long total = Captured;
                if (passFrames == 0)
                {
                    string skipped = _source.Skipped > 0 ? $" ({_source.Skipped} unreadable skipped)" : "";
                    SetStatus(CaptureState.Failed, $"{_source.Description}: no readable frames{skipped}");
                    return;
                }
                if (!Options.Loop || !_source.CanRewind)
                {
                    SetStatus(CaptureState.Ended, $"end of {_source.Description} after {total} frame(s)");
                    return;
                }
                passFrames = 0;
                paced = 0;
                try
                {
                    _source.Rewind();
                }
                catch (FrameSourceException e)
                {
                    if (!Reconnect(e.Message, cancel)) return;
                }
                continue;
            }

            if (!Reconnect(why ?? $"{_source.Description} stopped delivering frames", cancel)) return;
            passFrames = 0;
            paced = 0;
        }
    }

    private void Publish()
    {
        long now = Stopwatch.GetTimestamp();
        long n = _captured + 1; // only this thread writes it
        foreach (var reader in _readers)
        {
            if (reader.Paused) continue;
            var back = reader.Back;
            if (Options.Mirror) NativeCv.Flip(_raw.In, back.Output, FlipMode.Y);
            else NativeCv.Copy(_raw.Mat, back.Image);
            back.Sequence = n;
            back.Timestamp = now;
            back.SourceIndex = _source.Position;
            back.SourceName = _source.ItemName;
            reader.Publish();
        }
        Interlocked.Exchange(ref _captured, n); // after the publish: Captured == k means frame k can be taken
        _frameReady.Set();

        if (n == 1)
        {
            Interlocked.Exchange(ref _firstTimestamp, now);
            _windowStart = now;
        }
        Interlocked.Exchange(ref _lastTimestamp, now);
        _windowFrames++;
        long span = now - _windowStart;
        if (span >= Stopwatch.Frequency / 2)
        {
            Volatile.Write(ref _fps, _windowFrames * (double)Stopwatch.Frequency / span);
            _windowStart = now;
            _windowFrames = 0;
        }
        Interlocked.Exchange(ref _allocatedBytes, GC.GetAllocatedBytesForCurrentThread());
    }

    /// <summary>Lossless mode: waits until every reader (not paused) took the last published frame. False when stopping.</summary>
    private bool WaitForReader(CancellationToken cancel)
    {
        while (AnyUntaken())
        {
            _consumed.Reset();
            if (!AnyUntaken()) break;
            if (cancel.IsCancellationRequested) return false;
            _consumed.Wait(100);
        }
        return !cancel.IsCancellationRequested;
    }

    private bool AnyUntaken()
    {
        foreach (var reader in _readers)
            if (!reader.Paused && reader.HasFresh) return true;
        return false;
    }

    /// <summary>Closes and re-opens the source with exponential back-off. False when stopping or giving up.</summary>
    private bool Reconnect(string reason, CancellationToken cancel)
    {
        TimeSpan delay = Options.ReconnectDelay;
        for (int attempt = 1; ; attempt++)
        {
            if (Options.MaxReconnectAttempts > 0 && attempt > Options.MaxReconnectAttempts)
            {
                SetStatus(CaptureState.Failed, $"{OneLine(reason)}; gave up after {Options.MaxReconnectAttempts} reconnect attempt(s)");
                return false;
            }
            SetStatus(CaptureState.Reconnecting, $"{OneLine(reason)}; reconnecting in {delay.TotalSeconds:0.##} s (attempt {attempt})", attempt);
            try { _source.Close(); }
            catch (Exception) { /* a dead device may fail to close; re-opening is what matters */ }
            if (cancel.WaitHandle.WaitOne(delay)) return false;
            try
            {
                _source.Open();
                Interlocked.Increment(ref _reconnects);
                SetStatus(CaptureState.Running, $"{Describe(_source)} (reconnected)");
                return true;
            }
            catch (FrameSourceException e)
            {
                reason = e.Message;
            }
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, Options.MaxReconnectDelay.Ticks));
        }
    }

    private void SetStatus(CaptureState state, string message, int attempt = 0)
    {
        var status = new CaptureStatus(state, message, attempt);
        Volatile.Write(ref _status, status);
        StatusChanged?.Invoke(status);
    }

    private static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();

    /// <summary>Stops the thread and releases the ring, the source and its device.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Stop();
        if (_thread is { IsAlive: true })
            return; // a read is stuck in the driver: freeing the Mats under it would crash; the process exit reclaims them
        foreach (var reader in _readers) reader.Release();
        _raw.Dispose();
        _source.Dispose();
        _stop.Dispose();
        _frameReady.Dispose();
        _consumed.Dispose();
    }
}
