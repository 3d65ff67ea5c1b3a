// Flatten: [d0, ..., dn] -> [d0*...*d(axis-1), d(axis)*...*dn] (ONNX Flatten; axis 1 turns [N, C, H, W] into
// [N, C*H*W]). A copy, so taps on either side stay valid.
namespace CameraCnn.Engine.Layers;

/// <summary>Flattens the axes before <see cref="Axis"/> into one and the rest into another (default: all after the batch).</summary>
public sealed class Flatten(int axis = 1) : Layer
{
    /// <summary>In [-rank, rank]; negative counts from the end, as in ONNX.</summary>
    public int Axis { get; } = axis;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs, 1);
        var x = inputs[0];
        if (x.Length < 1) throw ShapeError("expects at least a batch dimension");
        if (Axis < -x.Length || Axis > x.Length) throw ShapeError($"axis {Axis} is out of range for {Tensor.Format(x)}");
        int axis = Axis < 0 ? Axis + x.Length : Axis;
        int[] y = [1, 1];
        for (int i = 0; i < x.Length; i++)
            y[i < axis ? 0 : 1] = (int)Math.Min((long)y[i < axis ? 0 : 1] * x[i], Tensor.MaxElements + 1L);
        if (y[0] > Tensor.MaxElements || y[1] > Tensor.MaxElements) throw ShapeError($"cannot flatten {Tensor.Format(x)}: too large");
        return y;
    }

    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output) => inputs[0].Data.AsSpan().CopyTo(output.Data);

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        if (dInputs[0] is { } dX) System.Numerics.Tensors.TensorPrimitives.Add(dX.Data, dOutput.Data, dX.Data);
    }
}
