// LiveSession: `camcnn run` with a window. Starts the capture and inference threads, then runs the render loop on
// this thread (which owns the GL context): wait for input or a wake-up, take the newest frame and result if any,
// draw when something changed, swap. The loop never waits for inference. With --frames it draws every frame, replays
// a key script, saves a screenshot; --stats-json writes the figures at the end.
using System.Diagnostics;
using System.Text;
using CameraCnn.App.Teach;
using CameraCnn.Engine.Models;
using CameraCnn.Vision;

namespace CameraCnn.App.Window;

/// <summary>The windowed live session.</summary>
internal sealed class LiveSession
{
    private const double SmoothingSeconds = 0.2, SettleTimeoutSeconds = 20;

    private readonly RunOptions _o;
    private readonly Model _model;
    private readonly CaptureThread _capture;
    private readonly string? _notice;
    private LiveState _s = null!;
    private LiveRenderer _renderer = null!;
    private InferenceWorker _worker = null!;
    private FrameFeed _feed = null!;
    private GlWindow _window = null!;
    private float[] _target = [];
    private double _maxFps;
    private bool _quit;
    private static volatile bool _interrupted;

    // Teach mode (all null / unused without a session).
    private readonly TeachSession? _teach;
    private readonly Engine.Node? _featureNode;
    private readonly long _recordPeriod;
    private volatile bool _teachChanged = true;
    private volatile string? _recordProblem;
    private long _teachLinesAt, _nextRecordAt, _headVersion = -1;
    private int _heldClass = -1, _currentClass = -1, _recorded, _requested;
    private bool _awaitingClass;
    // Renaming (R): the class being renamed (-1: not renaming), the text typed so far, and whether the next typed
    // character is the R itself (GLFW sends a key's text after its key event).
    private int _renaming = -1;
    private readonly StringBuilder _renameText = new();
    private bool _swallowChar;
    private readonly TeachFpsMeter _teachFps = new();
    private float[] _teachProbs = [];
    private Engine.Teach.ClassifierHead? _shownHead;
    private TeachPrediction _prediction = TeachPrediction.None;
    private string? _teachMessageText;
    private long _teachMessageAt;

    /// <summary>A short answer to the last teach key, shown for a few seconds.</summary>
    private string? _teachMessage
    {
        get => _teachMessageText is not null && Seconds(Stopwatch.GetTimestamp() - _teachMessageAt) < 4 ? _teachMessageText : null;
        set
        {
            _teachMessageText = value;
            _teachMessageAt = Stopwatch.GetTimestamp();
        }
    }

    /// <param name="capture">a started capture thread (the session owns it from here).</param>
    /// <param name="teach">a teach session the keys 1-9, Backspace, T, S, W and V drive (owned by the caller), or null.</param>
    /// <param name="featureNode">the model's node whose output the teach head classifies.</param>
    public LiveSession(RunOptions options, Model model, CaptureThread capture, string? notice, TeachSession? teach = null, Engine.Node? featureNode = null)
    {
        _o = options;
        _model = model;
        _capture = capture;
        _notice = notice;
        _teach = teach;
        _featureNode = teach is null ? null : featureNode;
        _recordPeriod = (long)(Stopwatch.Frequency / Math.Clamp(options.RecordRate, 0.1, 60));
    }

    public int Run()
    {
        using var frameArrived = new AutoResetEvent(false);
        using var feed = new FrameFeed(_capture, frameArrived);
        using var worker = new InferenceWorker(_model, feed.ForInference, frameArrived, _o.Fuse, _featureNode);
        _feed = feed;
        _worker = worker;
        string title = $"camcnn: {_o.ModelName} on {feed.Name}";
        using var window = GlWindow.Open(title, _o.Width, _o.Height, _o.Fullscreen, _o.Vsync);
        _window = window;
        _maxFps = _o.MaxFps ?? (window.IsSoftwareRenderer ? 30 : 60);
        try
        {
            float ui = Math.Max(1f, Math.Max(window.ContentScale, window.PixelRatio.X));
            _s = new LiveState(worker.OutputLength, LabelsFor(worker), worker.Nodes)
            {
                Title = $"{_o.ModelName}  |  {feed.Name}{(_notice is null ? "" : "  (no camera)")}",
                SourceName = feed.Name,
                Notice = _notice,
                NoticeUntil = Stopwatch.GetTimestamp() + (long)(_o.NoticeSeconds * Stopwatch.Frequency),
                IsClassifier = worker.IsClassifier,
                Mirror = _o.Mirror,
                NoClassesText = $"no classifier head; output {Engine.Tensor.Format(worker.OutputShape)}",
                Tap = FirstConvolution(worker.Taps),
            };
            _target = new float[worker.OutputLength];
            using var renderer = new LiveRenderer(window.Gl, _s, worker.Taps, ui, ShaderProgram.DefaultDirectory, worker.Preprocessing);
            _renderer = renderer;

            feed.Published = GlWindow.Wake;
            worker.Published = GlWindow.Wake;
            if (_teach is not null)
            {
                _teach.Changed += OnTeachChanged;
                worker.FrameTaken = OnFrameTaken;
                _s.NoClassesText = "no head yet: hold 1-9 to record, T to train";
            }
            feed.Start();
            worker.Start();
            Console.CancelKeyPress += OnCancel;
            return Loop();
        }
        finally
        {
            Console.CancelKeyPress -= OnCancel;
            if (_teach is not null) _teach.Changed -= OnTeachChanged;
            // Join the threads while the window still exists: they wake it (glfwPostEmptyEvent) until they stop.
            worker.Dispose();
            feed.Dispose();
        }
    }

    /// <summary>The layer F shows first: the first convolution (a preprocessing graph may come before it).</summary>
    private static int FirstConvolution(IReadOnlyList<LayerTap> taps)
    {
        for (int i = 0; i < taps.Count; i++)
            if (taps[i].Node.Layer is Engine.Layers.Conv2d or Engine.Optimization.FusedConv2d) return i;
        return 0;
    }

    private static IReadOnlyList<string> LabelsFor(InferenceWorker w) =>
        w.IsClassifier ? w.Labels : Enumerable.Range(0, w.OutputLength).Select(i => $"class {i}").ToArray();

    private void OnTeachChanged()
    {
        _teachChanged = true;
        GlWindow.Wake();
    }

    private static void OnCancel(object? sender, ConsoleCancelEventArgs e)
    {
        e.Cancel = true; // leave through the loop: threads joined, camera released
        _interrupted = true;
    }

    private int Loop()
    {
        int frames = _o.Frames ?? -1;
        var (fbW0, fbH0) = _window.FramebufferSize;
        ScriptStep[] script = _o.Keys is { } k ? KeyScript.Parse(k, fbW0, fbH0) : [];
        // A --frames run puts the keys in over its second quarter (a step's own Wait or Hold time comes on top); the
        // steady-state measurement starts after them.
        int tokens = script.Length == 0 ? 0 : script[^1].Token, spacing = Math.Max(1, frames / 4 / Math.Max(1, tokens));
        int[] keyFrames = new int[script.Length];
        for (int i = 0; i < script.Length; i++) keyFrames[i] = frames > 0 ? frames / 4 + (script[i].Token - 1) * spacing : 0;
        int steadyStart = frames > 0 ? Math.Max(frames / 2, script.Length == 0 ? 0 : keyFrames[^1] + 5) : 120;
        long lastStepAt = Stopwatch.GetTimestamp(), scriptDoneAt = 0; // when the frames were drawn and the script played

        var renderRate = new RateMeter();
        var latencies = new SampleRing(16384);
        var drawTimes = new SampleRing(16384);
        long start = Stopwatch.GetTimestamp(), last = start, firstResultAt = 0, lastKeyAt = 0, lastDraw = 0, pendingLatencyFrom = 0;
        long allocStart = 0, allocEnd = 0, steadyFrames = 0;
        long frame = 0, nextKey = 0;
        bool settled = false, dirty = true;
        long period = _maxFps > 0 ? (long)(Stopwatch.Frequency / _maxFps) : 0;
        long refresh = Stopwatch.Frequency / 2; // redraw at least this often (the figures change)
        double wait = 0;
        bool continuous = frames > 0;
        long stopAt = _o.Seconds is { } secs ? start + (long)(secs * Stopwatch.Frequency) : long.MaxValue;

        // Draw when something changed (a frame, a result, input, the bars still moving) and no faster than --max-fps;
        // in between, sleep in GLFW's event wait, which input and the capture and inference threads (Wake) cut short.
        while (!_quit && !_interrupted)
        {
            if (frame == steadyStart && allocStart == 0) allocStart = GC.GetAllocatedBytesForCurrentThread();
            // Sleep no longer than the next scripted step or held-digit recording is due.
            if (nextKey < script.Length && script[nextKey].Delay > 0)
                wait = Math.Min(wait, Math.Max(0.001, script[nextKey].Delay - Seconds(Stopwatch.GetTimestamp() - lastStepAt)));
            if (_heldClass >= 0) wait = Math.Min(wait, Math.Max(0.001, Seconds(_nextRecordAt - Stopwatch.GetTimestamp())));
            _window.WaitEvents(wait);
            if (_window.ShouldClose) break;
            while (nextKey < script.Length && frame >= keyFrames[nextKey]
                   && Stopwatch.GetTimestamp() - lastStepAt >= (long)(script[nextKey].Delay * Stopwatch.Frequency))
            {
                if (script[nextKey++].Event is { } scripted) _window.Enqueue(scripted);
                lastKeyAt = lastStepAt = Stopwatch.GetTimestamp();
            }

            while (_window.TryDequeue(out var e))
            {
                Handle(e);
                dirty = true;
            }
            if (_quit) break;
            long now = Stopwatch.GetTimestamp();
            if (now >= stopAt) break;
            if (_heldClass >= 0 && now >= _nextRecordAt)
            {
                RecordFrame(_heldClass, keyPress: false);
                _nextRecordAt = now + _recordPeriod;
            }
            if (period > 0 && lastDraw != 0 && now < lastDraw + period)
            {
                wait = Seconds(lastDraw + period - now);
                continue;
            }

            if (_feed.ForRender.TryTake() && !_s.Paused)
            {
                _renderer.UploadFrame(_feed.ForRender.Front);
                dirty = true;
            }
            if (_worker.Results.TryTake())
            {
                var result = _worker.Results.Front;
                Apply(result);
                if (result.NewFrame) pendingLatencyFrom = result.FrameTimestamp;
                if (firstResultAt == 0) firstResultAt = now;
                dirty = true;
            }
            // A --frames run draws every frame (a fixed pace for tests); otherwise only when something changed.
            dirty |= continuous | Smooth(Seconds(now - last)) | (now - lastDraw >= refresh) | (_s.FeedState != _feed.State);
            last = now;
            var (fbW, fbH) = _window.FramebufferSize;
            if (!dirty || fbW <= 0 || fbH <= 0) // nothing new, or minimised
            {
                wait = 0.25;
                continue;
            }

            _s.RenderFps = renderRate.Rate;
            _s.CaptureFps = _feed.Rate.Rate;
            _s.InferenceFps = _worker.Rate.Rate;
            _s.FeedState = _feed.State;
            _s.FeedStatus = _feed.Status;
            _s.WorkerFailure = _worker.Failure;
            if (_teach is not null) UpdateTeachLines(now);
            long drawStart = Stopwatch.GetTimestamp();
            _renderer.Draw(fbW, fbH);

            bool done = false;
            if (frames > 0 && frame + 1 >= frames && nextKey >= script.Length)
            {
                if (scriptDoneAt == 0) scriptDoneAt = now;
                settled = Settled(now, firstResultAt, lastKeyAt);
                done = settled || Seconds(now - scriptDoneAt) > SettleTimeoutSeconds;
            }
            if (done)
            {
                allocEnd = GC.GetAllocatedBytesForCurrentThread();
                steadyFrames = frame - steadyStart + 1;
                if (_o.Screenshot is { } shot) _renderer.SaveScreenshot(shot);
            }
            _window.SwapBuffers();
            long swapped = Stopwatch.GetTimestamp();
            renderRate.Tick(swapped);
            if (_teach is not null)
                _teachFps.Frame(swapped, _teach.Status.Phase switch
                {
                    TeachPhase.Idle => false,
                    TeachPhase.Extracting or TeachPhase.Training => true,
                    _ => null,
                }, _feed.Rate.Total, _worker.Rate.Total);
            if (!done) drawTimes.Add(Seconds(swapped - drawStart) * 1000);
            if (pendingLatencyFrom != 0)
            {
                double ms = Seconds(swapped - pendingLatencyFrom) * 1000;
                latencies.Add(ms);
                _s.LatencyMs = double.IsNaN(_s.LatencyMs) ? ms : _s.LatencyMs * 0.9 + ms * 0.1;
                pendingLatencyFrom = 0;
            }
            frame++;
            lastDraw = swapped;
            dirty = false;
            wait = period > 0 ? Seconds(period) : 0;
            if (done) break;
        }
        long end = Stopwatch.GetTimestamp();
        if (allocEnd == 0 && frame > steadyStart)
        {
            allocEnd = GC.GetAllocatedBytesForCurrentThread();
            steadyFrames = frame - steadyStart;
        }
        if (frames > 0 && !settled)
            Console.Error.WriteLine("camcnn: warning: the run ended before the last key's result arrived (slow inference?)");
        // The stats count recorded frames as written: let the recorder finish what is queued.
        if (_teach is not null && _o.StatsJson is not null && !_teach.Flush(TimeSpan.FromSeconds(10)))
            Console.Error.WriteLine("camcnn: warning: recorded frames were still being written when the stats were taken");
        if (_o.StatsJson is { } path)
            RunStats.Write(path, Stats(frame, Seconds(end - start), firstResultAt == 0 ? 0 : Seconds(end - firstResultAt),
                latencies, drawTimes, steadyFrames, allocEnd - allocStart));
        return Cli.CliRunner.Ok;
    }

    private static double Seconds(long ticks) => ticks / (double)Stopwatch.Frequency;

    /// <summary>The screen shows the state the script asked for: a frame, converged bars and the chosen layer's maps.</summary>
    private bool Settled(long now, long firstResultAt, long lastKeyAt)
    {
        if (!_s.HaveFrame || firstResultAt == 0 || Seconds(now - firstResultAt) < 1.0) return false;
        if (lastKeyAt != 0 && Seconds(now - lastKeyAt) < 0.25) return false;
        if (_teach is not null && _worker.Failure is null && _worker.PendingRequests() > 0) return false; // frames still to record
        return !_s.ShowFeatures || _renderer.AtlasTap?.Index == _s.Tap;
    }

    private void Apply(InferenceResult r)
    {
        if (r.NewFrame)
        {
            if (_teach is not null) ApplyTeach(r);
            else
            {
                int n = Math.Min(_target.Length, r.Probabilities.Length);
                r.Probabilities.AsSpan(0, n).CopyTo(_target);
            }
            if (!_s.HaveResult) _target.AsSpan().CopyTo(_s.Smoothed);
            _s.HaveResult = true;
            _s.ForwardMs = r.ForwardMs;
            if (r.HasTiming)
            {
                r.NodeMs.AsSpan().CopyTo(_s.NodeMs);
                _s.HaveTiming = true;
            }
        }
        if (r.Tap is { } tap && _s.ShowFeatures && tap.Index == _s.Tap) _renderer.UploadFeatures(r);
    }

    /// <summary>Moves the bars towards the latest probabilities; true while they are still visibly moving.</summary>
    private bool Smooth(double dt)
    {
        if (!_s.HaveResult) return false;
        float a = (float)(1 - Math.Exp(-Math.Max(0, dt) / SmoothingSeconds)), moving = 0;
        var s = _s.Smoothed;
        for (int i = 0; i < s.Length; i++)
        {
            float d = _target[i] - s[i];
            s[i] += d * a;
            moving = Math.Max(moving, Math.Abs(d));
        }
        _s.RankTop();
        return moving > 1e-3f;
    }

    private void Handle(in InputEvent e)
    {
        switch (e.Kind)
        {
            case InputKind.Key when _renaming >= 0:
            case InputKind.KeyRepeat when _renaming >= 0:
                RenameKey(e.Key);
                break;
            case InputKind.Key:
                Key(e.Key, e.Mods);
                break;
            case InputKind.KeyRepeat when !(_teach is not null && e.Key is >= '1' and <= '9'): // a held digit records on its own clock
                Key(e.Key, e.Mods);
                break;
            case InputKind.KeyRelease when e.Key - '1' == _heldClass:
                _heldClass = -1;
                _teachChanged = true;
                break;
            case InputKind.Char when _renaming >= 0:
                RenameChar(e.Key);
                break;
            case InputKind.Scroll:
                if (_s.ShowFeatures) Page(e.Delta > 0 ? -1 : 1);
                break;
            case InputKind.Click when _teach is not null && e.Key == Glfw.MouseButtonLeft && _renderer.ClassAt(e.X, e.Y) is >= 0 and var cls:
                _currentClass = cls;
                _teachMessage = $"class {cls + 1} selected (R renames it, Backspace deletes its last frame)";
                _teachChanged = true;
                break;
            case InputKind.Click:
                if (e.Key == Glfw.MouseButtonRight)
                {
                    _s.ZoomChannel = -1;
                    break;
                }
                if (!_s.ShowFeatures) break;
                int ch = _renderer.ChannelAt(e.X, e.Y);
                if (ch >= 0) _s.ZoomChannel = _s.ZoomChannel == ch ? -1 : ch;
                else if (!_renderer.FeaturePanel.Contains(e.X, e.Y)) _s.ZoomChannel = -1;
                break;
        }
    }

    private void Key(int key, int mods)
    {
        int taps = _worker.Taps.Count;
        switch (key)
        {
            case Glfw.KeyEscape:
                _quit = true;
                break;
            case Glfw.KeyF11:
                _window.ToggleFullscreen();
                break;
            case Glfw.KeyEnter when (mods & Glfw.ModAlt) != 0:
                _window.ToggleFullscreen();
                break;
            case Glfw.KeyA + ('H' - 'A'):
                _s.ShowHelp = !_s.ShowHelp;
                break;
            case Glfw.KeyA + ('F' - 'A'):
                _s.ShowFeatures = !_s.ShowFeatures && taps > 0;
                if (!_s.ShowFeatures) _s.ZoomChannel = -1;
                RequestTap();
                break;
            case Glfw.KeyLeftBracket or Glfw.KeyRightBracket when taps > 0:
                _s.Tap = (_s.Tap + (key == Glfw.KeyRightBracket ? 1 : taps - 1)) % taps;
                _s.Page = 0;
                _s.ZoomChannel = -1;
                RequestTap();
                break;
            case Glfw.KeyEqual or Glfw.KeyKpAdd:
                Page(1);
                break;
            case Glfw.KeyMinus or Glfw.KeyKpSubtract:
                Page(-1);
                break;
            case Glfw.KeyA + ('C' - 'A'):
                _s.Colormap = (_s.Colormap + 1) % LiveState.ColormapNames.Length;
                break;
            case Glfw.KeyA + ('N' - 'A'):
                _s.GlobalNorm = !_s.GlobalNorm;
                break;
            case >= '1' and <= '9' when _teach is not null:
                DigitDown(key - '1');
                break;
            case Glfw.KeyA + ('R' - 'A') when _teach is not null:
                StartRename();
                break;
            case Glfw.KeyBackspace when _teach is not null:
                _teach.DeleteLast(_currentClass >= 0 ? _currentClass : null);
                _teachMessage = _currentClass >= 0 ? $"deleted the last frame of class {_currentClass + 1}" : "deleted the last frame";
                _teachChanged = true;
                break;
            case Glfw.KeyA + ('T' - 'A') when _teach is not null && (mods & Glfw.ModShift) == 0:
                _teachMessage = _teach.StartTraining() ? "training requested" : "a training is already running";
                _teachChanged = true;
                break;
            case Glfw.KeyA + ('S' - 'A') when _teach is not null:
                _teach.RequestSave(_o.TeachSavePath!);
                _teachMessage = $"saving {_o.TeachSavePath}";
                _teachChanged = true;
                break;
            case Glfw.KeyA + ('W' - 'A') when _teach is not null:
                _awaitingClass = !_awaitingClass;
                _teachMessage = _awaitingClass ? "wrong? press 1-9: the class this frame belongs to" : null;
                _teachChanged = true;
                break;
            case Glfw.KeyA + ('V' - 'A') when _teach is not null:
                _s.ShowConfusion = !_s.ShowConfusion;
                _teachChanged = true;
                break;
            case Glfw.KeyA + ('T' - 'A'):
                _s.ShowTiming = !_s.ShowTiming;
                _worker.Timing = _s.ShowTiming;
                break;
            case Glfw.KeyA + ('M' - 'A'):
                _s.Mirror = !_s.Mirror;
                break;
            case Glfw.KeySpace:
                _s.Paused = !_s.Paused;
                _feed.Paused = _s.Paused;
                break;
            case Glfw.KeyUp:
                _s.ZoomOpacity = Math.Min(1f, MathF.Round((_s.ZoomOpacity + 0.1f) * 10) / 10);
                break;
            case Glfw.KeyDown:
                _s.ZoomOpacity = Math.Max(0.1f, MathF.Round((_s.ZoomOpacity - 0.1f) * 10) / 10);
                break;
        }
    }

    // ---- teach mode ------------------------------------------------------------------------------------------------

    /// <summary>
    /// A digit went down: after W it adds one frame to that class (a correction); otherwise it selects the class and
    /// records frames into it until the key is released (the loop records every <see cref="_recordPeriod"/>).
    /// </summary>
    private void DigitDown(int classIndex)
    {
        _currentClass = classIndex;
        _teachChanged = true;
        if (_awaitingClass)
        {
            _awaitingClass = false;
            if (RecordFrame(classIndex, keyPress: true)) _teachMessage = $"adding this frame to class {classIndex + 1}";
            return;
        }
        // The first frame at once (a tap records one), then one every period while held.
        _heldClass = classIndex;
        _nextRecordAt = Stopwatch.GetTimestamp() + _recordPeriod;
        RecordFrame(classIndex, keyPress: true);
    }

    /// <summary>
    /// Records the next frame into a class. While the camera runs, the inference thread hands over the next frame it
    /// infers together with its backbone features (no second forward); paused or without inference, the frame on
    /// screen is recorded and its features are computed in the background. False if nothing could be recorded.
    /// </summary>
    private bool RecordFrame(int classIndex, bool keyPress)
    {
        var teach = _teach!;
        _teachChanged = true;
        if (!_s.HaveFrame)
        {
            _teachMessage = "no frame to record yet";
            return false;
        }
        if (teach.IsRecordingStopped)
        {
            if (!keyPress) return false; // a held key does not retry: the line under the bars says why
            teach.ResumeRecording(); // a new key press tries again (e.g. after space was freed)
        }
        if (!_s.Paused && _worker.Failure is null && _feed.State == FeedState.Live)
        {
            // A held key whose last request is still waiting adds none (no pile-up while inference is slow).
            if (!keyPress && _worker.PendingRequests(classIndex) > 0) return true;
            if (_worker.RequestFrame(classIndex)) _requested++;
            else _teachMessage = "frame dropped (inference is behind)";
            return true;
        }
        var frame = _feed.ForRender.Front; // the frame on screen (unmirrored), copied by the recorder
        if (teach.Record(classIndex, frame.AsMat())) Interlocked.Increment(ref _recorded);
        else _recordProblem = RecordDropped(teach);
        return true;
    }

    /// <summary>Serves <see cref="RecordFrame"/> on the inference thread: the inferred frame and its features go to the recorder.</summary>
    private void OnFrameTaken(int classIndex, OpenCvSharp.Mat frame, ReadOnlySpan<float> features)
    {
        var teach = _teach!;
        if (teach.Record(classIndex, frame, features)) Interlocked.Increment(ref _recorded);
        else _recordProblem = RecordDropped(teach);
        _teachChanged = true;
        GlWindow.Wake();
    }

    private static string RecordDropped(TeachSession teach) =>
        teach.RecordingError ?? "frame dropped (the disk is behind)";

    /// <summary>R: renames the class under the mouse pointer, else the current one; typed text goes into a box.</summary>
    private void StartRename()
    {
        var (x, y) = _window.CursorPosition;
        int cls = _renderer.ClassAt(x, y);
        if (cls < 0) cls = _currentClass;
        if (cls < 0)
        {
            _teachMessage = "R renames a class: record into it (1-9) or point at its tile first";
            return;
        }
        _heldClass = -1;
        _renaming = cls;
        _renameText.Clear();
        _swallowChar = true;
        _teachChanged = true;
    }

    /// <summary>Keys while renaming: Enter keeps the name, Esc cancels, Backspace deletes a character; text comes as Char.</summary>
    private void RenameKey(int key)
    {
        _swallowChar = false; // a new key: its text is typed text
        switch (key)
        {
            case Glfw.KeyEnter or Glfw.KeyKpEnter:
                string name = _renameText.ToString().Trim();
                int cls = _renaming;
                _renaming = -1;
                if (name.Length == 0)
                {
                    _teachMessage = "rename cancelled (empty name)";
                    break;
                }
                try
                {
                    string saved = _teach!.Rename(cls, name);
                    _teachMessage = $"class {cls + 1} is now '{saved}'";
                }
                catch (ArgumentException e)
                {
                    _teachMessage = $"cannot rename: {e.Message}";
                }
                break;
            case Glfw.KeyEscape:
                _renaming = -1;
                _teachMessage = "rename cancelled";
                break;
            case Glfw.KeyBackspace when _renameText.Length > 0:
                int cut = _renameText.Length - 1;
                if (cut > 0 && char.IsLowSurrogate(_renameText[cut]) && char.IsHighSurrogate(_renameText[cut - 1])) cut--;
                _renameText.Length = cut;
                break;
        }
        _teachChanged = true;
    }

    private void RenameChar(int codePoint)
    {
        if (_swallowChar)
        {
            _swallowChar = false; // the text of the R that opened the box
            return;
        }
        if (codePoint < 0x20 || _renameText.Length >= 40 || !Rune.IsValid(codePoint)) return;
        _renameText.Append(char.ConvertFromUtf32(codePoint));
        _teachChanged = true;
    }

    /// <summary>The teach head's verdict on this result's features becomes the bars (nothing while there is no head).</summary>
    private void ApplyTeach(InferenceResult r)
    {
        var teach = _teach!;
        var head = teach.CurrentHead;
        if (head is null || r.TeachFeatures.Length != head.Dimension)
        {
            if (_shownHead is not null) ShowHead(null);
            _prediction = TeachPrediction.None;
            if (head is not null) _s.NoClassesText = $"the head expects {head.Dimension} features; this backbone gives {r.TeachFeatures.Length}";
            return;
        }
        if (!ReferenceEquals(head, _shownHead) || teach.HeadVersion != _headVersion) ShowHead(head);
        var p = teach.Classify(r.TeachFeatures, _teachProbs);
        // A newer head may have been swapped in between: its outputs show from the next result on.
        if (p.Output >= head.Classes) return;
        _prediction = p;
        _teachProbs.AsSpan(0, head.Classes).CopyTo(_target);
        _teachChanged = true;
    }

    private void ShowHead(Engine.Teach.ClassifierHead? head)
    {
        _shownHead = head;
        _headVersion = _teach!.HeadVersion;
        int n = head?.Classes ?? 0;
        _teachProbs = new float[Math.Max(64, n)];
        _target = new float[n];
        _s.Smoothed = new float[n];
        _s.Labels = head?.Labels.ToArray() ?? [];
        _s.IsClassifier = head is not null;
        _s.HaveResult = false;
        _s.TopCount = 0;
    }

    /// <summary>Rebuilds the teach lines and tiles when something changed (or twice a second, for the trainer's progress).</summary>
    private void UpdateTeachLines(long now)
    {
        var teach = _teach!;
        _renderer.UpdateThumbnails(teach.Recorder);
        _s.TeachCurrent = _currentClass;
        _s.TeachHeld = _heldClass;
        _s.TeachRenaming = _renaming;
        if (_renaming >= 0 && _s.RenameText.Length != _renameText.Length) _s.RenameText = _renameText.ToString();
        if (!_teachChanged && Seconds(now - _teachLinesAt) < 0.5) return;
        _teachChanged = false;
        _teachLinesAt = now;
        _s.RenameText = _renameText.ToString();
        var classes = teach.Classes;
        _s.TeachTiles = classes.Where(c => c.Index < LiveRenderer.ThumbSlots)
            .Select(c => new TeachTile(c.Index, $"{c.Index + 1} {c.Name}", c.Count.ToString(System.Globalization.CultureInfo.InvariantCulture))).ToArray();

        var lines = new List<string>();
        int frames = classes.Sum(c => c.Count);
        string holding = _heldClass >= 0 ? $"; recording into class {_heldClass + 1} ({RecordRate:0.#}/s while held)" : "";
        lines.Add(classes.Count == 0 ? "teach: no frames yet (hold 1-9 to record into a class)"
            : $"teach: {frames} frame(s) in {classes.Count} class(es){holding}");
        var st = teach.Status;
        bool busy = st.Phase is TeachPhase.Extracting or TeachPhase.Training;
        _s.TeachProgress = busy ? (float)st.Fraction : -1;
        string progress = busy ? $" [{st.Fraction:P0}]" : "";
        lines.Add($"{st.Phase.ToString().ToLowerInvariant()}{progress}: {st.Message}");
        if (_shownHead is not null)
        {
            var p = _prediction;
            lines.Add(p.Output < 0 ? "prediction: waiting..." : p.IsUnknown
                ? $"prediction: {TeachSession.UnknownLabel} ({p.Confidence:P0} < {teach.Threshold:P0})"
                : $"prediction: {p.Label} ({p.Confidence:P0})");
        }
        if (teach.TakeRecorderProblem() is { } failed && !teach.IsRecordingStopped) _teachMessage = failed;
        if (teach.IsRecordingStopped) lines.Add($"{teach.RecordingError ?? "recording stopped"} (press 1-9 to try again)");
        else if (_recordProblem is { } problem)
        {
            _teachMessage = problem;
            _recordProblem = null;
        }
        if (_renaming >= 0) lines.Add($"rename class {_renaming + 1}: type a name, Enter keeps it, Esc cancels");
        else if (_awaitingClass) lines.Add("W: press 1-9, the class this frame belongs to");
        else if (_teachMessage is { } m) lines.Add(m);
        _s.TeachLines = lines.ToArray();
        _s.ConfusionTable = _s.ShowConfusion ? ConfusionTable(teach.LastTraining) : null;
    }

    private double RecordRate => Stopwatch.Frequency / (double)_recordPeriod;

    /// <summary>The confusion matrix as table cells: the title, then a header row and one row per true class.</summary>
    private static string[][] ConfusionTable(TeachTrainingResult? last)
    {
        if (last is null) return [["no training yet: T trains a head and measures it on held-out frames"]];
        var h = last.Head;
        var labels = h.Head.Labels;
        int k = labels.Count;
        string accuracy = float.IsNaN(h.ValAccuracy) ? "n/a" : h.ValAccuracy.ToString("P1");
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        var rows = new List<string[]> { new[] { $"validation confusion (rows: true, columns: predicted), accuracy {accuracy}" } };
        rows.Add(["", .. Enumerable.Range(1, k).Select(c => c.ToString(inv))]);
        for (int r = 0; r < k; r++)
            rows.Add([$"{r + 1} {labels[r]}", .. Enumerable.Range(0, k).Select(c => h.Confusion[r, c].ToString(inv))]);
        return rows.ToArray();
    }

    private void Page(int step)
    {
        if (_s.Tap < 0 || _s.Tap >= _worker.Taps.Count) return;
        int pages = (_renderer.ShownChannels(_s.Tap) + LiveRenderer.PageSize - 1) / LiveRenderer.PageSize;
        _s.Page = Math.Clamp(_s.Page + step, 0, pages - 1);
    }

    private void RequestTap() => _worker.RequestedTap = _s.ShowFeatures ? _s.Tap : -1;

    private Dictionary<string, object?> Stats(long frames, double seconds, double inferenceSeconds, SampleRing latencies, SampleRing drawTimes,
        long steadyFrames, long steadyBytes)
    {
        return new Dictionary<string, object?>
        {
            ["mode"] = "window",
            ["model"] = _o.ModelName,
            ["source"] = _feed.Name,
            ["frames"] = frames,
            ["seconds"] = RunStats.Round(seconds, 3),
            ["renderFps"] = RunStats.Round(frames / Math.Max(1e-9, seconds)),
            ["captureFps"] = RunStats.Round(_feed.Rate.Total / Math.Max(1e-9, seconds)),
            ["inferenceFps"] = RunStats.Round(_worker.Rate.Total / Math.Max(1e-9, inferenceSeconds)),
            ["inferences"] = _worker.Rate.Total,
            ["inferenceMs"] = RunStats.Percentiles(_worker.ForwardTimes()),
            ["latencyMs"] = RunStats.Percentiles(latencies.ToArray()),
            ["drawMs"] = RunStats.Percentiles(drawTimes.ToArray()),
            ["allocatedBytesPerFrame"] = steadyFrames > 0 ? RunStats.Round(steadyBytes / (double)steadyFrames) : null,
            ["steadyFrames"] = steadyFrames,
            ["steadyAllocatedBytes"] = steadyBytes,
            ["framesNotShown"] = _feed.ForRender.Dropped,
            ["framesNotInferred"] = _feed.ForInference.Dropped,
            ["reconnects"] = _feed.Reconnects,
            ["sourceState"] = _feed.State.ToString(),
            ["gl"] = $"{_window.GlVersion} ({_window.GlRenderer})",
            ["maxFps"] = _maxFps,
            ["glfw"] = Glfw.VersionString(),
            ["layout"] = _renderer.LayoutForStats(),
            ["view"] = new Dictionary<string, object?>
            {
                ["features"] = _s.ShowFeatures,
                ["layer"] = _s.ShowFeatures && _s.Tap < _worker.Taps.Count ? _worker.Taps[_s.Tap].Node.Name : null,
                ["layerIndex"] = _s.Tap,
                ["layers"] = _worker.Taps.Count,
                ["page"] = _s.Page,
                ["colormap"] = LiveState.ColormapNames[_s.Colormap],
                ["normalisation"] = _s.GlobalNorm ? "global" : "per-channel",
                ["zoomChannel"] = _s.ZoomChannel,
                ["zoomOpacity"] = RunStats.Round(_s.ZoomOpacity),
                ["help"] = _s.ShowHelp,
                ["timing"] = _s.ShowTiming,
                ["mirror"] = _s.Mirror,
                ["paused"] = _s.Paused,
            },
            ["teach"] = _teach is null ? null : new Dictionary<string, object?>
            {
                ["data"] = _teach.Dataset.Directory,
                ["recorded"] = _recorded,
                ["recordRequests"] = _requested,
                ["recordRate"] = RunStats.Round(RecordRate),
                ["classes"] = _teach.Classes.Select(c => new { index = c.Index, name = c.Name, count = c.Count }).ToArray(),
                ["phase"] = _teach.Status.Phase.ToString(),
                ["status"] = _teach.Status.Message,
                ["head"] = _shownHead is not null,
                ["valAccuracy"] = _teach.LastTraining is { } lt ? RunStats.Round(lt.Head.ValAccuracy, 4) : null,
                ["trainSeconds"] = _teach.LastTraining is { } lt2 ? RunStats.Round(lt2.Head.Seconds, 3) : null,
                ["featureSeconds"] = _teach.LastTraining is { } lt3 ? RunStats.Round(lt3.Features.Seconds, 3) : null,
                ["featuresComputed"] = _teach.LastTraining?.Features.Computed,
                ["saved"] = _teach.LastSaved,
                ["fps"] = _teachFps.ToStats(),
            },
            ["top"] = _s.IsClassifier
                ? Enumerable.Range(0, _s.TopCount).Select(k => new { label = _s.Labels[_s.Top[k]], probability = Math.Round(_s.Smoothed[_s.Top[k]], 4) }).ToArray()
                : null,
        };
    }
}
