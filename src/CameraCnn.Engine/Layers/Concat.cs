// Concat: joins tensors along one axis (ONNX Concat, e.g. B, G, R planes back into one BGR image); backward hands
// each input its slice of the error.
using System.Numerics.Tensors;

namespace CameraCnn.Engine.Layers;

/// <summary>Concatenation along <see cref="Axis"/> (negative counts from the end); all other dimensions must match.</summary>
public sealed class Concat(long axis) : Layer
{
    public long Axis { get; } = axis;

    private int ResolveAxis(int rank)
    {
        if (Axis < -rank || Axis >= rank) throw ShapeError($"axis {Axis} is out of range for rank {rank}");
        return (int)(Axis < 0 ? Axis + rank : Axis);
    }

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        if (inputs.Count == 0) throw ShapeError("expects at least 1 input");
        var first = inputs[0];
        int axis = ResolveAxis(first.Length);
        long size = 0;
        foreach (var x in inputs)
        {
            bool ok = x.Length == first.Length;
            for (int d = 0; ok && d < x.Length; d++) ok = d == axis || x[d] == first[d];
            if (!ok) throw ShapeError($"cannot concatenate {string.Join(" and ", inputs.Select(s => Tensor.Format(s)))} along axis {Axis}");
            size += x[axis];
        }
        if (size > Tensor.MaxElements) throw ShapeError($"concatenated axis of {size} is too large");
        var y = (int[])first.Clone();
        y[axis] = (int)size;
        Tensor.CheckedLength(y);
        return y;
    }

    /// <summary>Rows before the axis and elements per unit of the axis: y[o, offset + a, i] = x_k[o, a, i].</summary>
    private static (int Outer, int Inner) Split(int[] shape, int axis)
    {
        int outer = 1, inner = 1;
        for (int d = 0; d < axis; d++) outer *= shape[d];
        for (int d = axis + 1; d < shape.Length; d++) inner *= shape[d];
        return (outer, inner);
    }

    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output)
    {
        int axis = ResolveAxis(output.Rank);
        var (outer, inner) = Split(output.Shape, axis);
        int yRow = output.Shape[axis] * inner, offset = 0;
        for (int k = 0; k < inputs.Count; k++) // an index loop: foreach over the interface would allocate per forward
        {
            var x = inputs[k];
            int xRow = x.Shape[axis] * inner;
            for (int o = 0; o < outer; o++)
                x.Data.AsSpan(o * xRow, xRow).CopyTo(output.Data.AsSpan(o * yRow + offset, xRow));
            offset += xRow;
        }
    }

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        int axis = ResolveAxis(output.Rank);
        var (outer, inner) = Split(output.Shape, axis);
        int yRow = output.Shape[axis] * inner, offset = 0;
        for (int k = 0; k < inputs.Count; k++)
        {
            int xRow = inputs[k].Shape[axis] * inner;
            if (dInputs[k] is { } dX)
                for (int o = 0; o < outer; o++)
                {
                    Span<float> d = dX.Data.AsSpan(o * xRow, xRow);
                    TensorPrimitives.Add(d, dOutput.Data.AsSpan(o * yRow + offset, xRow), d);
                }
            offset += xRow;
        }
    }
}
