// Softmax: probabilities over the last axis of [N, K] (ONNX Softmax axis=1 for 2-D); backward is the Jacobian
// product. Training uses SoftmaxCrossEntropy on the logits instead, which is exact and cheaper.
using System.Numerics.Tensors;

namespace CameraCnn.Engine.Layers;

/// <summary>Row-wise softmax, y_i = e^{z_i} / sum_j e^{z_j}, computed with the max subtracted.</summary>
public sealed class Softmax : Layer
{
    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs, 1);
        return (int[])ExpectRank(inputs[0], 2).Clone();
    }

    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output)
    {
        int n = inputs[0].Shape[0], k = inputs[0].Shape[1];
        if (k == 0) return;
        for (int i = 0; i < n; i++)
        {
            // TensorPrimitives.SoftMax does not subtract the maximum; without it e^z overflows above z ~ 88.
            ReadOnlySpan<float> z = inputs[0].Data.AsSpan(i * k, k);
            Span<float> y = output.Data.AsSpan(i * k, k);
            TensorPrimitives.Subtract(z, TensorPrimitives.Max(z), y);
            TensorPrimitives.SoftMax(y, y);
        }
    }

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        if (dInputs[0] is not { } dX) return;
        int n = output.Shape[0], k = output.Shape[1];
        for (int i = 0; i < n; i++)
        {
            ReadOnlySpan<float> y = output.Data.AsSpan(i * k, k), dy = dOutput.Data.AsSpan(i * k, k);
            Span<float> dx = dX.Data.AsSpan(i * k, k);
            float dot = TensorPrimitives.Dot(y, dy);
            for (int j = 0; j < k; j++) dx[j] += y[j] * (dy[j] - dot); // dz_j = y_j (dy_j - sum_i y_i dy_i)
        }
    }
}
