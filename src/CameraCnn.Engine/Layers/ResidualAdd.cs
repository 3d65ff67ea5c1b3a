// ResidualAdd: the element-wise sum of two tensors, the join of a residual block (and ONNX Add); backward copies
// the error to both branches. Differently shaped operands broadcast numpy-style through Elementwise.
using System.Numerics.Tensors;

namespace CameraCnn.Engine.Layers;

/// <summary>y = a + b; shapes equal (the residual case) or broadcastable as in ONNX Add.</summary>
public sealed class ResidualAdd : Layer
{
    private readonly Elementwise _broadcast = new(ElementwiseOp.Add);

    private static bool Same(IReadOnlyList<Tensor> inputs) => inputs[0].HasShape(inputs[1].Shape);

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs, 2);
        if (Tensor.SameShape(inputs[0], inputs[1])) return (int[])inputs[0].Clone();
        try { return _broadcast.OutputShape(inputs); }
        catch (ShapeException) { throw ShapeError($"cannot add {Tensor.Format(inputs[0])} and {Tensor.Format(inputs[1])}"); }
    }

    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output)
    {
        if (Same(inputs)) TensorPrimitives.Add(inputs[0].Data, inputs[1].Data, output.Data);
        else _broadcast.Forward(inputs, output);
    }

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        if (!Same(inputs))
        {
            _broadcast.Backward(inputs, output, dOutput, dInputs);
            return;
        }
        foreach (var d in dInputs)
            if (d is not null) TensorPrimitives.Add(d.Data, dOutput.Data, d.Data);
    }
}
