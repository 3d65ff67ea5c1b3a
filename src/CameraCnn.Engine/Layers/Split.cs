// SplitPart: one output of ONNX Split, the k-th of n consecutive slices along an axis. A graph node has one output,
// so a Split becomes n SplitPart nodes on the same input; backward adds each part's error into its slice.
using System.Numerics.Tensors;

namespace CameraCnn.Engine.Layers;

/// <summary>
/// Part <see cref="Index"/> of <see cref="Count"/> along <see cref="Axis"/>: of the given <see cref="Sizes"/>, or of
/// equal parts when Sizes is null (the axis must then divide evenly, as ONNX Split up to opset 17 requires).
/// </summary>
public sealed class SplitPart : Layer
{
    public long Axis { get; }
    public int Index { get; }
    public int Count { get; }
    public long[]? Sizes { get; }

    public SplitPart(long axis, int index, int count, long[]? sizes = null)
    {
        if (count <= 0 || index < 0 || index >= count) throw new ShapeException($"SplitPart: part {index} of {count}");
        if (sizes is not null && (sizes.Length != count || sizes.Any(s => s < 0 || s > Tensor.MaxElements)))
            throw new ShapeException($"SplitPart: {count} parts with sizes [{string.Join(",", sizes)}]");
        Axis = axis;
        Index = index;
        Count = count;
        Sizes = sizes is null ? null : (long[])sizes.Clone();
    }

    /// <summary>The resolved axis and this part's [start, start + length) along it, for input shape x.</summary>
    private (int Axis, int Start, int Length) Range(int[] x)
    {
        int rank = x.Length;
        if (Axis < -rank || Axis >= rank) throw ShapeError($"axis {Axis} is out of range for rank {rank}");
        int axis = (int)(Axis < 0 ? Axis + rank : Axis), dim = x[axis];
        if (Sizes is null)
        {
            if (dim % Count != 0) throw ShapeError($"axis {Axis} of {Tensor.Format(x)} does not split into {Count} equal parts");
            int part = dim / Count;
            return (axis, Index * part, part);
        }
        // Loops, not LINQ: this runs on every forward, which must not allocate.
        long total = 0, start = 0;
        for (int k = 0; k < Sizes.Length; k++)
        {
            if (k == Index) start = total;
            total += Sizes[k];
        }
        if (total != dim)
            throw ShapeError($"sizes [{string.Join(",", Sizes)}] do not add up to axis {Axis} of {Tensor.Format(x)}");
        return (axis, (int)start, (int)Sizes[Index]);
    }

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs, 1);
        var (axis, _, length) = Range(inputs[0]);
        var y = (int[])inputs[0].Clone();
        y[axis] = length;
        return y;
    }

    /// <summary>The part as rows: Outer contiguous pieces of Length elements, at From + o * XRow in the input.</summary>
    private (int Outer, int From, int XRow, int Length) Rows(int[] x)
    {
        var (axis, start, length) = Range(x);
        int outer = 1, inner = 1;
        for (int d = 0; d < axis; d++) outer *= x[d];
        for (int d = axis + 1; d < x.Length; d++) inner *= x[d];
        return (outer, start * inner, x[axis] * inner, length * inner);
    }

    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output)
    {
        var (outer, from, xRow, n) = Rows(inputs[0].Shape);
        float[] x = inputs[0].Data, y = output.Data;
        for (int o = 0; o < outer; o++) x.AsSpan(from + o * xRow, n).CopyTo(y.AsSpan(o * n, n));
    }

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        if (dInputs[0] is not { } dX) return;
        var (outer, from, xRow, n) = Rows(inputs[0].Shape);
        for (int o = 0; o < outer; o++)
        {
            Span<float> dx = dX.Data.AsSpan(from + o * xRow, n);
            TensorPrimitives.Add(dx, dOutput.Data.AsSpan(o * n, n), dx);
        }
    }

    public override string ToString() => $"{GetType().Name}({Index + 1}/{Count}) '{Name}'";
}
