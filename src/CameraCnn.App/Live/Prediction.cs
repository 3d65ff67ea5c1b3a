// Prediction: the verdict on one frame, the same for the window's bars, `run --headless` and TeachSession.Classify: the
// top output, its class and label, its confidence, and "unknown" when a teach head is less sure than its threshold.
using CameraCnn.Engine.Teach;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace CameraCnn.App.Live;

/// <summary>The live verdict on one frame.</summary>
/// <param name="Output">The arg-max output, -1 without classes (no head, or a backbone's features).</param>
/// <param name="ClassIndex">That output's class number (a teach head's data set class, key - 1), -1 without classes or when unknown.</param>
/// <param name="Label">The class name, or "unknown" below the threshold, or "" without classes.</param>
/// <param name="IsUnknown">True without classes or when <paramref name="Confidence"/> is below the threshold.</param>
public readonly record struct Prediction(int Output, int ClassIndex, string Label, float Confidence, bool IsUnknown)
{
    public const string UnknownLabel = "unknown";

    public static readonly Prediction None = new(-1, -1, "", 0f, true);

    /// <summary>
    /// A teach head's verdict on one feature vector, with the class probabilities written to
    /// <paramref name="probabilities"/> (at least <see cref="ClassifierHead.Classes"/> long). Allocation-free.
    /// </summary>
    public static Prediction Of(ClassifierHead head, float threshold, ReadOnlySpan<float> features, Span<float> probabilities)
    {
        int top = head.Predict(features, probabilities);
        float confidence = probabilities[top];
        return confidence < threshold
            ? new Prediction(top, -1, UnknownLabel, confidence, true)
            : new Prediction(top, head.ClassIndices[top], head.Labels[top], confidence, false);
    }

    /// <summary>A classifier's arg-max over its probabilities (no threshold: the model's own classes).</summary>
    public static Prediction Of(ReadOnlySpan<float> probabilities, IReadOnlyList<string> labels)
    {
        if (probabilities.IsEmpty) return None;
        int top = TensorPrimitives.IndexOfMax(probabilities);
        return new Prediction(top, top, labels[top], probabilities[top], false);
    }
}
