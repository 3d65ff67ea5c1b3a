// GlobalAvgPool: the mean of each channel plane, [N, C, H, W] -> [N, C, 1, 1] (ONNX GlobalAveragePool).
using System.Numerics.Tensors;

namespace CameraCnn.Engine.Layers;

/// <summary>Average over all spatial positions of each channel.</summary>
public sealed class GlobalAvgPool : Layer
{
    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs, 1);
        var x = ExpectRank(inputs[0], 4);
        return [x[0], x[1], 1, 1];
    }

    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output)
    {
        Tensor x = inputs[0];
        int hw = x.H * x.W;
        for (int p = 0; p < output.Length; p++)
            output.Data[p] = hw == 0 ? 0f : TensorPrimitives.Sum(x.Data.AsSpan(p * hw, hw)) / hw;
    }

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        if (dInputs[0] is not { } dX) return;
        Tensor x = inputs[0];
        int hw = x.H * x.W;
        for (int p = 0; p < output.Length; p++)
        {
            Span<float> d = dX.Data.AsSpan(p * hw, hw);
            TensorPrimitives.Add(d, dOutput.Data[p] / hw, d);
        }
    }
}
