// LiveSession: `camcnn run` with a window. Starts the live pipeline (capture readers, inference worker), then runs
// the render loop on this thread (which owns the GL context): wait for input or a wake-up, take the newest frame and
// result if any, draw when something changed, swap. The loop never waits for inference and applies no head: results
// arrive complete (the Grad-CAM map too). Key scripts are ScriptPlayer's, the figures RenderStats', teach mode's keys
// TeachController's.
using System.Diagnostics;
using CameraCnn.App.Live;
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
    private readonly TeachSession? _teach;
    private readonly Engine.Node? _featureNode;
    private LiveState _s = null!;
    private LiveRenderer _renderer = null!;
    private LivePipeline _pipeline = null!;
    private GlWindow _window = null!;
    private TeachController? _tc;
    private double _maxFps;
    private bool _quit;
    private static volatile bool _interrupted;

    /// <param name="capture">a started capture thread with two readers, inference and render (the session owns it from here).</param>
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

    private LiveFeed Feed => _pipeline.Feed;
    private InferenceWorker Worker => _pipeline.Worker;

    public int Run()
    {
        using var pipeline = new LivePipeline(_model, _capture, _o.Fuse, _teach, _featureNode);
        _pipeline = pipeline;
        var (feed, worker) = (pipeline.Feed, pipeline.Worker);
        var render = feed.ForRender ?? throw new InvalidOperationException("the window needs a capture reader of its own");
        string title = $"camcnn: {_o.ModelName} on {feed.Name}";
        using var window = GlWindow.Open(title, _o.Width, _o.Height, _o.Fullscreen, _o.Vsync);
        _window = window;
        _maxFps = _o.MaxFps ?? (window.IsSoftwareRenderer ? 30 : 60);
        try
        {
            float ui = Math.Max(1f, Math.Max(window.ContentScale, window.PixelRatio.X));
            _s = new LiveState(worker.Nodes)
            {
                Title = $"{_o.ModelName}  |  {feed.Name}{(_notice is null ? "" : "  (no camera)")}",
                SourceName = feed.Name,
                Notice = _notice,
                NoticeUntil = Stopwatch.GetTimestamp() + (long)(_o.NoticeSeconds * Stopwatch.Frequency),
                Mirror = _o.Mirror,
                Tap = FirstConvolution(worker.Taps),
            };
            _s.SetClasses(worker.Network);
            var heat = worker.Network.Heat;
            using var renderer = new LiveRenderer(window.Gl, _s, worker.Taps, ui, ShaderProgram.DefaultDirectory, worker.Preprocessing,
                (heat.MaxWidth, heat.MaxHeight));
            _renderer = renderer;

            render.Published += GlWindow.Wake;
            worker.Published += GlWindow.Wake;
            if (_teach is not null) _tc = new TeachController(_teach, _s, worker, feed, window, renderer, _o.TeachSavePath!, _o.RecordRate);
            pipeline.Start();
            Console.CancelKeyPress += OnCancel;
            return Loop();
        }
        finally
        {
            Console.CancelKeyPress -= OnCancel;
            _tc?.Detach();
            // Join the threads while the window still exists: they wake it (glfwPostEmptyEvent) until they stop.
            pipeline.Dispose();
            render.Published -= GlWindow.Wake;
            worker.Published -= GlWindow.Wake;
        }
    }

    /// <summary>The layer F shows first: the first convolution (a preprocessing graph may come before it).</summary>
    private static int FirstConvolution(IReadOnlyList<LayerTap> taps)
    {
        for (int i = 0; i < taps.Count; i++)
            if (taps[i].LayerType == typeof(Engine.Layers.Conv2d) || taps[i].LayerType == typeof(Engine.Optimization.FusedConv2d)) return i;
        return 0;
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
        var script = new ScriptPlayer(_o.Keys, frames, fbW0, fbH0);
        var stats = new RenderStats(script.SteadyStart);
        var render = Feed.ForRender!;
        long start = Stopwatch.GetTimestamp(), last = start, firstResultAt = 0, lastDraw = 0, scriptDoneAt = 0, frame = 0;
        bool settled = false, dirty = true, continuous = frames > 0;
        long period = _maxFps > 0 ? (long)(Stopwatch.Frequency / _maxFps) : 0;
        long refresh = Stopwatch.Frequency / 2; // redraw at least this often (the figures change)
        double wait = 0;
        long stopAt = _o.Seconds is { } secs ? start + (long)(secs * Stopwatch.Frequency) : long.MaxValue;

        // Draw when something changed (a frame, a result, input, the bars still moving) and no faster than --max-fps;
        // in between, sleep in GLFW's event wait, which input and the capture and inference threads (Wake) cut short.
        while (!_quit && !_interrupted)
        {
            // The steady state: keys played, teach mode quiet, the bars on the current network's classes; the inference
            // thread's from the first result that also answers the heatmap asked for.
            stats.LoopStarting(frame, script.EventsDone && (_tc?.Quiet ?? true) && _s.ClassesVersion == Worker.Network.Version);
            if (stats.Steady && _s.Heat.Request == _s.HeatRequest) Worker.Allocations.Start();
            wait = script.Wait(wait);
            if (_tc is not null) wait = _tc.Wait(wait);
            _window.WaitEvents(wait);
            if (_window.ShouldClose) break;
            script.Play(frame, _window);
            while (_window.TryDequeue(out var e))
            {
                Handle(e);
                dirty = true;
            }
            if (_quit) break;
            long now = Stopwatch.GetTimestamp();
            bool final = now >= stopAt; // --seconds: one last frame (for --screenshot), then stop
            _tc?.Tick(now);
            if (!final && period > 0 && lastDraw != 0 && now < lastDraw + period)
            {
                wait = Seconds(lastDraw + period - now);
                continue;
            }

            if (!_s.Paused && render.TryTake(out var captured))
            {
                _renderer.UploadFrame(captured.Image);
                dirty = true;
            }
            if (Worker.Results.TryTake())
            {
                var result = Worker.Results.Front;
                Apply(result);
                if (result.NewFrame) stats.ResultArrived(result.FrameTimestamp);
                if (firstResultAt == 0) firstResultAt = now;
                dirty = true;
            }
            // A --frames run draws every frame (a fixed pace for tests); otherwise only when something changed.
            dirty |= continuous | final | Smooth(Seconds(now - last)) | (now - lastDraw >= refresh) | (_s.FeedState != Feed.State);
            last = now;
            var (fbW, fbH) = _window.FramebufferSize;
            if (!dirty || fbW <= 0 || fbH <= 0) // nothing new, or minimised
            {
                if (final) break;
                wait = 0.25;
                continue;
            }

            _s.RenderFps = stats.Rate.Rate;
            _s.CaptureFps = Feed.Rate.Rate;
            _s.InferenceFps = Worker.Rate.Rate;
            _s.LatencyMs = stats.LatencyMs;
            _s.FeedState = Feed.State;
            _s.FeedStatus = Feed.Status;
            _s.WorkerFailure = Worker.Failure;
            _tc?.Update(now);
            long drawStart = Stopwatch.GetTimestamp();
            _renderer.Draw(fbW, fbH);

            bool done = final;
            if (frames > 0 && frame + 1 >= frames && script.Done)
            {
                if (scriptDoneAt == 0) scriptDoneAt = now;
                settled = Settled(now, firstResultAt, script.LastKeyAt);
                done |= settled || Seconds(now - scriptDoneAt) > SettleTimeoutSeconds;
            }
            if (done)
            {
                stats.LastFrameDrawn(frame);
                if (_o.Screenshot is { } shot) _renderer.SaveScreenshot(shot);
            }
            _window.SwapBuffers();
            long swapped = Stopwatch.GetTimestamp();
            stats.Swapped(drawStart, swapped, done);
            _tc?.FrameDrawn(swapped, Feed.Rate.Total, Worker.Rate.Total);
            frame++;
            lastDraw = swapped;
            dirty = false;
            wait = period > 0 ? Seconds(period) : 0;
            if (done) break;
        }
        long end = Stopwatch.GetTimestamp();
        stats.Ended(frame);
        Worker.Allocations.Stop();
        if (frames > 0 && !settled && _o.Seconds is null)
            Console.Error.WriteLine("camcnn: warning: the run ended before the last key's result arrived (slow inference?)");
        // The stats count recorded frames as written: let the recorder finish what is queued.
        if (_teach is not null && _o.StatsJson is not null && !_teach.Flush(TimeSpan.FromSeconds(10)))
            Console.Error.WriteLine("camcnn: warning: recorded frames were still being written when the stats were taken");
        if (_o.StatsJson is { } path)
            RunStats.Write(path, Stats(frame, Seconds(end - start), firstResultAt == 0 ? 0 : Seconds(end - firstResultAt), stats));
        return Cli.CliRunner.Ok;
    }

    private static double Seconds(long ticks) => ticks / (double)Stopwatch.Frequency;

    /// <summary>Teach mode still has frames to record or a head to train.</summary>
    private bool Busy => _tc is { RecordsPending: true } || _teach is { IsTraining: true };

    /// <summary>The screen shows the state the script asked for: a frame, converged bars, the chosen layer's maps, the head trained.</summary>
    private bool Settled(long now, long firstResultAt, long lastKeyAt)
    {
        if (!_s.HaveFrame || firstResultAt == 0 || Seconds(now - firstResultAt) < 1.0) return false;
        if (lastKeyAt != 0 && Seconds(now - lastKeyAt) < 0.25) return false;
        if (Busy) return false; // frames still to record, a head still to train
        if (_s.Heat.Request != _s.HeatRequest) return false; // the heatmap asked for (or its message) has not come yet
        return !_s.ShowFeatures || _renderer.AtlasTap?.Index == _s.Tap;
    }

    /// <summary>A result from the worker: its probabilities become the bars' target (new classes reset them), its maps the atlas.</summary>
    private void Apply(InferenceResult r)
    {
        if (r.NewFrame)
        {
            if (r.Network.Version != _s.ClassesVersion)
            {
                _s.SetClasses(r.Network);
                if (_s.HeatClass >= r.Network.Classes) HeatClass(-1); // the clicked class is gone
            }
            r.ClassProbabilities.CopyTo(_s.Target);
            _s.Prediction = r.Prediction;
            if (!_s.HaveResult) _s.Target.AsSpan().CopyTo(_s.Smoothed);
            _s.HaveResult = true;
            _s.ForwardMs = r.ForwardMs;
            if (r.HasTiming)
            {
                r.NodeMs.AsSpan().CopyTo(_s.NodeMs);
                _s.HaveTiming = true;
            }
        }
        if (r.Tap is { } tap && _s.ShowFeatures && tap.Index == _s.Tap) _renderer.UploadFeatures(r);
        if (r.Heat.Request == _s.HeatRequest) // not a map of a request already taken back
        {
            _s.Heat = r.Heat;
            if (r.Heat.HasMap && !_renderer.UploadHeatmap(r)) _s.Heat = r.Heat with { State = HeatmapState.Message, Message = LiveHeatmap.TooLarge };
        }
    }

    /// <summary>Asks the worker for the heatmap the state now wants (G, a clicked class, a layer).</summary>
    private void HeatClass(int output)
    {
        _s.HeatClass = output;
        Worker.Heatmap = _s.HeatRequest;
    }

    /// <summary>Moves the bars towards the latest probabilities; true while they are still visibly moving.</summary>
    private bool Smooth(double dt)
    {
        if (!_s.HaveResult) return false;
        float a = (float)(1 - Math.Exp(-Math.Max(0, dt) / SmoothingSeconds)), moving = 0;
        var s = _s.Smoothed;
        var target = _s.Target;
        for (int i = 0; i < s.Length; i++)
        {
            float d = target[i] - s[i];
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
                if (_s.ShowHeat && _renderer.Layout.BarAt(_s, e.X, e.Y) is >= 0 and var rank)
                {
                    int output = _s.Top[rank];
                    HeatClass(output == _s.HeatClass ? -1 : output); // a second click: the prediction again
                    break;
                }
                if (!_s.ShowFeatures) break;
                int ch = _renderer.Layout.ChannelAt(e.X, e.Y);
                if (ch >= 0) _s.ZoomChannel = _s.ZoomChannel == ch ? -1 : ch;
                else if (!_renderer.Layout.FeaturePanel.Contains(e.X, e.Y)) _s.ZoomChannel = -1;
                break;
        }
    }

    private void Key(int key, int mods)
    {
        int taps = _pipeline.Worker.Taps.Count;
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
            case Glfw.KeyA + ('G' - 'A'):
                _s.ShowHeat = !_s.ShowHeat;
                Worker.Heatmap = _s.HeatRequest;
                break;
            case Glfw.KeyLeftBracket or Glfw.KeyRightBracket when _s.ShowHeat:
                int layers = Math.Max(1, Worker.Network.Heat.Count); // ] towards the last layer (the default), [ back from it
                _s.HeatLayer = (_s.HeatLayer + (key == Glfw.KeyRightBracket ? layers - 1 : 1)) % layers;
                Worker.Heatmap = _s.HeatRequest;
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
                _pipeline.Worker.Timing = _s.ShowTiming;
                break;
            case Glfw.KeyA + ('M' - 'A'):
                _s.Mirror = !_s.Mirror;
                break;
            case Glfw.KeySpace:
                _s.Paused = !_s.Paused;
                _pipeline.Feed.Paused = _s.Paused;
                break;
            case Glfw.KeyUp or Glfw.KeyDown when _s.ShowHeat:
                _s.HeatOpacity = Step(_s.HeatOpacity, key == Glfw.KeyUp);
                break;
            case Glfw.KeyUp or Glfw.KeyDown:
                _s.ZoomOpacity = Step(_s.ZoomOpacity, key == Glfw.KeyUp);
                break;
        }
    }

    /// <summary>An opacity one tenth up or down, 0.1 .. 1.</summary>
    private static float Step(float opacity, bool up) =>
        up ? Math.Min(1f, MathF.Round((opacity + 0.1f) * 10) / 10) : Math.Max(0.1f, MathF.Round((opacity - 0.1f) * 10) / 10);

    private void Page(int step)
    {
        if (_s.Tap < 0 || _s.Tap >= _pipeline.Worker.Taps.Count) return;
        int pages = (_renderer.ShownChannels(_s.Tap) + LiveLayout.PageSize - 1) / LiveLayout.PageSize;
        _s.Page = Math.Clamp(_s.Page + step, 0, pages - 1);
    }

    private void RequestTap() => _pipeline.Worker.RequestedTap = _s.ShowFeatures ? _s.Tap : -1;

    /// <summary>The Grad-CAM view for --stats-json (null without G).</summary>
    private Dictionary<string, object?>? HeatStats()
    {
        var h = _s.Heat;
        return !_s.ShowHeat ? null : new()
        {
            ["state"] = h.State.ToString(),
            ["message"] = h.Message,
            ["layer"] = h.Layer?.Name,
            ["layerIndex"] = h.LayerIndex,
            ["layers"] = h.LayerCount,
            ["map"] = h.HasMap ? new[] { h.Channels, h.Height, h.Width } : null,
            ["class"] = h.HasMap && h.Output < _s.Labels.Count ? _s.Labels[h.Output] : null,
            ["clicked"] = h.Pinned,
            ["empty"] = h.Empty,
            ["opacity"] = RunStats.Round(_s.HeatOpacity),
        };
    }

    private Dictionary<string, object?> Stats(long frames, double seconds, double inferenceSeconds, RenderStats render)
    {
        var (feed, worker) = (Feed, Worker);
        var stats = new Dictionary<string, object?>
        {
            ["mode"] = "window",
            ["model"] = _o.ModelName,
            ["source"] = feed.Name,
            ["frames"] = frames,
            ["seconds"] = RunStats.Round(seconds, 3),
            ["renderFps"] = RunStats.Round(frames / Math.Max(1e-9, seconds)),
            ["captureFps"] = RunStats.Round(feed.Rate.Total / Math.Max(1e-9, seconds)),
            ["inferenceFps"] = RunStats.Round(worker.Rate.Total / Math.Max(1e-9, inferenceSeconds)),
            ["inferences"] = worker.Rate.Total,
            ["inferenceFpsWarm"] = RunStats.Round(worker.WarmRate(Stopwatch.GetTimestamp())),
            ["inferenceMs"] = RunStats.Percentiles(worker.ForwardTimes()),
        };
        render.AddTo(stats); // latencyMs, drawMs, allocatedBytesPerFrame, steadyFrames, steadyAllocatedBytes
        var (heatMs, heatShare) = worker.HeatmapTimes();
        stats["gradcamMs"] = RunStats.Percentiles(heatMs, 4); // per new frame with G on (tens of microseconds: 4 digits)
        stats["gradcamShareOfForward"] = RunStats.Percentiles(heatShare, 4); // per frame: Grad-CAM time / that frame's forward
        var (bytes, inferences) = worker.Allocations.Result;
        stats["inferenceAllocatedBytesPerFrame"] = inferences > 0 ? RunStats.Round(bytes / (double)inferences) : null;
        stats["inferenceSteadyFrames"] = inferences;
        stats["framesNotShown"] = feed.ForRender!.Dropped;
        stats["framesNotInferred"] = feed.ForInference.Dropped;
        stats["reconnects"] = feed.Reconnects;
        stats["sourceState"] = feed.State.ToString();
        stats["gl"] = $"{_window.GlVersion} ({_window.GlRenderer})";
        stats["maxFps"] = _maxFps;
        stats["glfw"] = Glfw.VersionString();
        stats["layout"] = _renderer.Layout.ForStats(_s);
        stats["view"] = new Dictionary<string, object?>
        {
            ["features"] = _s.ShowFeatures,
            ["layer"] = _s.ShowFeatures && _s.Tap < worker.Taps.Count ? worker.Taps[_s.Tap].Name : null,
            ["layerIndex"] = _s.Tap,
            ["layers"] = worker.Taps.Count,
            ["page"] = _s.Page,
            ["colormap"] = LiveState.ColormapNames[_s.Colormap],
            ["normalisation"] = _s.GlobalNorm ? "global" : "per-channel",
            ["zoomChannel"] = _s.ZoomChannel,
            ["zoomOpacity"] = RunStats.Round(_s.ZoomOpacity),
            ["help"] = _s.ShowHelp,
            ["timing"] = _s.ShowTiming,
            ["mirror"] = _s.Mirror,
            ["paused"] = _s.Paused,
            ["gradcam"] = HeatStats(),
        };
        stats["teach"] = _tc?.Stats();
        stats["top"] = _s.IsClassifier
            ? Enumerable.Range(0, _s.TopCount).Select(k => new { label = _s.Labels[_s.Top[k]], probability = Math.Round(_s.Smoothed[_s.Top[k]], 4) }).ToArray()
            : null;
        return stats;
    }
}
