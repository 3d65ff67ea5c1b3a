// Model: a graph plus what a user of it needs to know (class labels, input preprocessing, free metadata),
// saved and loaded as ONNX.
using System.Text.Json;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Onnx;

namespace CameraCnn.Engine.Models;

/// <summary>A runnable network with labels and preprocessing. ONNX is its file format.</summary>
public sealed class Model
{
    public const string LabelsKey = "camcnn.labels", PreprocessKey = "camcnn.preprocess", ArchKey = "camcnn.arch";

    public Model(Graph graph, IReadOnlyList<string>? labels = null, Preprocessing? preprocessing = null,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        Graph = graph;
        Labels = labels ?? [];
        Preprocessing = preprocessing;
        Metadata = metadata is null ? new() : new Dictionary<string, string>(metadata);
    }

    public Graph Graph { get; }
    public IReadOnlyList<string> Labels { get; }
    public Preprocessing? Preprocessing { get; }
    /// <summary>Other metadata_props (the labels and preprocessing keys are written from the properties).</summary>
    public Dictionary<string, string> Metadata { get; }

    /// <summary>The node training applies the loss to: the Softmax's input when the graph ends in one.</summary>
    public Node Logits => Graph.Output.Layer is Softmax ? Graph.Output.Inputs[0] : Graph.Output;

    /// <summary>Writes the model as ONNX, atomically (a crash mid-write leaves any old file intact).</summary>
    public void Save(string path) => OnnxExporter.Save(this, path);

    /// <summary>Loads an ONNX model; a bad file throws <see cref="InvalidDataException"/> or <see cref="NotSupportedException"/> with one clear line.</summary>
    public static Model Load(string path) => OnnxImporter.Load(path);

    internal Dictionary<string, string> AllMetadata()
    {
        var all = new Dictionary<string, string>(Metadata);
        if (Labels.Count > 0) all[LabelsKey] = JsonSerializer.Serialize(Labels);
        if (Preprocessing is not null) all[PreprocessKey] = Preprocessing.ToJson();
        return all;
    }

    internal static (string[] labels, Preprocessing? pre, Dictionary<string, string> rest) SplitMetadata(IEnumerable<KeyValuePair<string, string>> props)
    {
        string[] labels = [];
        Preprocessing? pre = null;
        var rest = new Dictionary<string, string>();
        foreach (var (k, v) in props)
        {
            if (k == LabelsKey)
            {
                try { labels = JsonSerializer.Deserialize<string[]>(v) ?? []; }
                catch (JsonException) { throw new InvalidDataException("bad class labels in the model metadata"); }
            }
            else if (k == PreprocessKey) pre = Preprocessing.FromJson(v);
            else rest[k] = v;
        }
        return (labels, pre, rest);
    }

    /// <summary>Builds an untrained model of a named architecture ending in softmax probabilities.</summary>
    public static Model Create(string arch, Preprocessing pre, IReadOnlyList<string> labels)
    {
        var g = Architectures.Build(arch, pre.Channels, pre.Height, pre.Width, labels.Count);
        var probs = g.Add(new Softmax { Name = "probabilities" }, g.Output);
        g.MarkOutputOnly(probs);
        return new Model(g, labels, pre, new Dictionary<string, string> { [ArchKey] = arch });
    }
}
