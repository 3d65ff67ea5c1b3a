// Flatten: [N, C, H, W] -> [N, C*H*W] (ONNX Flatten, axis 1). A copy, so taps on either side stay valid.
namespace CameraCnn.Engine.Layers;

/// <summary>Flattens every dimension after the batch into one.</summary>
public sealed class Flatten : Layer
{
    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs, 1);
        var x = inputs[0];
        if (x.Length < 1) throw ShapeError("expects at least a batch dimension");
        long rest = 1;
        for (int i = 1; i < x.Length; i++) rest *= x[i];
        return [x[0], checked((int)rest)];
    }

    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output) => inputs[0].Data.AsSpan().CopyTo(output.Data);

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        if (dInputs[0] is { } dX) System.Numerics.Tensors.TensorPrimitives.Add(dX.Data, dOutput.Data, dX.Data);
    }
}
