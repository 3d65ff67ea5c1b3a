// Softmax: probabilities along one axis (by default the last, the rows of [N, K] logits; ONNX Softmax); backward is
// the Jacobian product. Training uses SoftmaxCrossEntropy on the logits instead, which is exact and cheaper.
using System.Numerics.Tensors;

namespace CameraCnn.Engine.Layers;

/// <summary>
/// y_i = e^{z_i} / sum_j e^{z_j} along <see cref="Axis"/> (negative counts from the end), computed with the max
/// subtracted. With <see cref="Coerce2d"/> (ONNX Softmax before opset 13) the input is read as the 2-D
/// [prod(d &lt; axis), prod(d &gt;= axis)] and each row is normalised as a whole.
/// </summary>
public sealed class Softmax(int axis = -1, bool coerce2d = false) : Layer
{
    public int Axis { get; } = axis;
    public bool Coerce2d { get; } = coerce2d;

    private float[] _max = [], _sum = [];

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs, 1);
        _ = Layout(inputs[0]);
        return (int[])inputs[0].Clone();
    }

    /// <summary>The input as [Outer, K, Inner] with the softmax over K.</summary>
    private (int Outer, int K, int Inner) Layout(int[] x)
    {
        int rank = x.Length;
        if (Axis < -rank || Axis >= rank) throw ShapeError($"axis {Axis} is out of range for {Tensor.Format(x)}");
        int axis = Axis < 0 ? Axis + rank : Axis;
        int outer = 1, k = 1, inner = 1;
        for (int d = 0; d < rank; d++)
            if (d < axis) outer *= x[d];
            else if (d == axis || Coerce2d) k *= x[d];
            else inner *= x[d];
        return (outer, k, inner);
    }

    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output)
    {
        var (n, k, inner) = Layout(inputs[0].Shape);
        if (k == 0) return;
        if (inner > 1)
        {
            ForwardStrided(inputs[0].Data, output.Data, n, k, inner);
            return;
        }
        for (int i = 0; i < n; i++)
        {
            // TensorPrimitives.SoftMax does not subtract the maximum; without it e^z overflows above z ~ 88.
            ReadOnlySpan<float> z = inputs[0].Data.AsSpan(i * k, k);
            Span<float> y = output.Data.AsSpan(i * k, k);
            TensorPrimitives.Subtract(z, TensorPrimitives.Max(z), y);
            TensorPrimitives.SoftMax(y, y);
        }
    }

    /// <summary>Softmax over the middle axis of [n, k, inner]: whole inner rows at a time, so every step is a vector op.</summary>
    private void ForwardStrided(float[] x, float[] y, int n, int k, int inner)
    {
        if (_max.Length < inner) { _max = new float[inner]; _sum = new float[inner]; }
        Span<float> max = _max.AsSpan(0, inner), sum = _sum.AsSpan(0, inner);
        for (int i = 0; i < n; i++)
        {
            int b = i * k * inner;
            x.AsSpan(b, inner).CopyTo(max);
            for (int j = 1; j < k; j++) TensorPrimitives.Max(max, x.AsSpan(b + j * inner, inner), max);
            sum.Clear();
            for (int j = 0; j < k; j++)
            {
                Span<float> row = y.AsSpan(b + j * inner, inner);
                TensorPrimitives.Subtract(x.AsSpan(b + j * inner, inner), max, row);
                TensorPrimitives.Exp(row, row);
                TensorPrimitives.Add(sum, row, sum);
            }
            for (int j = 0; j < k; j++)
            {
                Span<float> row = y.AsSpan(b + j * inner, inner);
                TensorPrimitives.Divide(row, sum, row);
            }
        }
    }

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        if (dInputs[0] is not { } dX) return;
        var (n, k, inner) = Layout(output.Shape);
        // dz_j = y_j (dy_j - sum_i y_i dy_i), the sum running along the softmax axis.
        if (inner == 1)
        {
            for (int i = 0; i < n; i++)
            {
                ReadOnlySpan<float> y = output.Data.AsSpan(i * k, k), dy = dOutput.Data.AsSpan(i * k, k);
                Span<float> dx = dX.Data.AsSpan(i * k, k);
                float dot = TensorPrimitives.Dot(y, dy);
                for (int j = 0; j < k; j++) dx[j] += y[j] * (dy[j] - dot);
            }
            return;
        }
        for (int i = 0; i < n; i++)
            for (int c = 0; c < inner; c++)
            {
                int b = i * k * inner + c;
                float dot = 0;
                for (int j = 0; j < k; j++) dot += output.Data[b + j * inner] * dOutput.Data[b + j * inner];
                for (int j = 0; j < k; j++)
                {
                    int at = b + j * inner;
                    dX.Data[at] += output.Data[at] * (dOutput.Data[at] - dot);
                }
            }
    }

    public override string ToString() => Axis == -1 && !Coerce2d ? base.ToString() : $"{GetType().Name}(axis {Axis}{(Coerce2d ? ", 2-D" : "")}) '{Name}'";
}
