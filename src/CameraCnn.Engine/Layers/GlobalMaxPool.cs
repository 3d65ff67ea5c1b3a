// GlobalMaxPool: the maximum of each channel over all spatial positions, [N, C, d1, d2, ...] -> [N, C, 1, 1, ...]
// (ONNX GlobalMaxPool); backward routes the error to the first position that holds the maximum.
namespace CameraCnn.Engine.Layers;

/// <summary>Maximum over the spatial axes of each channel plane; any number (at least one) of spatial axes.</summary>
public sealed class GlobalMaxPool : Layer
{
    private int[] _argmax = [];

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs, 1);
        var x = inputs[0];
        if (x.Length < 3) throw ShapeError($"expects [N, C, spatial...], got {Tensor.Format(x)}");
        if (x[0] > 0 && x[1] > 0 && x.Skip(2).Contains(0)) throw ShapeError($"has no spatial positions to pool in {Tensor.Format(x)}");
        var y = new int[x.Length];
        y[0] = x[0];
        y[1] = x[1];
        for (int d = 2; d < y.Length; d++) y[d] = 1;
        return y;
    }

    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output)
    {
        Tensor x = inputs[0];
        int planes = output.Length, size = planes == 0 ? 0 : x.Length / planes;
        if (_argmax.Length < planes) _argmax = new int[planes];
        for (int p = 0; p < planes; p++)
        {
            var plane = x.Data.AsSpan(p * size, size);
            int best = 0;
            for (int i = 1; i < size; i++)
                if (plane[i] > plane[best] || float.IsNaN(plane[i]) && !float.IsNaN(plane[best])) best = i;
            _argmax[p] = p * size + best;
            output.Data[p] = plane[best];
        }
    }

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        if (dInputs[0] is not { } dX) return;
        for (int p = 0; p < output.Length; p++) dX.Data[_argmax[p]] += dOutput.Data[p];
    }
}
