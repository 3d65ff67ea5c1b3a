// GradCam: where in a spatial layer a class score comes from (Grad-CAM, Selvaraju et al. 2017): channel weights = the
// spatial mean of the score's gradient with respect to the layer's output, map = ReLU(sum_c weight_c x activation_c),
// normalised to 0..1, with its peak and centroid. Numbers only: upsampling, colours and drawing belong to the callers.
using System.Numerics.Tensors;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Optimization;
using CameraCnn.Engine.Teach;

namespace CameraCnn.Engine.Explain;

/// <summary>
/// What one Grad-CAM computation found; the map itself is <see cref="GradCam.Map"/>. Coordinates are in the layer's
/// map (x to the right, y down); a cell's centre is at fraction ((x + 0.5) / Width, (y + 0.5) / Height) of the map, which
/// covers the network's whole input.
/// </summary>
/// <param name="ClassIndex">The score explained: the logit's index, or the head's output.</param>
/// <param name="RawMax">The largest value of ReLU(sum_c w_c A_c) before normalisation; 0 when the map is empty.</param>
/// <param name="PeakX">Column of the largest cell (the first in row-major order on a tie); -1 when the map is empty.</param>
/// <param name="PeakY">Row of the largest cell; -1 when the map is empty.</param>
/// <param name="CentroidX">The map-weighted mean of the cell centres, as a fraction 0..1 of the map's width; NaN when empty.</param>
/// <param name="CentroidY">The same along the height.</param>
public readonly record struct GradCamResult(int ClassIndex, int Height, int Width, float RawMax, int PeakX, int PeakY, float CentroidX, float CentroidY)
{
    /// <summary>
    /// No positive evidence for the class in this layer (every weighted sum is &lt;= 0, or not finite): the map is all
    /// zero, there is no peak (-1) and no centroid (NaN).
    /// </summary>
    public bool IsEmpty => PeakX < 0;
    /// <summary>The peak cell's centre as a fraction 0..1 of the map's width; NaN when empty.</summary>
    public float PeakFractionX => IsEmpty ? float.NaN : (PeakX + 0.5f) / Width;
    /// <summary>The peak cell's centre as a fraction 0..1 of the map's height; NaN when empty.</summary>
    public float PeakFractionY => IsEmpty ? float.NaN : (PeakY + 0.5f) / Height;
}

/// <summary>
/// Grad-CAM of one layer of a graph, computed from the activations and layer state of the graph's last forward (batch 1).
/// The class score is read at <see cref="ScoreNode"/>: either the logits (pre-softmax) of a classifier inside the graph,
/// <see cref="Compute(int)"/>, or the features a separate <see cref="ClassifierHead"/> reads (a teach head on a
/// backbone), <see cref="Compute(ClassifierHead, int)"/>. Works on the graph as loaded and on the fused inference graph
/// (<see cref="InferenceFusion"/>), whose taps of a fused chain all read the chain's final value.
/// <para>
/// Make one per (graph, layer) and keep it: buffers are sized on the first Compute and reused, so a Compute with the
/// shapes of the previous one allocates nothing. Not thread-safe: call Compute on the thread that runs the forward,
/// after it and before the next; <see cref="Map"/> and <see cref="Weights"/> are overwritten by the next Compute.
/// </para>
/// <para>
/// When the layer's map reaches the score only through a Flatten and a <see cref="Dense"/> (LeNet's pool2 -> fc1), the
/// backward stops at the Dense's output: the channel weights need only the spatial mean of dA = W^T dY, which is
/// (1/HW) S^T dY with S[j, c] the sum of row j of W over channel c's H x W inputs. S is taken from the weights on the
/// first Compute (the backward through W would read all of them every time, as much as the Dense's forward costs);
/// make a new GradCam when that Dense's weights change, as after a re-fuse.
/// </para>
/// </summary>
public sealed class GradCam
{
    private readonly GradientPath _path;
    private readonly Dense? _dense;       // the Flatten -> Dense the backward stops at, or null
    private float[] _seed = [], _weights = [], _map = [];
    private float[] _channelSums = [];    // S [Out, C] of _dense, taken on the first Compute

    /// <param name="graph">The graph whose forward runs before each Compute.</param>
    /// <param name="scoreNode">Where the class scores are read: the logits node, or the node whose output a head reads.</param>
    /// <param name="layer">The spatial node to explain; null for <see cref="DefaultLayer"/>.</param>
    /// <exception cref="ArgumentException">A node is not in the graph, the layer does not feed the score node, or its
    /// output is not spatial ([N, C, H, W] with H x W &gt; 1).</exception>
    public GradCam(Graph graph, Node scoreNode, Node? layer = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(scoreNode);
        Graph = graph;
        ScoreNode = scoreNode;
        Layer = layer ?? DefaultLayer(graph, scoreNode);
        if (InferShapes(graph) is { } shapes && shapes.TryGetValue(Layer.Name, out var shape))
        {
            if (!IsSpatial(shape))
                throw new ArgumentException($"layer '{Layer.Name}' is not spatial: its output is {Tensor.Format(shape)}, Grad-CAM needs an [N, C, H, W] map larger than 1x1");
            (Channels, Height, Width) = (shape[1], shape[2], shape[3]);
        }
        var full = new GradientPath(graph, Layer, scoreNode);
        var dense = DenseAfterFlatten(full);
        _dense = dense?.Layer as Dense;
        _path = dense is null ? full : new GradientPath(graph, dense, scoreNode);
    }

    /// <summary>
    /// The Dense node the backward can stop at: the path's first two steps are a Flatten (axis 1) of the layer and a Dense
    /// of that, and nothing else on the path reads either value.
    /// </summary>
    private static Node? DenseAfterFlatten(GradientPath full)
    {
        var steps = full.Steps; // last first
        if (steps.Count < 2 || steps[^1] is not { Layer: Flatten { Axis: 1 } } flatten || steps[^2] is not { Layer: Dense } dense) return null;
        var layer = GradientPath.Root(full.Target);
        if (GradientPath.Root(flatten.Inputs[0]) != layer || GradientPath.Root(dense.Inputs[0]) != flatten) return null;
        foreach (var step in steps)
            foreach (var input in step.Inputs)
            {
                var value = GradientPath.Root(input);
                if ((value == layer && step != flatten) || (value == flatten && step != dense)) return null;
            }
        return dense;
    }

    public Graph Graph { get; }
    /// <summary>The node the class scores (or the head's features) are read from.</summary>
    public Node ScoreNode { get; }
    /// <summary>The node explained.</summary>
    public Node Layer { get; }
    /// <summary>The layer's channels and map size (batch 1), as of the last Compute (before it: as shape inference says).</summary>
    public int Channels { get; private set; }
    public int Height { get; private set; }
    public int Width { get; private set; }

    /// <summary>The normalised map of the last Compute: Height x Width values in 0..1, row-major (empty before the first).</summary>
    public ReadOnlySpan<float> Map => _map.AsSpan(0, Math.Min(_map.Length, Height * Width));
    /// <summary>The channel weights of the last Compute (Channels values): the spatial mean of the gradient.</summary>
    public ReadOnlySpan<float> Weights => _weights.AsSpan(0, Math.Min(_weights.Length, Channels));
    /// <summary>The gradient path the backward runs from the score node: back to the layer, or to the Dense it stops at.</summary>
    public GradientPath Path => _path;

    /// <summary>
    /// The map for logit <paramref name="classIndex"/> of <see cref="ScoreNode"/> (the scores before any softmax).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">No such class.</exception>
    /// <exception cref="InvalidOperationException">No forward has run, or it was not of batch 1.</exception>
    /// <exception cref="NotSupportedException">A layer between the score and the layer has no backward (named).</exception>
    public GradCamResult Compute(int classIndex)
    {
        int k = ScoreLength();
        if ((uint)classIndex >= (uint)k)
            throw new ArgumentOutOfRangeException(nameof(classIndex), classIndex, $"'{ScoreNode.Name}' holds {k} class scores");
        Span<float> seed = Seed(k);
        seed.Clear();
        seed[classIndex] = 1f; // d z_k / d z = e_k
        return FromSeed(classIndex);
    }

    /// <summary>
    /// The map for output <paramref name="output"/> of <paramref name="head"/>, which reads <see cref="ScoreNode"/>'s
    /// output as its features: the gradient goes through the head (hidden layer or not), then back into the graph.
    /// </summary>
    /// <exception cref="ArgumentException">The head does not read as many features as the score node holds, or has no such output.</exception>
    public GradCamResult Compute(ClassifierHead head, int output)
    {
        ArgumentNullException.ThrowIfNull(head);
        int k = ScoreLength();
        if (head.Dimension != k) throw new ArgumentException($"the head reads {head.Dimension} features, '{ScoreNode.Name}' holds {k}", nameof(head));
        head.LogitGradient(ScoreNode.Output.Data.AsSpan(0, k), output, Seed(k));
        return FromSeed(output);
    }

    private int ScoreLength()
    {
        var s = ScoreNode.Output;
        if (s.Length == 0) throw new InvalidOperationException($"'{ScoreNode.Name}' holds no value: run a forward of the graph first");
        if (s.Shape[0] != 1) throw new InvalidOperationException($"Grad-CAM explains one image at a time: '{ScoreNode.Name}' is {s.ShapeString}, batch 1 expected");
        return s.Length;
    }

    private Span<float> Seed(int k)
    {
        if (_seed.Length != k) _seed = new float[k];
        return _seed;
    }

    private GradCamResult FromSeed(int classIndex)
    {
        Tensor a = Layer.Output;
        if (!IsSpatial(a.Shape) || a.N != 1)
            throw new InvalidOperationException($"layer '{Layer.Name}' holds {a.ShapeString}; Grad-CAM needs [1, C, H, W] with H x W > 1");
        Tensor g = _path.Run(_seed);
        (Channels, Height, Width) = (a.C, a.H, a.W);
        int p = Height * Width;
        if (_weights.Length < Channels) _weights = new float[Channels];
        if (_map.Length < p) _map = new float[p];
        if (_dense is null) return Reduce(a.Data, g.Data, Channels, Height, Width, classIndex, _weights, _map);

        // Through the Dense by its channel sums: weights[c] = (1/HW) sum_j dY[j] S[j, c].
        int outputs = _dense.OutFeatures;
        if (_dense.InFeatures != Channels * p)
            throw new InvalidOperationException($"'{Layer.Name}' holds {a.ShapeString}, but {_dense} reads {_dense.InFeatures} features");
        if (_channelSums.Length != outputs * Channels) _channelSums = ChannelSums(_dense.Weight.Value.Data, outputs, Channels, p);
        Span<float> weights = _weights.AsSpan(0, Channels);
        weights.Clear();
        ReadOnlySpan<float> dY = g.Data.AsSpan(0, outputs);
        for (int j = 0; j < outputs; j++)
            if (dY[j] != 0) TensorPrimitives.MultiplyAdd(_channelSums.AsSpan(j * Channels, Channels), dY[j], weights, weights);
        TensorPrimitives.Divide(weights, p, weights);
        return FromWeights(a.Data, weights, Channels, Height, Width, classIndex, _map);
    }

    /// <summary>S [outputs, C]: S[j, c] = sum of W[j, c*HW .. c*HW + HW - 1] (W is [outputs, C*HW], a Dense's weights).</summary>
    private static float[] ChannelSums(ReadOnlySpan<float> w, int outputs, int channels, int plane)
    {
        var sums = new float[outputs * channels];
        for (int j = 0; j < outputs; j++)
            for (int c = 0; c < channels; c++)
                sums[j * channels + c] = TensorPrimitives.Sum(w.Slice((j * channels + c) * plane, plane));
        return sums;
    }

    /// <summary>
    /// The Grad-CAM arithmetic on one sample: weights[c] = mean over the plane of dA[c], map = ReLU(sum_c weights[c] A[c])
    /// divided by its maximum (all zero when that is not positive and finite), then the peak and centroid.
    /// A and dA are [C, H, W]; weights holds C values, map H x W.
    /// </summary>
    public static GradCamResult Reduce(ReadOnlySpan<float> a, ReadOnlySpan<float> dA, int channels, int height, int width, int classIndex,
        Span<float> weights, Span<float> map)
    {
        int p = height * width;
        weights = weights[..channels];
        for (int c = 0; c < channels; c++) weights[c] = TensorPrimitives.Sum(dA.Slice(c * p, p)) / p;
        return FromWeights(a, weights, channels, height, width, classIndex, map);
    }

    /// <summary>The rest of <see cref="Reduce"/> once the channel weights are known: the map, its maximum, peak and centroid.</summary>
    private static GradCamResult FromWeights(ReadOnlySpan<float> a, ReadOnlySpan<float> weights, int channels, int height, int width, int classIndex,
        Span<float> map)
    {
        int p = height * width;
        map = map[..p];
        map.Clear();
        for (int c = 0; c < channels; c++) TensorPrimitives.MultiplyAdd(a.Slice(c * p, p), weights[c], map, map);
        float max = 0;
        for (int i = 0; i < p; i++)
        {
            float v = map[i] > 0 ? map[i] : 0; // ReLU; a NaN becomes 0 too
            map[i] = v;
            if (v > max) max = v;
        }
        if (!(max > 0) || !float.IsFinite(max))
        {
            map.Clear();
            return new GradCamResult(classIndex, height, width, 0, -1, -1, float.NaN, float.NaN);
        }
        TensorPrimitives.Divide(map, max, map);
        int peak = TensorPrimitives.IndexOfMax(map);
        double mass = 0, sx = 0, sy = 0;
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                double m = map[y * width + x];
                mass += m;
                sx += m * (x + 0.5);
                sy += m * (y + 0.5);
            }
        return new GradCamResult(classIndex, height, width, max, peak % width, peak / width, (float)(sx / mass / width), (float)(sy / mass / height));
    }

    /// <summary>
    /// The nodes Grad-CAM can explain for scores read at <paramref name="scoreNode"/>, in graph order (for stepping
    /// through layers): outputs [N, C, H, W] with H x W &gt; 1 that feed the score node and come at or after a
    /// convolution (so the preprocessing inside a graph is not listed). Each value is listed once: the nodes of a fused
    /// chain share one tensor, which is listed under the chain's last name (e.g. ResNet18's "ReLU393_Output_0").
    /// </summary>
    public static IReadOnlyList<Node> SpatialLayers(Graph graph, Node scoreNode)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(scoreNode);
        var nodes = graph.Nodes;
        if (scoreNode.Index >= nodes.Count || nodes[scoreNode.Index] != scoreNode) throw new ArgumentException($"{scoreNode} is not a node of this graph");
        var shapes = InferShapes(graph);
        if (shapes is null) return [];
        var feeds = new bool[nodes.Count];
        feeds[scoreNode.Index] = true;
        for (int k = scoreNode.Index; k >= 0; k--)
            if (feeds[k]) foreach (var i in nodes[k].Inputs) feeds[i.Index] = true;
        var afterConv = new bool[nodes.Count];
        foreach (var n in nodes)
            afterConv[n.Index] = n.Layer is Conv2d or FusedConv2d || n.Inputs.Any(i => afterConv[i.Index]);
        var list = new List<Node>();
        foreach (var n in nodes)
        {
            if (!feeds[n.Index] || !afterConv[n.Index] || n.Layer is null || !shapes.TryGetValue(n.Name, out var s) || !IsSpatial(s)) continue;
            bool aliasedLater = nodes.Any(m => m.Layer is OutputAlias && m.Inputs[0] == n && feeds[m.Index]);
            if (!aliasedLater) list.Add(n);
        }
        return list;
    }

    /// <summary>
    /// The layer Grad-CAM explains by default: the last of <see cref="SpatialLayers"/>, the last convolutional stage's
    /// output before the global pooling (ResNet18: the 512 x 7 x 7 "ReLU393_Output_0"; lenet: "pool2").
    /// </summary>
    /// <exception cref="ArgumentException">No spatial layer feeds the score node (not a convolutional network).</exception>
    public static Node DefaultLayer(Graph graph, Node scoreNode)
    {
        var layers = SpatialLayers(graph, scoreNode);
        return layers.Count > 0 ? layers[^1]
            : throw new ArgumentException($"no spatial layer (a convolutional feature map) feeds '{scoreNode.Name}': nothing for Grad-CAM to explain");
    }

    private static bool IsSpatial(ReadOnlySpan<int> shape) => shape.Length == 4 && (long)shape[2] * shape[3] > 1;

    /// <summary>Every node's output shape for a batch of 1, or null when the graph's declared inputs do not say enough.</summary>
    private static Dictionary<string, int[]>? InferShapes(Graph g)
    {
        try
        {
            return g.InferShapes(g.Inputs.Select(i => i.InputShape!.Select(d => d < 0 ? 1 : d).ToArray()).ToList());
        }
        catch (Exception e) when (e is ShapeException or ArgumentException or InvalidOperationException or KeyNotFoundException)
        {
            return null;
        }
    }
}
