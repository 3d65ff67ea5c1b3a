// ClassifierHead: a trained teach-mode head (dense layer + softmax, optionally one ReLU hidden layer before it) as an
// immutable snapshot of its weights. Predict runs it on one feature vector from any thread without allocating (the
// live inference thread calls it per frame); ToGraph rebuilds it as engine layers for export. Not a trainer: see
// HeadTrainer.
using System.Numerics.Tensors;
using CameraCnn.Engine.Layers;

namespace CameraCnn.Engine.Teach;

/// <summary>
/// y = softmax(W2 relu(W1 x + b1) + b2), or y = softmax(W1 x + b1) without a hidden layer; x is a backbone's feature
/// vector (e.g. ResNet18's 512 pooled features). Weights are copied in and never change, so one instance can be read by
/// any number of threads while a newer head is being trained; swap the reference to switch heads.
/// </summary>
public sealed class ClassifierHead
{
    /// <summary>Largest hidden layer <see cref="Predict"/> handles on the stack.</summary>
    public const int MaxHidden = 1024;

    private readonly float[] _w1, _b1;
    private readonly float[]? _w2, _b2;
    private readonly string[] _labels;
    private readonly int[] _classIndices;

    /// <param name="w1">[Out1, Dimension] row-major, Out1 = <paramref name="hidden"/> or the class count.</param>
    /// <param name="w2">[Classes, Hidden] when <paramref name="hidden"/> &gt; 0, else null.</param>
    /// <param name="classIndices">for each output, the caller's own class number (e.g. the teach data set's class
    /// index); null means 0, 1, 2...</param>
    public ClassifierHead(int dimension, int hidden, IReadOnlyList<string> labels, float[] w1, float[] b1, float[]? w2, float[]? b2,
        IReadOnlyList<int>? classIndices = null)
    {
        ArgumentNullException.ThrowIfNull(labels);
        int k = labels.Count;
        if (dimension <= 0) throw new ArgumentOutOfRangeException(nameof(dimension), "the feature dimension must be positive");
        if (hidden < 0 || hidden > MaxHidden) throw new ArgumentOutOfRangeException(nameof(hidden), $"hidden units must be in [0, {MaxHidden}]");
        if (k < 1) throw new ArgumentException("a head needs at least one class", nameof(labels));
        int out1 = hidden > 0 ? hidden : k;
        Check(w1, (long)out1 * dimension, "w1");
        Check(b1, out1, "b1");
        if (hidden > 0)
        {
            Check(w2 ?? throw new ArgumentNullException(nameof(w2)), (long)k * hidden, "w2");
            Check(b2 ?? throw new ArgumentNullException(nameof(b2)), k, "b2");
        }
        else if (w2 is not null || b2 is not null) throw new ArgumentException("w2/b2 are given but there is no hidden layer");
        if (classIndices is not null && classIndices.Count != k) throw new ArgumentException($"{classIndices.Count} class indices for {k} labels", nameof(classIndices));

        Dimension = dimension;
        Hidden = hidden;
        _labels = labels.ToArray();
        _classIndices = classIndices?.ToArray() ?? Enumerable.Range(0, k).ToArray();
        _w1 = (float[])w1.Clone();
        _b1 = (float[])b1.Clone();
        _w2 = (float[]?)w2?.Clone();
        _b2 = (float[]?)b2?.Clone();
    }

    private static void Check(float[] a, long length, string name)
    {
        ArgumentNullException.ThrowIfNull(a, name);
        if (a.Length != length) throw new ArgumentException($"{name} has {a.Length} values, expected {length}", name);
        foreach (float v in a)
            if (!float.IsFinite(v)) throw new ArgumentException($"{name} holds a non-finite value", name);
    }

    /// <summary>Length of the feature vector the head reads.</summary>
    public int Dimension { get; }
    /// <summary>Hidden ReLU units, 0 for a plain dense + softmax head.</summary>
    public int Hidden { get; }
    public int Classes => _labels.Length;
    public IReadOnlyList<string> Labels => _labels;
    /// <summary>For each output, the caller's class number (see the constructor).</summary>
    public IReadOnlyList<int> ClassIndices => _classIndices;

    /// <summary>
    /// Class probabilities of one feature vector, written to <paramref name="probabilities"/> (at least
    /// <see cref="Classes"/> long). Returns the arg-max output. Thread-safe; allocates nothing.
    /// </summary>
    /// <exception cref="ArgumentException">The features are not <see cref="Dimension"/> long, or the destination is too short.</exception>
    public int Predict(ReadOnlySpan<float> features, Span<float> probabilities)
    {
        if (features.Length != Dimension)
            throw new ArgumentException($"the head reads {Dimension} features, got {features.Length}", nameof(features));
        if (probabilities.Length < Classes)
            throw new ArgumentException($"the destination holds {probabilities.Length} values, the head has {Classes} classes", nameof(probabilities));
        int k = Classes;
        Span<float> logits = probabilities[..k];
        if (Hidden == 0)
        {
            Affine(_w1, _b1, features, logits);
        }
        else
        {
            Span<float> h = stackalloc float[Hidden]; // at most MaxHidden floats (4 KB)
            Affine(_w1, _b1, features, h);
            TensorPrimitives.Max(h, 0f, h); // ReLU
            Affine(_w2!, _b2!, h, logits);
        }
        // Softmax with the maximum subtracted (TensorPrimitives.SoftMax does not), as the Softmax layer does.
        float max = TensorPrimitives.Max(logits);
        TensorPrimitives.Subtract(logits, max, logits);
        TensorPrimitives.SoftMax(logits, logits);
        return TensorPrimitives.IndexOfMax(logits);
    }

    /// <summary>
    /// The gradient of one output's logit (before the softmax) with respect to the features, what Grad-CAM sends back
    /// into the backbone, written to <paramref name="dFeatures"/> (<see cref="Dimension"/> long): row
    /// <paramref name="output"/> of W1 without a hidden layer, W1^T (relu'(h) * W2[output, :]) with one (h = W1 x + b1,
    /// relu'(0) = 0 as in the ReLU layer's backward). Thread-safe; allocates nothing.
    /// </summary>
    /// <exception cref="ArgumentException">Wrong lengths, or <paramref name="output"/> is not in [0, <see cref="Classes"/>).</exception>
    public void LogitGradient(ReadOnlySpan<float> features, int output, Span<float> dFeatures)
    {
        if (features.Length != Dimension)
            throw new ArgumentException($"the head reads {Dimension} features, got {features.Length}", nameof(features));
        if (dFeatures.Length != Dimension)
            throw new ArgumentException($"the gradient has {Dimension} values, the destination holds {dFeatures.Length}", nameof(dFeatures));
        if ((uint)output >= (uint)Classes) throw new ArgumentException($"output {output} is not in [0, {Classes})", nameof(output));
        int n = Dimension;
        if (Hidden == 0)
        {
            _w1.AsSpan(output * n, n).CopyTo(dFeatures);
            return;
        }
        Span<float> h = stackalloc float[Hidden]; // at most MaxHidden floats (4 KB)
        Affine(_w1, _b1, features, h);
        dFeatures.Clear();
        ReadOnlySpan<float> w2 = _w2.AsSpan(output * Hidden, Hidden);
        for (int j = 0; j < h.Length; j++)
            if (h[j] > 0) TensorPrimitives.MultiplyAdd(_w1.AsSpan(j * n, n), w2[j], dFeatures, dFeatures);
    }

    /// <summary>y[o] = b[o] + W[o, :] . x</summary>
    private static void Affine(float[] w, float[] b, ReadOnlySpan<float> x, Span<float> y)
    {
        int n = x.Length;
        for (int o = 0; o < y.Length; o++) y[o] = b[o] + TensorPrimitives.Dot(w.AsSpan(o * n, n), x);
    }

    /// <summary>
    /// The head as engine layers: input "features" of <paramref name="featureShape"/> (batch first; use the backbone's
    /// output shape, e.g. [-1, 512, 1, 1], so the graph can be chained after it) -> Flatten -> Dense [-> ReLU -> Dense]
    /// -> Softmax "probabilities". Layer names start with <paramref name="prefix"/>.
    /// </summary>
    public Graph ToGraph(int[] featureShape, string prefix = "teach_")
    {
        ArgumentNullException.ThrowIfNull(featureShape);
        if (featureShape.Length < 2) throw new ArgumentException("the feature shape needs a batch and at least one more dimension", nameof(featureShape));
        long per = 1;
        foreach (int d in featureShape.AsSpan(1)) per *= d;
        if (per != Dimension) throw new ShapeException($"features {Tensor.Format(featureShape)} hold {per} values per sample, the head reads {Dimension}");
        var g = new Graph();
        var x = g.AddInput("features", featureShape);
        var flat = featureShape.Length == 2 ? x : g.Add(new Flatten { Name = prefix + "flatten" }, x);
        Node logits;
        if (Hidden == 0)
        {
            logits = g.Add(Dense(Dimension, Classes, _w1, _b1, prefix + "fc"), flat);
        }
        else
        {
            var h = g.Add(Dense(Dimension, Hidden, _w1, _b1, prefix + "hidden"), flat);
            var r = g.Add(new ReLU { Name = prefix + "relu" }, h);
            logits = g.Add(Dense(Hidden, Classes, _w2!, _b2!, prefix + "fc"), r);
        }
        var probs = g.Add(new Softmax { Name = "probabilities" }, logits);
        g.MarkOutputOnly(probs);
        return g;
    }

    private static Dense Dense(int inF, int outF, float[] w, float[] b, string name)
    {
        var d = new Dense(inF, outF) { Name = name };
        w.CopyTo(d.Weight.Value.Data, 0);
        b.CopyTo(d.Bias!.Value.Data, 0);
        return d;
    }

    /// <summary>
    /// Reads a head out of dense layers: <paramref name="first"/> alone (dense + softmax) or <paramref name="first"/>,
    /// ReLU, <paramref name="second"/>. The weights are copied.
    /// </summary>
    public static ClassifierHead FromDense(Dense first, Dense? second, IReadOnlyList<string> labels, IReadOnlyList<int>? classIndices = null)
    {
        ArgumentNullException.ThrowIfNull(first);
        float[] b1 = first.Bias?.Value.Data ?? new float[first.OutFeatures];
        if (second is null)
            return new ClassifierHead(first.InFeatures, 0, labels, first.Weight.Value.Data, b1, null, null, classIndices);
        if (second.InFeatures != first.OutFeatures)
            throw new ShapeException($"dense layers {first.InFeatures}->{first.OutFeatures} and {second.InFeatures}->{second.OutFeatures} do not chain");
        float[] b2 = second.Bias?.Value.Data ?? new float[second.OutFeatures];
        return new ClassifierHead(first.InFeatures, first.OutFeatures, labels, first.Weight.Value.Data, b1, second.Weight.Value.Data, b2, classIndices);
    }

    /// <summary>A copy with other labels (and, if given, class indices) and the same weights, e.g. after a class was renamed.</summary>
    public ClassifierHead WithLabels(IReadOnlyList<string> labels, IReadOnlyList<int>? classIndices = null) =>
        new(Dimension, Hidden, labels, _w1, _b1, _w2, _b2, classIndices ?? _classIndices);

    public override string ToString() =>
        Hidden == 0 ? $"head {Dimension} -> {Classes} (dense + softmax)" : $"head {Dimension} -> {Hidden} (ReLU) -> {Classes} (dense + softmax)";
}
