// LiveSession: `camcnn run` with a window. Starts the capture and inference threads, then runs the render loop on
// this thread (which owns the GL context): wait for input or a wake-up, take the newest frame and result if any,
// draw when something changed, swap. The loop never waits for inference. With --frames it draws every frame, replays
// a key script, saves a screenshot; --stats-json writes the figures at the end. Teach mode's keys and overlay live in
// TeachController, which this loop feeds with input, results and time.
using System.Diagnostics;
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

    // Teach mode (null without a session).
    private readonly TeachSession? _teach;
    private readonly Engine.Node? _featureNode;
    private TeachController? _tc;

    /// <param name="capture">a started capture thread (the session owns it from here).</param>
    /// <param name="teach">a teach session the keys 1-9, R, Backspace, T, S, W and V drive (owned by the caller), or null.</param>
    /// <param name="featureNode">the model's node whose output the teach head classifies.</param>
    public LiveSession(RunOptions options, Model model, CaptureThread capture, string? notice, TeachSession? teach = null, Engine.Node? featureNode = null)
    {
        _o = options;
        _model = model;
        _capture = capture;
        _notice = notice;
        _teach = teach;
        _featureNode = teach is null ? null : featureNode;
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
            if (_teach is not null) _tc = new TeachController(_teach, _s, worker, feed, window, renderer, _o.TeachSavePath!, _o.RecordRate);
            feed.Start();
            worker.Start();
            Console.CancelKeyPress += OnCancel;
            return Loop();
        }
        finally
        {
            Console.CancelKeyPress -= OnCancel;
            _tc?.Detach();
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
            if (_tc is not null) wait = _tc.Wait(wait);
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
            _tc?.Tick(now);
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
            _tc?.Update(now);
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
            _tc?.FrameDrawn(swapped, _feed.Rate.Total, _worker.Rate.Total);
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
        if (_tc is { RecordsPending: true }) return false; // frames still to record
        return !_s.ShowFeatures || _renderer.AtlasTap?.Index == _s.Tap;
    }

    private void Apply(InferenceResult r)
    {
        if (r.NewFrame)
        {
            if (_tc is not null) _tc.Apply(r, ref _target);
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
        if (_tc is not null && _tc.Handle(e)) return; // teach keys, its text box, tile clicks
        switch (e.Kind)
        {
            case InputKind.Key or InputKind.KeyRepeat:
                Key(e.Key, e.Mods);
                break;
            case InputKind.Scroll:
                if (_s.ShowFeatures) Page(e.Delta > 0 ? -1 : 1);
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
            ["teach"] = _tc?.Stats(),
            ["top"] = _s.IsClassifier
                ? Enumerable.Range(0, _s.TopCount).Select(k => new { label = _s.Labels[_s.Top[k]], probability = Math.Round(_s.Smoothed[_s.Top[k]], 4) }).ToArray()
                : null,
        };
    }
}
