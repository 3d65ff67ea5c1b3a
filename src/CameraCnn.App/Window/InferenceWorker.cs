// InferenceWorker: the long-lived inference thread. It takes the newest frame (older ones are simply never seen),
// prepares it with the model's own preprocessing, runs the network and publishes the newest result: class
// probabilities, the tapped layer's activations (any node output of the graph; they stay readable after a forward)
// with per-channel ranges, and optionally per-layer timings. The render thread reads results and never waits.
using System.Diagnostics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using CameraCnn.Engine;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Optimization;
using CameraCnn.Vision;
using OpenCvSharp;

namespace CameraCnn.App.Window;

/// <summary>A layer whose [1, C, H, W] output can be shown as feature maps.</summary>
internal sealed record LayerTap(int Index, Node Node, int C, int H, int W)
{
    /// <summary>"conv1_relu  ReLU  16x32x32", made once.</summary>
    public string Label { get; } = $"{Node.Name}  {Node.Layer!.GetType().Name}  {C}x{H}x{W}";
}

/// <summary>One published inference (a reusable buffer of a <see cref="LatestSlot{T}"/>).</summary>
internal sealed class InferenceResult
{
    public InferenceResult(int classes, int featureCapacity, int channelCapacity, int nodes, int teachFeatures = 0)
    {
        Probabilities = new float[classes];
        TeachFeatures = new float[teachFeatures];
        Features = new float[featureCapacity];
        Ranges = new float[2 * channelCapacity];
        NodeMs = new double[nodes];
    }

    /// <summary>Softmax output (or the raw output of a model without classes).</summary>
    public float[] Probabilities { get; }
    /// <summary>The teach feature node's output (what a teach head classifies); empty without teach mode.</summary>
    public float[] TeachFeatures { get; }
    /// <summary>The tapped layer's activations, [C, H, W] as in the tensor; valid when <see cref="Tap"/> is not null.</summary>
    public float[] Features { get; }
    /// <summary>(min, max) per channel of the tapped layer.</summary>
    public float[] Ranges { get; }
    public float GlobalMin { get; set; }
    public float GlobalMax { get; set; }
    public LayerTap? Tap { get; set; }
    /// <summary>Per graph node, milliseconds of its forward (when timing was on).</summary>
    public double[] NodeMs { get; }
    public bool HasTiming { get; set; }
    public double ForwardMs { get; set; }
    public double PreprocessMs { get; set; }
    /// <summary>Capture timestamp of the frame this result is for (latency is measured from it).</summary>
    public long FrameTimestamp { get; set; }
    public long FrameSequence { get; set; }
    /// <summary>1, 2, 3... per published result.</summary>
    public long Sequence { get; set; }
    /// <summary>False for a result published only to show another layer of the same frame.</summary>
    public bool NewFrame { get; set; }
}

/// <summary>Receives one inferred frame and its teach features on the inference thread (copy what is kept: both are reused).</summary>
internal delegate void FrameTakenHandler(int tag, Mat frame, ReadOnlySpan<float> teachFeatures);

/// <summary>The inference thread over one model.</summary>
internal sealed class InferenceWorker : IDisposable
{
    private readonly Model _model;
    private readonly Graph _graph;
    private readonly Preprocessing _pre;
    private readonly LatestSlot<Frame> _frames;
    private readonly AutoResetEvent _frameArrived;
    private readonly Thread _thread;
    private readonly Tensor _input;
    private readonly FramePreprocessor _prep;
    private readonly Tensor[] _inputs;
    private readonly long[] _ticks;
    private readonly bool _applySoftmax;
    private volatile bool _stop;
    private volatile int _requestedTap = -1;
    private volatile bool _timing;
    private volatile string? _failure;
    private long _sequence;
    private int _publishedTap = -1;
    private readonly double[] _forwardMsRing = new double[4096];
    private int _forwardMsCount;
    private readonly Node? _teachNode;
    private readonly int[] _requests = new int[8];
    private int _requestHead, _requestCount;

    /// <param name="fuse">run the fused inference graph (conv + batch norm + add + ReLU in one layer, pre-packed weights;
    /// what `camcnn bench` times); a fused conv's feature maps are then its chain's final activation.</param>
    /// <param name="teachFeatureNode">the node whose output teach mode classifies (copied out with each result); null: none.</param>
    public InferenceWorker(Model model, LatestSlot<Frame> frames, AutoResetEvent frameArrived, bool fuse = true, Node? teachFeatureNode = null)
    {
        _model = model;
        _graph = fuse ? InferenceFusion.Fuse(model.Graph) : model.Graph;
        _inputs = new Tensor[1];
        _ticks = new long[_graph.Nodes.Count];
        _frames = frames;
        _frameArrived = frameArrived;
        if (_graph.Inputs.Count != 1) throw new ArgumentException($"the live window needs a single-input model; this one has {_graph.Inputs.Count} inputs");
        _pre = model.Preprocessing ?? FromInputShape(_graph.Inputs[0].InputShape!);
        _pre.Validate();
        _prep = new FramePreprocessor(_pre);
        _input = _prep.CreateInput();
        _inputs[0] = _input;

        var shapes = _graph.InferShapes([[1, _pre.Channels, _pre.Height, _pre.Width]]);
        // Every [1, C, H, W] node output except batch norm (at inference a per-channel affine map of the conv before
        // it, which per-channel normalisation would draw identically), dropout (the identity at inference) and the
        // aliases fusion leaves for absorbed layers (the same tensor as their fused conv).
        var taps = new List<LayerTap>();
        foreach (var node in _graph.Nodes)
            if (node.Layer is not (null or BatchNorm2d or Dropout or OutputAlias) && shapes[node.Name] is { Length: 4 } s && s[0] == 1 && s[1] * s[2] * s[3] > 0)
                taps.Add(new LayerTap(taps.Count, node, s[1], s[2], s[3]));
        Taps = taps;
        int[] outShape = shapes[_graph.Output.Name];
        OutputLength = (int)Tensor.CheckedLength(outShape);
        _applySoftmax = _graph.Output.Layer is not Softmax;
        IsClassifier = model.Labels.Count > 0 && model.Labels.Count == OutputLength;
        OutputShape = outShape;
        int featureCapacity = taps.Count == 0 ? 1 : taps.Max(t => t.C * t.H * t.W);
        int channelCapacity = taps.Count == 0 ? 1 : taps.Max(t => t.C);
        if (teachFeatureNode is not null)
        {
            // The fused graph keeps the names of the nodes it keeps (absorbed ones become aliases of their fused conv).
            _teachNode = teachFeatureNode == model.Graph.Output ? _graph.Output
                : _graph.Nodes.FirstOrDefault(n => n.Name == teachFeatureNode.Name);
            if (_teachNode is not null && shapes.TryGetValue(_teachNode.Name, out var fs)) TeachFeatureLength = (int)Tensor.CheckedLength(fs);
            else _teachNode = null;
        }
        Results = new LatestSlot<InferenceResult>(() => new InferenceResult(OutputLength, featureCapacity, channelCapacity, _graph.Nodes.Count, TeachFeatureLength));
        _thread = new Thread(Run) { IsBackground = true, Name = "camcnn inference" };
    }

    /// <summary>The layers that can be shown as feature maps, in graph order.</summary>
    public IReadOnlyList<LayerTap> Taps { get; }
    public IReadOnlyList<Node> Nodes => _graph.Nodes;
    /// <summary>Length of <see cref="InferenceResult.TeachFeatures"/> (0: no teach feature node).</summary>
    public int TeachFeatureLength { get; }
    public Preprocessing Preprocessing => _pre;
    public int OutputLength { get; }
    public int[] OutputShape { get; }
    /// <summary>The output is one probability per labelled class (else: a backbone's features, no bars).</summary>
    public bool IsClassifier { get; }
    public IReadOnlyList<string> Labels => _model.Labels;
    public LatestSlot<InferenceResult> Results { get; }
    public RateMeter Rate { get; } = new();
    /// <summary>Set when the thread stopped on an exception (the message; the window shows it).</summary>
    public string? Failure => _failure;

    /// <summary>Which tap to copy out with each result (-1: none).</summary>
    public int RequestedTap
    {
        get => _requestedTap;
        set
        {
            _requestedTap = value;
            _frameArrived.Set(); // re-publish the current frame's activations for the new layer at once
        }
    }

    /// <summary>Time every layer (runs the graph's nodes one by one instead of Graph.Forward).</summary>
    public bool Timing
    {
        get => _timing;
        set => _timing = value;
    }

    private static Preprocessing FromInputShape(int[] shape)
    {
        int c = shape.Length == 4 && shape[1] is 1 or 3 ? shape[1] : 3;
        int h = shape.Length == 4 && shape[2] > 0 ? shape[2] : 224, w = shape.Length == 4 && shape[3] > 0 ? shape[3] : 224;
        return new Preprocessing { Channels = c, Height = h, Width = w, ColorOrder = c == 1 ? "gray" : "rgb" };
    }

    /// <summary>
    /// Asks for a frame this thread infers to be handed to <see cref="FrameTaken"/> with <paramref name="tag"/> (0 or
    /// more), together with its teach features: teach mode records frames this way, so a recorded frame costs no
    /// second forward. Requests are served in order, one per inferred frame. False if 8 are already waiting.
    /// </summary>
    public bool RequestFrame(int tag)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tag);
        lock (_requests)
        {
            if (_requestCount == _requests.Length) return false;
            _requests[(_requestHead + _requestCount++) % _requests.Length] = tag;
        }
        _frameArrived.Set(); // a paused-then-resumed feed may already hold a frame
        return true;
    }

    /// <summary>Requests (<see cref="RequestFrame"/>) not yet served, or of one tag only.</summary>
    public int PendingRequests(int tag = -1)
    {
        lock (_requests)
        {
            if (tag < 0) return _requestCount;
            int n = 0;
            for (int i = 0; i < _requestCount; i++)
                if (_requests[(_requestHead + i) % _requests.Length] == tag) n++;
            return n;
        }
    }

    private int TakeRequest()
    {
        lock (_requests)
        {
            if (_requestCount == 0) return -1;
            int tag = _requests[_requestHead];
            _requestHead = (_requestHead + 1) % _requests.Length;
            _requestCount--;
            return tag;
        }
    }

    /// <summary>Serves <see cref="RequestFrame"/> (on the inference thread, right after the frame's forward).</summary>
    public FrameTakenHandler? FrameTaken { get; set; }

    /// <summary>Called on the inference thread after each result is published (the window wakes its render loop).</summary>
    public Action? Published { get; set; }

    public void Start() => _thread.Start();

    /// <summary>Forward times (ms) of every inference so far, up to the last 4096 (for percentiles at exit).</summary>
    public double[] ForwardTimes()
    {
        lock (_forwardMsRing)
            return _forwardMsRing.AsSpan(0, Math.Min(_forwardMsCount, _forwardMsRing.Length)).ToArray();
    }

    private void Run()
    {
        bool haveForward = false;
        try
        {
            while (!_stop)
            {
                _frameArrived.WaitOne(50);
                if (_stop) break;
                bool fresh = _frames.TryTake();
                int tap = _requestedTap;
                if (!fresh)
                {
                    Rate.Roll(Stopwatch.GetTimestamp()); // so the rate falls to 0 while no frames come
                    // No new frame: republish only when the shown layer changed (e.g. while paused).
                    if (!haveForward || tap == _publishedTap) continue;
                    Publish(_frames.Front, tap, false, 0, 0);
                    continue;
                }
                var frame = _frames.Front;
                long t0 = Stopwatch.GetTimestamp();
                Prepare(frame);
                long t1 = Stopwatch.GetTimestamp();
                var result = Results.Back;
                if (_timing)
                {
                    _graph.ForwardTimed(_inputs, _ticks);
                    for (int k = 0; k < _ticks.Length; k++) result.NodeMs[k] = Ms(_ticks[k]);
                    result.HasTiming = true;
                }
                else
                {
                    _graph.Forward(_inputs);
                    result.HasTiming = false;
                }
                long t2 = Stopwatch.GetTimestamp();
                haveForward = true;
                int request = TakeRequest();
                if (request >= 0) FrameTaken?.Invoke(request, frame.AsMat(),
                    _teachNode is null ? default : _teachNode.Output.Data.AsSpan(0, TeachFeatureLength));
                double forwardMs = Ms(t2 - t1);
                lock (_forwardMsRing) _forwardMsRing[_forwardMsCount++ % _forwardMsRing.Length] = forwardMs;
                Publish(frame, tap, true, Ms(t1 - t0), forwardMs);
                Rate.Tick(Stopwatch.GetTimestamp());
            }
        }
        catch (Exception e) when (e is ShapeException or InvalidOperationException or ArgumentException or OpenCVException or IndexOutOfRangeException)
        {
            _failure = $"inference stopped: {e.Message}";
        }
    }

    private static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

    private void Publish(Frame frame, int tap, bool newFrame, double preprocessMs, double forwardMs)
    {
        var r = Results.Back;
        var output = _graph.Output.Output.Data;
        int n = Math.Min(output.Length, r.Probabilities.Length);
        output.AsSpan(0, n).CopyTo(r.Probabilities);
        if (_applySoftmax && IsClassifier) TensorPrimitives.SoftMax(r.Probabilities.AsSpan(0, n), r.Probabilities.AsSpan(0, n));
        CopyTap(r, tap);
        if (_teachNode is not null)
        {
            var f = _teachNode.Output.Data;
            int fl = Math.Min(f.Length, r.TeachFeatures.Length);
            f.AsSpan(0, fl).CopyTo(r.TeachFeatures);
        }
        _publishedTap = tap;
        r.FrameTimestamp = frame.Timestamp;
        r.FrameSequence = frame.Sequence;
        r.NewFrame = newFrame;
        if (newFrame)
        {
            r.PreprocessMs = preprocessMs;
            r.ForwardMs = forwardMs;
        }
        r.Sequence = ++_sequence;
        Results.Publish();
        Published?.Invoke();
    }

    private void CopyTap(InferenceResult r, int tapIndex)
    {
        if (tapIndex < 0 || tapIndex >= Taps.Count)
        {
            r.Tap = null;
            return;
        }
        var tap = Taps[tapIndex];
        int plane = tap.H * tap.W;
        var data = tap.Node.Output.Data;
        if (data.Length < tap.C * plane)
        {
            r.Tap = null;
            return;
        }
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

    /// <summary>The model's own preprocessing (resize mode, colour order, mean/std, HWC to CHW), as in training.</summary>
    private void Prepare(Frame frame) => _prep.Process(frame.AsMat(), _input);

    /// <summary>Stops and joins the thread (it finishes the forward in progress first).</summary>
    public void Dispose()
    {
        if (_stop) return;
        _stop = true;
        _frameArrived.Set();
        if (_thread.IsAlive && !_thread.Join(TimeSpan.FromSeconds(10)))
            Console.Error.WriteLine("camcnn: warning: the inference thread did not stop within 10 s");
        if (!_thread.IsAlive) _prep.Dispose();
    }
}
