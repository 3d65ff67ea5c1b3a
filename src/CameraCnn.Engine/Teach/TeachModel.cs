// TeachModel: one model file out of a backbone and a trained head (the backbone's graph chained with the head's, labels
// and the backbone's preprocessing in the metadata, plus where the features are), and the way back: the head and the
// backbone read out of such a file. What a saved teach-mode model is; it does not train or save anything itself.
using System.Globalization;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Models;

namespace CameraCnn.Engine.Teach;

/// <summary>Backbone + <see cref="ClassifierHead"/> as one <see cref="Model"/> (ONNX: one file) and back.</summary>
public static class TeachModel
{
    /// <summary>Metadata: the node whose output is the feature vector the head reads.</summary>
    public const string FeaturesKey = "camcnn.teach.features";
    /// <summary>Metadata: the backbone's name (e.g. "resnet18"), for reopening teach mode on the same features.</summary>
    public const string BackboneKey = "camcnn.teach.backbone";
    /// <summary>Metadata: the confidence below which the live view says "unknown" (invariant-culture float).</summary>
    public const string ThresholdKey = "camcnn.teach.threshold";
    /// <summary>Metadata: a one-line description of the head.</summary>
    public const string HeadKey = "camcnn.teach.head";
    public const string Arch = "teach";

    /// <summary>
    /// The backbone's graph followed by <paramref name="head"/>: input as the backbone's, output "probabilities" over the
    /// head's labels; the backbone's preprocessing and metadata are kept and the teach keys added. The backbone's
    /// layers move into the new graph: do not use <paramref name="backbone"/> afterwards.
    /// </summary>
    /// <exception cref="ShapeException">The backbone's output does not hold <see cref="ClassifierHead.Dimension"/> values per sample.</exception>
    public static Model Compose(Model backbone, ClassifierHead head, string backboneName, float? threshold = null)
    {
        ArgumentNullException.ThrowIfNull(backbone);
        ArgumentNullException.ThrowIfNull(head);
        var g = backbone.Graph;
        if (g.Inputs.Count != 1 || g.Outputs.Count != 1)
            throw new ArgumentException($"a backbone needs one input and one output, this one has {g.Inputs.Count} and {g.Outputs.Count}");
        string featureNode = g.Output.Name;
        int[] shape = OutputShape(g);
        shape[0] = -1;
        var chained = GraphChain.Chain(g, head.ToGraph(shape));
        var metadata = new Dictionary<string, string>(backbone.Metadata)
        {
            [Model.ArchKey] = Arch,
            [FeaturesKey] = featureNode,
            [BackboneKey] = backboneName,
            [HeadKey] = head.ToString(),
        };
        if (threshold is { } t) metadata[ThresholdKey] = t.ToString("R", CultureInfo.InvariantCulture);
        return new Model(chained, head.Labels, backbone.Preprocessing, metadata);
    }

    /// <summary>The output shape of a single-input graph for batch 1 (unknown input sizes taken as 1).</summary>
    public static int[] OutputShape(Graph g)
    {
        var inputs = g.Inputs.Select(i => i.InputShape!.Select(d => d < 0 ? 1 : d).ToArray()).ToList();
        return (int[])g.InferShapes(inputs)[g.Output.Name].Clone();
    }

    /// <summary>
    /// The node a head reads: the <see cref="FeaturesKey"/> node of a teach model, else the output of the graph (a plain
    /// backbone such as resnet18).
    /// </summary>
    /// <exception cref="InvalidDataException">The metadata names a node the graph does not have.</exception>
    public static Node FeatureNode(Model model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (!model.Metadata.TryGetValue(FeaturesKey, out string? name)) return model.Graph.Output;
        return model.Graph.TryGetNode(name, out var node) ? node
            : throw new InvalidDataException($"the model's {FeaturesKey} names node '{name}', which it does not have");
    }

    /// <summary>True when the model was written by <see cref="Compose"/> (it carries <see cref="FeaturesKey"/>).</summary>
    public static bool IsTeachModel(Model model) => model.Metadata.ContainsKey(FeaturesKey);

    /// <summary>The stored confidence threshold, or null.</summary>
    public static float? Threshold(Model model) =>
        model.Metadata.TryGetValue(ThresholdKey, out var s) && float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out float t) && t is >= 0 and <= 1
            ? t : null;

    /// <summary>
    /// The head of a teach model (copied weights; the model is not changed): the dense layer(s) after the feature node,
    /// labelled with the model's labels. Null for a model without the teach metadata.
    /// </summary>
    /// <exception cref="InvalidDataException">The part after the feature node is not dense [+ ReLU + dense] + softmax over the labels.</exception>
    public static ClassifierHead? ReadHead(Model model)
    {
        if (!IsTeachModel(model)) return null;
        var feature = FeatureNode(model);
        var after = model.Graph.Nodes.Where(n => n.Index > feature.Index && n.Layer is not null).Select(n => n.Layer!).ToArray();
        var dense = after.OfType<Dense>().ToArray();
        bool shapeOk = dense.Length is 1 or 2
            && after.All(l => l is Dense or Flatten or ReLU or Softmax)
            && after.OfType<ReLU>().Count() == dense.Length - 1
            && dense[^1].OutFeatures == model.Labels.Count;
        if (!shapeOk)
            throw new InvalidDataException($"the layers after '{feature.Name}' are not a teach head (dense [+ ReLU + dense] + softmax over {model.Labels.Count} labels)");
        try
        {
            return ClassifierHead.FromDense(dense[0], dense.Length > 1 ? dense[1] : null, model.Labels);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"the teach head in the model is unusable: {e.Message}");
        }
    }

    /// <summary>
    /// The backbone part of a teach model (every node up to the feature node) as its own model with the same
    /// preprocessing. The layers move: do not use <paramref name="model"/> afterwards. A model without the teach
    /// metadata is returned as it is.
    /// </summary>
    public static Model ExtractBackbone(Model model)
    {
        if (!IsTeachModel(model)) return model;
        var g = GraphChain.Truncate(model.Graph, FeatureNode(model));
        var metadata = new Dictionary<string, string>(model.Metadata);
        foreach (var key in new[] { FeaturesKey, BackboneKey, ThresholdKey, HeadKey, Model.ArchKey }) metadata.Remove(key);
        return new Model(g, [], model.Preprocessing, metadata);
    }
}
