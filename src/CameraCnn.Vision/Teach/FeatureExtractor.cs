// FeatureExtractor: a backbone's feature vector of one frame: the model's own preprocessing
// (FramePreprocessor: crop/resize, colour order, mean/std) then a forward of its fused inference graph, read at the
// feature node (a plain backbone's output, or the node a teach model's head reads). One instance per thread.
using CameraCnn.Engine;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Optimization;
using CameraCnn.Engine.Teach;
using OpenCvSharp;

namespace CameraCnn.Vision.Teach;

/// <summary>Runs a backbone on frames and returns its features. Not thread-safe; reuses its buffers.</summary>
public sealed class FeatureExtractor : IDisposable
{
    private readonly FramePreprocessor _prep;
    private readonly Graph _graph;
    private readonly Node _feature;
    private readonly Tensor _input;

    /// <param name="backbone">a model with one input and its preprocessing in the metadata (ResNet18 from the
    /// catalog, or a teach model: its head is run too but only the features are read).</param>
    /// <param name="fuse">run the fused inference graph (conv + batch norm + ReLU in one layer; what the live view runs).</param>
    /// <exception cref="ArgumentException">The model has not one input, or no preprocessing.</exception>
    public FeatureExtractor(Model backbone, bool fuse = true)
    {
        ArgumentNullException.ThrowIfNull(backbone);
        Backbone = backbone;
        if (backbone.Graph.Inputs.Count != 1) throw new ArgumentException($"a backbone needs one input, this one has {backbone.Graph.Inputs.Count}");
        var pre = backbone.Preprocessing ?? throw new ArgumentException("the backbone has no preprocessing metadata (input size, colour order, mean/std)");
        string featureName = TeachModel.FeatureNode(backbone).Name;
        _graph = fuse ? InferenceFusion.Fuse(backbone.Graph) : backbone.Graph;
        _feature = _graph[featureName];
        _prep = new FramePreprocessor(pre);
        _input = _prep.CreateInput();
        var shapes = _graph.InferShapes([_input.Shape]);
        FeatureShape = shapes[featureName];
        Dimension = (int)(Tensor.CheckedLength(FeatureShape) / Math.Max(1, FeatureShape[0]));
    }

    public Model Backbone { get; }
    public Preprocessing Preprocessing => _prep.Preprocessing;
    /// <summary>The feature node's output shape for one frame, e.g. [1, 512, 1, 1].</summary>
    public int[] FeatureShape { get; }
    /// <summary>Values per feature vector, e.g. 512.</summary>
    public int Dimension { get; }

    /// <summary>Features of an 8-bit BGR, BGRA or gray frame into <paramref name="features"/> (<see cref="Dimension"/> long).</summary>
    /// <exception cref="ArgumentException">Empty or unsupported frame, or a wrong destination length.</exception>
    public void Extract(Mat frame, Span<float> features)
    {
        if (features.Length != Dimension) throw new ArgumentException($"destination has {features.Length} values, the features have {Dimension}", nameof(features));
        _prep.Process(frame, _input);
        _graph.Forward(_input);
        _feature.Output.Data.AsSpan(0, Dimension).CopyTo(features);
    }

    public void Dispose() => _prep.Dispose();
}
