// ResidualAdd: the element-wise sum of two same-shaped tensors, the join of a residual block; backward copies
// the error to both branches.
using System.Numerics.Tensors;

namespace CameraCnn.Engine.Layers;

/// <summary>y = a + b (shapes must match exactly).</summary>
public sealed class ResidualAdd : Layer
{
    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs, 2);
        if (!Tensor.SameShape(inputs[0], inputs[1]))
            throw ShapeError($"cannot add {Tensor.Format(inputs[0])} and {Tensor.Format(inputs[1])}");
        return (int[])inputs[0].Clone();
    }

    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output)
        => TensorPrimitives.Add(inputs[0].Data, inputs[1].Data, output.Data);

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        foreach (var d in dInputs)
            if (d is not null) TensorPrimitives.Add(d.Data, dOutput.Data, d.Data);
    }
}
