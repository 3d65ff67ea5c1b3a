// Loss: softmax cross-entropy on logits, fused so the gradient is the exact (p - onehot) / N.
namespace CameraCnn.Engine.Training;

/// <summary>Classification loss functions.</summary>
public static class Loss
{
    /// <summary>
    /// Mean cross-entropy of softmax(logits [N, K]) against integer labels; writes dLogits = (softmax - onehot) / N.
    /// Returns the mean loss and counts correct arg-max predictions.
    /// </summary>
    public static float SoftmaxCrossEntropy(Tensor logits, ReadOnlySpan<int> labels, Tensor dLogits, out int correct)
    {
        if (logits.Rank != 2) throw new ShapeException($"loss expects logits [N, K], got {logits.ShapeString}");
        int n = logits.Shape[0], k = logits.Shape[1];
        if (labels.Length != n) throw new ShapeException($"loss: {n} logits rows but {labels.Length} labels");
        dLogits.EnsureShape(logits.Shape);
        double total = 0;
        correct = 0;
        for (int i = 0; i < n; i++)
        {
            ReadOnlySpan<float> z = logits.Data.AsSpan(i * k, k);
            Span<float> d = dLogits.Data.AsSpan(i * k, k);
            int label = labels[i];
            if ((uint)label >= (uint)k) throw new ArgumentOutOfRangeException(nameof(labels), $"label {label} outside {k} classes");
            float max = System.Numerics.Tensors.TensorPrimitives.Max(z);
            int argmax = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(z);
            if (argmax == label) correct++;
            double sum = 0;
            for (int j = 0; j < k; j++) sum += Math.Exp(z[j] - max);
            double logSum = Math.Log(sum);
            total += logSum - (z[label] - max);
            for (int j = 0; j < k; j++) d[j] = (float)(Math.Exp(z[j] - max - logSum) / n);
            d[label] -= 1f / n;
        }
        return (float)(total / n);
    }
}
