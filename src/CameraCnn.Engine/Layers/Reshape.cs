// Reshape, Squeeze, Unsqueeze: the same elements in the same order under a new shape, computed from the actual
// input shape on every forward (ONNX 0 / -1 rules included). A copy, so taps on either side stay valid.
using System.Numerics.Tensors;

namespace CameraCnn.Engine.Layers;

/// <summary>A layer whose output is its input's data under another shape; backward passes the error straight back.</summary>
public abstract class ReshapeLayer : Layer
{
    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs, 1);
        int[] y = NewShape(inputs[0]);
        if (Tensor.CheckedLength(y) != Tensor.CheckedLength(inputs[0]))
            throw ShapeError($"cannot reshape {Tensor.Format(inputs[0])} to {Tensor.Format(y)}");
        return y;
    }

    /// <summary>The output shape for input shape <paramref name="x"/>; throws <see cref="ShapeException"/> when it has none.</summary>
    protected abstract int[] NewShape(int[] x);

    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output) => inputs[0].Data.AsSpan().CopyTo(output.Data);

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        if (dInputs[0] is { } dX) TensorPrimitives.Add(dX.Data, dOutput.Data, dX.Data);
    }

    /// <summary>An axis in [-rank, rank) as a non-negative index; anything else is a shape error of this layer.</summary>
    protected int Axis(long axis, int rank)
    {
        if (axis < -rank || axis >= rank) throw ShapeError($"axis {axis} is out of range for rank {rank}");
        return (int)(axis < 0 ? axis + rank : axis);
    }
}

/// <summary>
/// ONNX Reshape: <see cref="Target"/> gives the new dimensions; 0 copies the input's dimension at the same index
/// (unless <see cref="AllowZero"/>, when 0 is a real zero-size dimension) and one -1 is inferred from the element count.
/// </summary>
public sealed class Reshape : ReshapeLayer
{
    public long[] Target { get; }
    public bool AllowZero { get; }

    public Reshape(long[] target, bool allowZero = false)
    {
        if (target.Count(v => v == -1) > 1) throw new ShapeException($"Reshape: at most one -1 in {Format(target)}");
        if (target.Any(v => v < -1 || v > Tensor.MaxElements)) throw new ShapeException($"Reshape: bad target dimension in {Format(target)}");
        if (allowZero && target.Contains(0) && target.Contains(-1))
            throw new ShapeException($"Reshape: allowzero with both 0 and -1 in {Format(target)}");
        Target = (long[])target.Clone();
        AllowZero = allowZero;
    }

    private static string Format(long[] v) => "[" + string.Join(",", v) + "]";

    protected override int[] NewShape(int[] x)
    {
        var y = new int[Target.Length];
        int infer = -1;
        long known = 1;
        for (int i = 0; i < y.Length; i++)
        {
            long v = Target[i];
            if (v == -1)
            {
                infer = i;
                continue;
            }
            if (v == 0 && !AllowZero)
            {
                if (i >= x.Length) throw ShapeError($"target {Format(Target)} copies dimension {i} of {Tensor.Format(x)}, which has none");
                v = x[i];
            }
            y[i] = (int)v;
            known = Math.Min(known * v, Tensor.MaxElements + 1); // saturates: a product past the cap cannot match anyway
        }
        long total = Tensor.CheckedLength(x);
        if (infer >= 0)
        {
            if (known == 0 || total % known != 0)
                throw ShapeError($"cannot infer the -1 in {Format(Target)} for {Tensor.Format(x)}");
            y[infer] = (int)(total / known);
        }
        return y;
    }
}

/// <summary>ONNX Squeeze: removes the given size-1 axes, or every size-1 axis when <see cref="Axes"/> is null.</summary>
public sealed class Squeeze(long[]? axes = null) : ReshapeLayer
{
    public long[]? Axes { get; } = axes is null ? null : (long[])axes.Clone();

    protected override int[] NewShape(int[] x)
    {
        if (Axes is null) return x.Where(d => d != 1).ToArray();
        var drop = new bool[x.Length];
        foreach (long a in Axes)
        {
            int d = Axis(a, x.Length);
            if (drop[d]) throw ShapeError($"axis {a} is given twice");
            if (x[d] != 1) throw ShapeError($"cannot squeeze axis {a} of {Tensor.Format(x)}: its size is not 1");
            drop[d] = true;
        }
        return x.Where((_, d) => !drop[d]).ToArray();
    }
}

/// <summary>ONNX Unsqueeze: inserts size-1 axes at <see cref="Axes"/>, which index the output (negative from its end).</summary>
public sealed class Unsqueeze(long[] axes) : ReshapeLayer
{
    public long[] Axes { get; } = (long[])axes.Clone();

    protected override int[] NewShape(int[] x)
    {
        int rank = x.Length + Axes.Length;
        var insert = new bool[rank];
        foreach (long a in Axes)
        {
            int d = Axis(a, rank);
            if (insert[d]) throw ShapeError($"axis {a} is given twice");
            insert[d] = true;
        }
        var y = new int[rank];
        for (int d = 0, i = 0; d < rank; d++) y[d] = insert[d] ? 1 : x[i++];
        return y;
    }
}
