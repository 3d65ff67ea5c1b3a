// InferenceWorker: the long-lived inference thread. It takes the newest frame of its capture reader (older ones are
// simply never seen), prepares it with the model's own preprocessing, runs the current LiveNetwork and publishes the
// newest result, complete: probabilities (the model's softmax or the teach head's verdict on the feature node), the
// prediction, the tapped layer's activations with per-channel ranges, optionally per-layer timings. Teach mode's
// recording is served here too: the frame just inferred goes to the recorder with its features (no second forward).
// With G on, the frame's Grad-CAM too (LiveHeatmap), right after its forward, into the same result.
using System.Diagnostics;
using CameraCnn.App.Teach;
using CameraCnn.Engine;
using CameraCnn.Engine.Models;
using CameraCnn.Vision;
using OpenCvSharp;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace CameraCnn.App.Live;

/// <summary>The inference thread over a <see cref="LiveNetwork"/> that can be swapped between two frames.</summary>
internal sealed class InferenceWorker : IDisposable
{
    private readonly FrameReader _frames;
    private readonly TeachSession? _recorder;
    private readonly AutoResetEvent _wake = new(false);
    private readonly Thread _thread;
    private readonly Tensor _input;
    private readonly FramePreprocessor _prep;
    private readonly Tensor[] _inputs;
    private readonly long[] _ticks;
    private readonly double[] _forwardMsRing = new double[4096];
    private readonly int[] _requests = new int[8];
    private readonly LiveHeatmap _heatmap = new();
    private readonly Lock _heatLock = new();
    private HeatmapRequest _heatRequest = HeatmapRequest.Off, _publishedHeat = HeatmapRequest.Off;
    private (float X, float Y, float W, float H, int FrameWidth, int FrameHeight) _region;
    private readonly AllocationCount _allocations = new();
    private LiveNetwork _network;
    private volatile bool _stop, _timing;
    private volatile int _requestedTap = -1;
    private volatile string? _failure;
    private long _sequence, _lastFrameTimestamp, _firstAt, _warmAt, _warmCount;
    private int _publishedTap = -1, _forwardMsCount, _requestHead, _requestCount;

    /// <param name="network">the first network (later ones through <see cref="Network"/> must have the same taps and nodes).</param>
    /// <param name="frames">this worker's capture reader.</param>
    /// <param name="recorder">teach mode: where <see cref="RequestFrame"/> sends the frames it asks for; null otherwise.</param>
    public InferenceWorker(LiveNetwork network, Preprocessing pre, FrameReader frames, TeachSession? recorder = null)
    {
        _network = network;
        _frames = frames;
        _recorder = recorder;
        Preprocessing = pre;
        _prep = new FramePreprocessor(pre);
        _input = _prep.CreateInput();
        _inputs = [_input];
        _ticks = new long[network.Graph.Nodes.Count];
        Taps = network.Taps;
        Nodes = network.Graph.Nodes;
        int featureCapacity = Taps.Count == 0 ? 1 : Taps.Max(t => t.C * t.H * t.W);
        int channelCapacity = Taps.Count == 0 ? 1 : Taps.Max(t => t.C);
        // A teach head has one output per class of its folder: room for as many as a teach folder can hold.
        int classCapacity = Math.Max(network.OutputLength, Vision.Teach.TeachDataset.MaxClasses);
        int heatmapCapacity = network.Heat.MaxWidth * network.Heat.MaxHeight;
        Results = new LatestSlot<InferenceResult>(() => new InferenceResult(classCapacity, featureCapacity, channelCapacity, Nodes.Count, heatmapCapacity));
        frames.Published += Wake;
        _thread = new Thread(Run) { IsBackground = true, Name = "camcnn inference" };
    }

    /// <summary>The layers that can be shown as feature maps, in graph order (the same in every network version).</summary>
    public IReadOnlyList<LayerTap> Taps { get; }
    public IReadOnlyList<Node> Nodes { get; }
    public Preprocessing Preprocessing { get; }
    public LatestSlot<InferenceResult> Results { get; }
    /// <summary>Inferences per second (0 while no frames come).</summary>
    public RateMeter Rate { get; } = new();
    /// <summary>Set when the thread stopped on an exception (the message; the window shows it).</summary>
    public string? Failure => _failure;

    /// <summary>Raised on the inference thread after each result is published (the window wakes its render loop).</summary>
    public event Action? Published;

    /// <summary>The network the next frame runs (read once at the start of each frame; set from any thread).</summary>
    public LiveNetwork Network
    {
        get => Volatile.Read(ref _network);
        set
        {
            Volatile.Write(ref _network, value);
            Wake();
        }
    }

    /// <summary>Which tap to copy out with each result (-1: none).</summary>
    public int RequestedTap
    {
        get => _requestedTap;
        set
        {
            _requestedTap = value;
            Wake(); // re-publish the current frame's activations for the new layer at once
        }
    }

    /// <summary>Grad-CAM with every result (G), of which class and layer; set from any thread.</summary>
    public HeatmapRequest Heatmap
    {
        get
        {
            lock (_heatLock) return _heatRequest;
        }
        set
        {
            lock (_heatLock) _heatRequest = value;
            Wake(); // re-publish the current frame with the map asked for at once
        }
    }

    /// <summary>Grad-CAM times (ms) of every new frame with G on, and their shares of the same frames' forwards.</summary>
    public (double[] Ms, double[] Share) HeatmapTimes() => _heatmap.Times();

    /// <summary>How many times the worker made a Grad-CAM for a graph and layer (a head swap does not make one).</summary>
    public int HeatmapBuilds => _heatmap.Builds;

    /// <summary>Bytes this thread allocates per inference, counted from <see cref="AllocationCount.Start"/> to its Stop.</summary>
    public AllocationCount Allocations => _allocations;

    /// <summary>Time every layer (runs the graph's nodes one by one instead of Graph.Forward).</summary>
    public bool Timing
    {
        get => _timing;
        set => _timing = value;
    }

    private void Wake() => _wake.Set();

    /// <summary>
    /// Teach mode: asks for the next frame this thread infers to be recorded into class <paramref name="classIndex"/>,
    /// with the features the forward just computed, so a recorded frame costs no second forward. Requests are served
    /// in order, one per inferred frame. False if 8 are already waiting.
    /// </summary>
    public bool RequestFrame(int classIndex)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(classIndex);
        if (_recorder is null) throw new InvalidOperationException("recording needs a teach session");
        lock (_requests)
        {
            if (_requestCount == _requests.Length) return false;
            _requests[(_requestHead + _requestCount++) % _requests.Length] = classIndex;
        }
        Wake(); // a paused-then-resumed feed may already hold a frame
        return true;
    }

    /// <summary>Requests (<see cref="RequestFrame"/>) not yet served, or of one class only.</summary>
    public int PendingRequests(int classIndex = -1)
    {
        lock (_requests)
        {
            if (classIndex < 0) return _requestCount;
            int n = 0;
            for (int i = 0; i < _requestCount; i++)
                if (_requests[(_requestHead + i) % _requests.Length] == classIndex) n++;
            return n;
        }
    }

    /// <summary>The oldest request's class, or -1 (it stays pending until <see cref="DropRequest"/>).</summary>
    private int PeekRequest()
    {
        lock (_requests) return _requestCount == 0 ? -1 : _requests[_requestHead];
    }

    private void DropRequest()
    {
        lock (_requests)
        {
            _requestHead = (_requestHead + 1) % _requests.Length;
            _requestCount--;
        }
    }

    public void Start() => _thread.Start();

    /// <summary>Seconds after the first inference from which <see cref="WarmRate"/> counts (set before <see cref="Start"/>).</summary>
    public double WarmUpSeconds { get; set; } = 5;

    /// <summary>
    /// Inferences per second from <see cref="WarmUpSeconds"/> after the first one to <paramref name="now"/>: the rate once
    /// start-up is over (the JIT has compiled the kernels' final code, teach mode's trainer has loaded its backbone),
    /// as `camcnn bench` measures after its warm-up. NaN until an inference after that time.
    /// </summary>
    public double WarmRate(long now)
    {
        long at = Interlocked.Read(ref _warmAt), count = Rate.Total - Interlocked.Read(ref _warmCount);
        return at == 0 || count < 1 || now <= at ? double.NaN : count * (double)Stopwatch.Frequency / (now - at);
    }

    private void MarkWarm(long now)
    {
        if (_firstAt == 0) _firstAt = now;
        else if (_warmAt == 0 && now - _firstAt >= (long)(WarmUpSeconds * Stopwatch.Frequency))
        {
            Interlocked.Exchange(ref _warmCount, Rate.Total);
            Interlocked.Exchange(ref _warmAt, now);
        }
    }

    /// <summary>Forward times (ms) of every inference so far, up to the last 4096 (for percentiles at exit).</summary>
    public double[] ForwardTimes()
    {
        lock (_forwardMsRing)
            return _forwardMsRing.AsSpan(0, Math.Min(_forwardMsCount, _forwardMsRing.Length)).ToArray();
    }

    private void Run()
    {
        LiveNetwork? ran = null; // the network of the last forward: its node outputs are still readable
        try
        {
            while (!_stop)
            {
                _wake.WaitOne(50);
                if (_stop) break;
                int tap = _requestedTap;
                if (!_frames.TryTake(out var frame))
                {
                    Rate.Roll(Stopwatch.GetTimestamp()); // so the rate falls to 0 while no frames come
                    // No new frame (e.g. paused): republish only when the shown layer or the heatmap asked for changed.
                    if (ran is not null && (tap != _publishedTap || Heatmap != _publishedHeat)) Publish(ran, tap, newFrame: false, 0);
                    _allocations.Tick();
                    continue;
                }
                var network = Network; // one network for the whole frame
                Locate(frame.Image);
                _prep.Process(frame.Image, _input);
                long t0 = Stopwatch.GetTimestamp();
                var result = Results.Back;
                if (_timing)
                {
                    network.Graph.ForwardTimed(_inputs, _ticks);
                    for (int k = 0; k < _ticks.Length; k++) result.NodeMs[k] = Ms(_ticks[k]);
                    result.HasTiming = true;
                }
                else
                {
                    network.Graph.Forward(_inputs);
                    result.HasTiming = false;
                }
                double forwardMs = Ms(Stopwatch.GetTimestamp() - t0);
                ran = network;
                _lastFrameTimestamp = frame.Timestamp;
                Record(network, frame.Image);
                lock (_forwardMsRing) _forwardMsRing[_forwardMsCount++ % _forwardMsRing.Length] = forwardMs;
                Publish(network, tap, newFrame: true, forwardMs);
                long done = Stopwatch.GetTimestamp();
                Rate.Tick(done);
                MarkWarm(done);
                _allocations.Tick(inference: true);
            }
        }
        catch (Exception e) when (e is ShapeException or InvalidOperationException or ArgumentException or OpenCVException)
        {
            _failure = $"inference stopped: {e.Message}";
        }
    }

    /// <summary>Serves the oldest <see cref="RequestFrame"/>: the frame just inferred and its features go to the recorder.</summary>
    private void Record(LiveNetwork network, Mat frame)
    {
        if (_recorder is null) return;
        int classIndex = PeekRequest();
        if (classIndex < 0) return;
        var features = network.FeatureNode is { } f ? f.Output.Data.AsSpan(0, network.FeatureLength) : default;
        _recorder.Record(classIndex, frame, features, network.Backbone);
        // Only now: until the recorder holds the frame, PendingRequests still counts it, so whoever waits for none
        // pending (the automatic training on a key's release, a Flush after it) never runs without this frame.
        DropRequest();
    }

    private static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

    /// <summary>Where the network input lies in a frame of this size (worked out again only when the size changes).</summary>
    private void Locate(Mat frame)
    {
        if (frame.Cols == _region.FrameWidth && frame.Rows == _region.FrameHeight) return;
        var (x, y, w, h) = HeatmapOverlay.InputRegion(_prep.GeometryFor(frame.Cols, frame.Rows), Preprocessing.Width, Preprocessing.Height);
        _region = ((float)x, (float)y, (float)w, (float)h, frame.Cols, frame.Rows);
    }

    private void Publish(LiveNetwork network, int tap, bool newFrame, double forwardMs)
    {
        var r = Results.Back;
        r.Network = network;
        Classify(network, r);
        var heat = Heatmap;
        _heatmap.Compute(network, r, heat, newFrame ? forwardMs : 0, _region);
        _publishedHeat = heat;
        CopyTap(network, r, tap);
        _publishedTap = tap;
        r.FrameTimestamp = _lastFrameTimestamp;
        r.NewFrame = newFrame;
        if (newFrame) r.ForwardMs = forwardMs;
        r.Sequence = ++_sequence;
        Results.Publish();
        Published?.Invoke();
    }

    /// <summary>The final probabilities and the prediction: the teach head's verdict on the feature node, else the model's own classes.</summary>
    private static void Classify(LiveNetwork network, InferenceResult r)
    {
        if (network.Head is { } head)
        {
            var features = network.FeatureNode!.Output.Data.AsSpan(0, network.FeatureLength);
            r.Prediction = Prediction.Of(head, network.Threshold, features, r.Probabilities);
            return;
        }
        if (network.Classes == 0)
        {
            r.Prediction = Prediction.None;
            return;
        }
        var probabilities = r.Probabilities.AsSpan(0, network.Classes);
        network.Graph.Output.Output.Data.AsSpan(0, probabilities.Length).CopyTo(probabilities);
        if (network.ApplySoftmax) TensorPrimitives.SoftMax(probabilities, probabilities);
        r.Prediction = Prediction.Of(probabilities, network.Labels);
    }

    private static void CopyTap(LiveNetwork network, InferenceResult r, int tapIndex)
    {
        r.Tap = null;
        if (tapIndex < 0 || tapIndex >= network.Taps.Count) return;
        var tap = network.Taps[tapIndex];
        int plane = tap.H * tap.W;
        var data = network.TapNodes[tapIndex].Output.Data;
        if (data.Length < tap.C * plane) return;
        data.AsSpan(0, tap.C * plane).CopyTo(r.Features);
        float gmin = float.PositiveInfinity, gmax = float.NegativeInfinity;
        for (int c = 0; c < tap.C; c++)
        {
            var ch = r.Features.AsSpan(c * plane, plane);
            float lo = TensorPrimitives.Min(ch), hi = TensorPrimitives.Max(ch);
            if (!float.IsFinite(lo) || !float.IsFinite(hi)) lo = hi = 0;
            r.Ranges[2 * c] = lo;
            r.Ranges[2 * c + 1] = hi;
            gmin = Math.Min(gmin, lo);
            gmax = Math.Max(gmax, hi);
        }
        r.GlobalMin = gmin;
        r.GlobalMax = gmax;
        r.Tap = tap;
    }

    /// <summary>Stops and joins the thread (it finishes the forward in progress first).</summary>
    public void Dispose()
    {
        if (_stop) return;
        _stop = true;
        _frames.Published -= Wake;
        _wake.Set();
        if (_thread.IsAlive && !_thread.Join(TimeSpan.FromSeconds(10)))
        {
            Console.Error.WriteLine("camcnn: warning: the inference thread did not stop within 10 s");
            return; // it still uses the preprocessor and the wake event
        }
        _prep.Dispose();
        _wake.Dispose();
    }
}
