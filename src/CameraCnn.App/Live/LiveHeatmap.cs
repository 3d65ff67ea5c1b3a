// LiveHeatmap: the Grad-CAM half of the inference worker. Right after a frame's forward and its verdict, when the window
// asks for it (G), the class score's Grad-CAM at the chosen layer goes into the frame's result next to the probabilities:
// the map, the layer, the class, the time it took and the region of the frame the map covers; or, where there is nothing
// to explain (no classes) or no way back to the layer (a layer without a backward), the message the window shows
// instead. Numbers only: the window upsamples, colours and blends the map on the GPU. Inference thread only.
using System.Diagnostics;
using CameraCnn.Engine;
using CameraCnn.Engine.Explain;

namespace CameraCnn.App.Live;

/// <summary>What the window asks of the worker's Grad-CAM.</summary>
/// <param name="On">Compute a map with every result (G).</param>
/// <param name="Class">The output to explain (a clicked bar); -1 or an output the network does not have: the prediction.</param>
/// <param name="Layer">Steps before the default layer (the last spatial one); wraps around the layers there are.</param>
internal readonly record struct HeatmapRequest(bool On, int Class, int Layer)
{
    public static readonly HeatmapRequest Off = default;
}

/// <summary>A result's Grad-CAM: none, a map (in <see cref="InferenceResult.Heatmap"/>), or a message saying why not.</summary>
internal enum HeatmapState { Off, Map, Message }

/// <summary>The Grad-CAM part of one result (the map's values are in <see cref="InferenceResult.Heatmap"/>).</summary>
internal readonly record struct HeatmapInfo
{
    /// <summary>What the window asked for when this was computed (it knows from this when its request has been served).</summary>
    public HeatmapRequest Request { get; init; }
    public HeatmapState State { get; init; }
    /// <summary>Why there is no map (State Message).</summary>
    public string? Message { get; init; }
    /// <summary>The layer explained, its position among <see cref="HeatLayers.Layers"/> and their count.</summary>
    public Node? Layer { get; init; }
    public int LayerIndex { get; init; }
    public int LayerCount { get; init; }
    public int Channels { get; init; }
    public int Height { get; init; }
    public int Width { get; init; }
    /// <summary>The output whose score is explained (an index into the result's probabilities).</summary>
    public int Output { get; init; }
    /// <summary>The output was asked for (a clicked bar), not the prediction.</summary>
    public bool Pinned { get; init; }
    /// <summary>No positive evidence for the class in this layer: the map is all zero.</summary>
    public bool Empty { get; init; }
    /// <summary>Milliseconds of the Grad-CAM computation (the backward from the score to the layer and the map).</summary>
    public double Ms { get; init; }
    /// <summary><see cref="Ms"/> over the same frame's forward time (NaN for a result of no new frame).</summary>
    public double Share { get; init; }
    /// <summary>Where the whole network input (which the map covers) lies in the frame, in frame pixels; it reaches beyond
    /// the frame for a letterbox.</summary>
    public float RegionX { get; init; }
    public float RegionY { get; init; }
    public float RegionWidth { get; init; }
    public float RegionHeight { get; init; }
    /// <summary>The size of the frame the region is in.</summary>
    public int FrameWidth { get; init; }
    public int FrameHeight { get; init; }

    public bool HasMap => State == HeatmapState.Map;
}

/// <summary>The worker's Grad-CAM: one <see cref="GradCam"/> for the current graph and layer, made again only when those change.</summary>
internal sealed class LiveHeatmap
{
    public const string NoHeadYet = "Grad-CAM: no classes to explain yet: record two classes (hold 1-9) and a head trains";
    public const string NoClassifier = "Grad-CAM: this model has no classifier (its output is features, not classes): nothing to explain";
    public const string NoSpatialLayer = "Grad-CAM: no spatial layer (a convolutional feature map) feeds the classifier: nothing to explain";
    /// <summary>A later network's map is larger than the buffers sized for the first one's layers.</summary>
    public const string TooLarge = "Grad-CAM: this layer's map is larger than the heatmap buffers made at start";

    private readonly double[] _msRing = new double[4096], _shareRing = new double[4096];
    private int _count;
    private GradCam? _cam;
    private Graph? _graph;
    private Node? _score, _layer;
    /// <summary>Why the current graph and layer cannot be explained: kept, so a failure is not tried again every frame.</summary>
    private string? _failure;

    /// <summary>How many times a <see cref="GradCam"/> was made (a new graph, score node or layer; not a new head).</summary>
    public int Builds { get; private set; }

    /// <summary>
    /// Fills <paramref name="r"/>'s heatmap for <paramref name="request"/> from <paramref name="network"/>'s last forward,
    /// after <paramref name="r"/>'s prediction is set. Allocates nothing once the GradCam for the graph and layer exists.
    /// </summary>
    /// <param name="forwardMs">this frame's forward time; 0 for a result published again without a new frame.</param>
    /// <param name="region">where the network input lies in the frame (frame pixels), and the frame's size.</param>
    public void Compute(LiveNetwork network, InferenceResult r, HeatmapRequest request, double forwardMs,
        (float X, float Y, float W, float H, int FrameWidth, int FrameHeight) region)
    {
        if (!request.On)
        {
            r.Heat = new HeatmapInfo { Request = request, State = HeatmapState.Off };
            return;
        }
        var heat = network.Heat;
        int classes = network.Head?.Classes ?? (network.IsTeach ? 0 : network.Classes);
        string? why = classes == 0 ? (network.IsTeach ? NoHeadYet : NoClassifier)
            : heat.ScoreNode is null || heat.Count == 0 ? NoSpatialLayer : null;
        int index = heat.IndexFromEnd(request.Layer);
        if (why is null) why = Prepare(network.Graph, heat.ScoreNode!, heat.Layers[index]);
        var info = new HeatmapInfo
        {
            Request = request, LayerIndex = index, LayerCount = heat.Count, Layer = index >= 0 ? heat.Layers[index] : null,
            RegionX = region.X, RegionY = region.Y, RegionWidth = region.W, RegionHeight = region.H,
            FrameWidth = region.FrameWidth, FrameHeight = region.FrameHeight,
        };
        if (why is not null)
        {
            r.Heat = info with { State = HeatmapState.Message, Message = why };
            return;
        }
        bool pinned = request.Class >= 0 && request.Class < classes;
        int output = pinned ? request.Class : r.Prediction.Output;
        long t0 = Stopwatch.GetTimestamp();
        GradCamResult result;
        try
        {
            result = network.Head is { } head ? _cam!.Compute(head, output) : _cam!.Compute(output);
        }
        catch (Exception e) when (e is NotSupportedException or InvalidOperationException or ArgumentException)
        {
            _failure = $"Grad-CAM at {_cam!.Layer.Name}: {e.Message}";
            r.Heat = info with { State = HeatmapState.Message, Message = _failure };
            return;
        }
        double ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        var map = _cam.Map;
        if (map.Length > r.Heatmap.Length)
        {
            r.Heat = info with { State = HeatmapState.Message, Message = TooLarge };
            return;
        }
        map.CopyTo(r.Heatmap);
        double share = forwardMs > 0 ? ms / forwardMs : double.NaN;
        if (forwardMs > 0)
            lock (_msRing)
            {
                _msRing[_count % _msRing.Length] = ms;
                _shareRing[_count++ % _shareRing.Length] = share;
            }
        r.Heat = info with
        {
            State = HeatmapState.Map, Channels = _cam.Channels, Height = result.Height, Width = result.Width, Output = output,
            Pinned = pinned, Empty = result.IsEmpty, Ms = ms, Share = share,
        };
    }

    /// <summary>Makes the GradCam when the graph, score node or layer changed; the failure that stops it, or null.</summary>
    private string? Prepare(Graph graph, Node score, Node layer)
    {
        if (_graph == graph && _score == score && _layer == layer) return _failure;
        _graph = graph;
        _score = score;
        _layer = layer;
        _failure = null;
        _cam = null;
        Builds++;
        try
        {
            _cam = new GradCam(graph, score, layer);
        }
        catch (ArgumentException e)
        {
            _failure = $"Grad-CAM at {layer.Name}: {e.Message}";
        }
        return _failure;
    }

    /// <summary>Grad-CAM times (ms) and their shares of the same frames' forwards, of every new frame so far (up to the last 4096).</summary>
    public (double[] Ms, double[] Share) Times()
    {
        lock (_msRing)
        {
            int n = Math.Min(_count, _msRing.Length);
            return (_msRing.AsSpan(0, n).ToArray(), _shareRing.AsSpan(0, n).ToArray());
        }
    }
}
