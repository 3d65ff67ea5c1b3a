// LiveNetwork: everything the inference worker runs, as one immutable object: the (fused) graph, the layers it can show,
// the teach feature node and head, the labels the probabilities are over, the threshold, and where Grad-CAM reads the
// class scores and which layers it can explain. A new head (or a backbone fine-tuned in teach mode, re-fused from its new
// weights) is a new LiveNetwork with a higher Version, handed to the worker with one reference write; the worker picks
// it up at the start of a frame, so no frame is ever half one network and half another, and a head only ever meets the
// backbone it was trained with (Backbone says which that is).
using CameraCnn.App.Teach;
using CameraCnn.Engine;
using CameraCnn.Engine.Explain;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Optimization;
using CameraCnn.Engine.Teach;

namespace CameraCnn.App.Live;

/// <summary>A layer whose [1, C, H, W] output can be shown as feature maps (a name and shape, the same in every version).</summary>
internal sealed record LayerTap(int Index, string Name, Type LayerType, int C, int H, int W)
{
    /// <summary>"conv1_relu  ReLU  16x32x32", made once.</summary>
    public string Label { get; } = $"{Name}  {LayerType.Name}  {C}x{H}x{W}";
}

/// <summary>One version of the network the live pipeline runs. Immutable; build new ones with <see cref="WithHead"/>.</summary>
internal sealed class LiveNetwork
{
    private static long _versions;

    private LiveNetwork(Graph graph, IReadOnlyList<LayerTap> taps, Node[] tapNodes, Node? featureNode, int featureLength,
        int[] outputShape, bool modelIsClassifier, IReadOnlyList<string> modelLabels, HeatLayers heat)
    {
        Graph = graph;
        Heat = heat;
        Taps = taps;
        TapNodes = tapNodes;
        FeatureNode = featureNode;
        FeatureLength = featureLength;
        OutputShape = outputShape;
        OutputLength = (int)Tensor.CheckedLength(outputShape);
        ApplySoftmax = graph.Output.Layer is not Softmax;
        ModelIsClassifier = modelIsClassifier;
        ModelLabels = modelLabels;
        Labels = modelIsClassifier ? modelLabels : [];
        Note = $"no classifier head; output {Tensor.Format(outputShape)}";
        Version = Interlocked.Increment(ref _versions);
    }

    private LiveNetwork(LiveNetwork from, ClassifierHead? head, float threshold, IReadOnlyList<string> labels, string? note)
        : this(from.Graph, from.Taps, from.TapNodes, from.FeatureNode, from.FeatureLength, from.OutputShape, from.ModelIsClassifier, from.ModelLabels, from.Heat)
    {
        Head = head;
        Threshold = threshold;
        Labels = labels;
        Note = note;
        IsTeach = true;
        Backbone = from.Backbone;
    }

    /// <summary>The graph the worker runs (fused, or as loaded).</summary>
    public Graph Graph { get; }
    /// <summary>The layers that can be shown as feature maps, in graph order.</summary>
    public IReadOnlyList<LayerTap> Taps { get; }
    /// <summary>This version's node of each tap (a re-fused graph has new nodes under the same names).</summary>
    public Node[] TapNodes { get; }
    /// <summary>The node whose output a teach head classifies (and recording keeps); null outside teach mode.</summary>
    public Node? FeatureNode { get; }
    public int FeatureLength { get; }
    public int[] OutputShape { get; }
    public int OutputLength { get; }
    /// <summary>The graph ends in logits, not a Softmax: the worker applies one.</summary>
    public bool ApplySoftmax { get; }
    /// <summary>The graph's own output is one probability per labelled class (a classifier, not a backbone).</summary>
    public bool ModelIsClassifier { get; }
    public IReadOnlyList<string> ModelLabels { get; }
    /// <summary>Teach mode: the classes are the head's (none until one is trained).</summary>
    public bool IsTeach { get; }
    /// <summary>The teach head the worker applies to the feature node's output; null without one.</summary>
    public ClassifierHead? Head { get; }
    /// <summary>Confidence under which a head's verdict is "unknown".</summary>
    public float Threshold { get; }
    /// <summary>What the probabilities are over: the head's classes, else the model's; empty without classes.</summary>
    public IReadOnlyList<string> Labels { get; }
    public int Classes => Labels.Count;
    /// <summary>Why there are no classes (said instead of bars), or null.</summary>
    public string? Note { get; }
    /// <summary>Goes up with every new network: a result's labels changed when its version did.</summary>
    public long Version { get; }
    /// <summary>Grad-CAM's score node and the layers it can explain, found for this graph by <see cref="Create"/> (the
    /// same for every head on it; a network on another graph needs its own).</summary>
    public HeatLayers Heat { get; }
    /// <summary>Teach mode: the backbone this graph runs (the session's, or one fine-tuned since), whose features its head
    /// was trained on and which recorded frames' features come from; null outside teach mode.</summary>
    public BackboneSource? Backbone { get; private init; }

    /// <summary>The network of a model as the live view runs it.</summary>
    /// <param name="fuse">run the fused inference graph (conv + batch norm + add + ReLU in one layer, pre-packed weights;
    /// what `camcnn bench` times); a fused conv's feature maps are then its chain's final activation.</param>
    /// <param name="teachFeatureNode">teach mode: the model's node whose output a head classifies; null: not teach mode.</param>
    /// <param name="backbone">teach mode: which backbone <paramref name="model"/> is (<see cref="Backbone"/>).</param>
    public static LiveNetwork Create(Model model, Preprocessing pre, bool fuse, Node? teachFeatureNode, BackboneSource? backbone = null)
    {
        var graph = fuse ? InferenceFusion.Fuse(model.Graph) : model.Graph;
        var shapes = graph.InferShapes([[1, pre.Channels, pre.Height, pre.Width]]);
        // Every [1, C, H, W] node output except batch norm (at inference a per-channel affine map of the conv before
        // it, which per-channel normalisation would draw identically), dropout (the identity at inference) and the
        // aliases fusion leaves for absorbed layers (the same tensor as their fused conv).
        var taps = new List<LayerTap>();
        var nodes = new List<Node>();
        foreach (var node in graph.Nodes)
            if (node.Layer is not (null or BatchNorm2d or Dropout or OutputAlias) && shapes[node.Name] is { Length: 4 } s && s[0] == 1 && s[1] * s[2] * s[3] > 0)
            {
                taps.Add(new LayerTap(taps.Count, node.Name, node.Layer.GetType(), s[1], s[2], s[3]));
                nodes.Add(node);
            }
        int[] outShape = shapes[graph.Output.Name];
        bool classifier = model.Labels.Count > 0 && model.Labels.Count == Tensor.CheckedLength(outShape);
        Node? feature = null;
        int featureLength = 0;
        if (teachFeatureNode is not null)
        {
            // The fused graph keeps the names of the nodes it keeps (absorbed ones become aliases of their fused conv).
            feature = teachFeatureNode == model.Graph.Output ? graph.Output : graph.Nodes.FirstOrDefault(n => n.Name == teachFeatureNode.Name);
            if (feature is not null && shapes.TryGetValue(feature.Name, out var fs)) featureLength = (int)Tensor.CheckedLength(fs);
            else feature = null;
        }
        // Grad-CAM reads a teach head's features, or a classifier's logits (the Softmax's input when the graph ends in one).
        Node? score = teachFeatureNode is not null ? feature
            : classifier ? (graph.Output.Layer is Softmax ? graph.Output.Inputs[0] : graph.Output) : null;
        return new LiveNetwork(graph, taps, nodes.ToArray(), feature, featureLength, outShape, classifier, model.Labels, HeatLayers.Of(graph, score, shapes))
        {
            Backbone = backbone,
        };
    }

    /// <summary>
    /// Teach mode: this network with <paramref name="head"/> as its classifier (null: none yet). A head for another
    /// feature length is not applied; <see cref="Note"/> says why.
    /// </summary>
    public LiveNetwork WithHead(ClassifierHead? head, float threshold)
    {
        if (head is null) return new LiveNetwork(this, null, threshold, [], "no head yet: hold 1-9 to record classes (a head trains when a key is released)");
        if (FeatureNode is null || head.Dimension != FeatureLength)
            return new LiveNetwork(this, null, threshold, [], $"the head expects {head.Dimension} features; this backbone gives {FeatureLength}");
        return new LiveNetwork(this, head, threshold, head.Labels, null);
    }
}

/// <summary>
/// Where Grad-CAM reads a network's class scores (<see cref="ScoreNode"/>: the logits, or the features a teach head reads;
/// null without either) and the spatial layers it can explain there, in graph order (the last is the default), with the
/// largest map among them (the live window's heatmap texture and the results' map buffers are sized once from it).
/// </summary>
internal sealed class HeatLayers
{
    private HeatLayers(Node? scoreNode, IReadOnlyList<Node> layers, int maxWidth, int maxHeight)
    {
        ScoreNode = scoreNode;
        Layers = layers;
        MaxWidth = maxWidth;
        MaxHeight = maxHeight;
    }

    public Node? ScoreNode { get; }
    public IReadOnlyList<Node> Layers { get; }
    public int Count => Layers.Count;
    public int MaxWidth { get; }
    public int MaxHeight { get; }

    /// <summary>The layer <paramref name="fromEnd"/> steps before the default one (0: the default; wraps around).</summary>
    public int IndexFromEnd(int fromEnd) => Count == 0 ? -1 : Count - 1 - (fromEnd % Count + Count) % Count;

    public static HeatLayers Of(Graph graph, Node? scoreNode, IReadOnlyDictionary<string, int[]> shapes)
    {
        var layers = scoreNode is null ? [] : GradCam.SpatialLayers(graph, scoreNode);
        int w = 1, h = 1;
        foreach (var n in layers)
            if (shapes.TryGetValue(n.Name, out var s))
            {
                w = Math.Max(w, s[3]);
                h = Math.Max(h, s[2]);
            }
        return new HeatLayers(scoreNode, layers, w, h);
    }
}
