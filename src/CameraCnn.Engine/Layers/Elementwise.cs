// Elementwise: ONNX Add/Sub/Mul/Div/Sum/Max/Min over any number of inputs with numpy-style multidirectional
// broadcasting, and the broadcast walker they share. Backward sums the error over the broadcast axes.
using System.Numerics.Tensors;

namespace CameraCnn.Engine.Layers;

/// <summary>The binary operation of an <see cref="Elementwise"/> layer.</summary>
public enum ElementwiseOp { Add, Sub, Mul, Div, Max, Min }

/// <summary>
/// y = x0 op x1 op ... op x(n-1), folded left to right (as ONNX Sum/Max/Min and numpy do), with the inputs broadcast
/// numpy-style: shapes right-aligned, every dimension equal or 1. Sub and Div take exactly two inputs.
/// Max/Min route the error to the first input that holds the selected value.
/// </summary>
public sealed class Elementwise : Layer
{
    public ElementwiseOp Op { get; }

    // Walk plans for the last input shapes: one per fold step, and one over all inputs for backward.
    private int[][] _planShapes = [];
    private BroadcastPlan?[] _steps = [];
    private BroadcastPlan? _all;

    public Elementwise(ElementwiseOp op) => Op = op;

    private bool Binary => Op is ElementwiseOp.Sub or ElementwiseOp.Div;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        if (Binary) ExpectInputs(inputs, 2);
        else if (inputs.Count == 0) throw ShapeError("expects at least 1 input");
        return Broadcast.Shape(this, inputs);
    }

    /// <summary>a op b for one pair of floats (the scalar truth of every vector path below).</summary>
    public static float Apply(ElementwiseOp op, float a, float b) => op switch
    {
        ElementwiseOp.Add => a + b,
        ElementwiseOp.Sub => a - b,
        ElementwiseOp.Mul => a * b,
        ElementwiseOp.Div => a / b,
        ElementwiseOp.Max => float.IsNaN(a) || float.IsNaN(b) ? float.NaN : Math.Max(a, b),
        _ => float.IsNaN(a) || float.IsNaN(b) ? float.NaN : Math.Min(a, b),
    };

    private void EnsurePlans(IReadOnlyList<Tensor> inputs, int[] y)
    {
        bool same = _planShapes.Length == inputs.Count + 1 && Tensor.SameShape(_planShapes[^1], y);
        for (int i = 0; same && i < inputs.Count; i++) same = Tensor.SameShape(_planShapes[i], inputs[i].Shape);
        if (same) return;
        var shapes = inputs.Select(t => (int[])t.Shape.Clone()).Append((int[])y.Clone()).ToArray();
        _steps = new BroadcastPlan?[Math.Max(inputs.Count, 2)];
        // Step 1 combines x0 and x1 into y; step k >= 2 combines y with xk (y already has the full shape).
        _steps[1] = inputs.Count >= 2 ? BroadcastPlan.Create(y, [inputs[0].Shape, inputs[1].Shape]) : null;
        for (int k = 2; k < inputs.Count; k++) _steps[k] = BroadcastPlan.Create(y, [y, inputs[k].Shape]);
        _all = BroadcastPlan.Create(y, inputs.Select(t => t.Shape).ToArray());
        _planShapes = shapes;
    }

    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output)
    {
        float[] y = output.Data;
        if (inputs.Count == 1)
        {
            inputs[0].Data.AsSpan().CopyTo(y);
            return;
        }
        EnsurePlans(inputs, output.Shape);
        Combine(Op, _steps[1]!, inputs[0].Data, inputs[1].Data, y);
        for (int k = 2; k < inputs.Count; k++) Combine(Op, _steps[k]!, y, inputs[k].Data, y);
    }

    /// <summary>y = a op b over a broadcast plan whose inputs are (a, b); y may be a when a already has y's shape.</summary>
    private static void Combine(ElementwiseOp op, BroadcastPlan plan, float[] a, float[] b, float[] y)
    {
        int inner = plan.Inner, sa = plan.InnerStride[0], sb = plan.InnerStride[1];
        Span<int> off = stackalloc int[2];
        for (int r = 0; r < plan.Runs; r++)
        {
            plan.Offsets(r, off);
            Run(op, a.AsSpan(off[0], sa == 0 ? 1 : inner), sa, b.AsSpan(off[1], sb == 0 ? 1 : inner), sb, y.AsSpan(r * inner, inner));
        }
    }

    /// <summary>One contiguous run: each operand either advances with y (stride 1) or is a scalar (stride 0).</summary>
    private static void Run(ElementwiseOp op, ReadOnlySpan<float> a, int sa, ReadOnlySpan<float> b, int sb, Span<float> y)
    {
        if (y.Length == 0) return;
        if (sa == 0 && sb == 0)
        {
            y.Fill(Apply(op, a[0], b[0]));
            return;
        }
        switch (op, sa, sb)
        {
            case (ElementwiseOp.Add, 1, 1): TensorPrimitives.Add(a, b, y); break;
            case (ElementwiseOp.Add, 1, 0): TensorPrimitives.Add(a, b[0], y); break;
            case (ElementwiseOp.Add, 0, 1): TensorPrimitives.Add(b, a[0], y); break;
            case (ElementwiseOp.Sub, 1, 1): TensorPrimitives.Subtract(a, b, y); break;
            case (ElementwiseOp.Sub, 1, 0): TensorPrimitives.Subtract(a, b[0], y); break;
            case (ElementwiseOp.Sub, 0, 1): TensorPrimitives.Subtract(a[0], b, y); break;
            case (ElementwiseOp.Mul, 1, 1): TensorPrimitives.Multiply(a, b, y); break;
            case (ElementwiseOp.Mul, 1, 0): TensorPrimitives.Multiply(a, b[0], y); break;
            case (ElementwiseOp.Mul, 0, 1): TensorPrimitives.Multiply(b, a[0], y); break;
            case (ElementwiseOp.Div, 1, 1): TensorPrimitives.Divide(a, b, y); break;
            case (ElementwiseOp.Div, 1, 0): TensorPrimitives.Divide(a, b[0], y); break;
            case (ElementwiseOp.Div, 0, 1): TensorPrimitives.Divide(a[0], b, y); break;
            default:
                // Max/Min: scalar, so NaN propagates exactly as numpy.maximum/minimum do.
                for (int i = 0; i < y.Length; i++) y[i] = Apply(op, a[sa * i], b[sb * i]);
                break;
        }
    }

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        EnsurePlans(inputs, output.Shape);
        var plan = _all!;
        int n = inputs.Count, inner = plan.Inner;
        float[] dy = dOutput.Data, y = output.Data;
        Span<int> off = n <= 16 ? stackalloc int[n] : new int[n];
        for (int r = 0; r < plan.Runs; r++)
        {
            plan.Offsets(r, off);
            int o = r * inner;
            for (int k = 0; k < n; k++)
            {
                if (dInputs[k] is not { } dXk) continue;
                float[] dx = dXk.Data;
                int s = plan.InnerStride[k], at = off[k];
                switch (Op)
                {
                    case ElementwiseOp.Add:
                    case ElementwiseOp.Sub:
                        // d(a - b)/db = -1; everything else here passes dy through.
                        float sign = Op == ElementwiseOp.Sub && k == 1 ? -1f : 1f;
                        var g = dy.AsSpan(o, inner);
                        if (s == 0) dx[at] += sign * TensorPrimitives.Sum(g);
                        else if (sign > 0) TensorPrimitives.Add(dx.AsSpan(at, inner), g, dx.AsSpan(at, inner));
                        else TensorPrimitives.Subtract(dx.AsSpan(at, inner), g, dx.AsSpan(at, inner));
                        break;
                    case ElementwiseOp.Mul:
                    {
                        // d(prod)/dxk = product of the other inputs = y / xk, but computed directly (xk may be 0).
                        for (int i = 0; i < inner; i++)
                        {
                            float p = dy[o + i];
                            for (int j = 0; j < n; j++)
                                if (j != k) p *= inputs[j].Data[off[j] + plan.InnerStride[j] * i];
                            dx[at + s * i] += p;
                        }
                        break;
                    }
                    case ElementwiseOp.Div:
                    {
                        float[] b = inputs[1].Data;
                        int sb = plan.InnerStride[1], ob = off[1];
                        for (int i = 0; i < inner; i++)
                        {
                            float bi = b[ob + sb * i];
                            // y = a / b: dy/da = 1/b, dy/db = -a/b^2 = -y/b.
                            dx[at + s * i] += k == 0 ? dy[o + i] / bi : -dy[o + i] * y[o + i] / bi;
                        }
                        break;
                    }
                    default:
                        for (int i = 0; i < inner; i++)
                        {
                            float yi = y[o + i];
                            int first = 0;
                            while (first < n && !(inputs[first].Data[off[first] + plan.InnerStride[first] * i] == yi)) first++;
                            if (first == k) dx[at + s * i] += dy[o + i];
                        }
                        break;
                }
            }
        }
    }

    public override string ToString() => $"{GetType().Name}({Op}) '{Name}'";
}

/// <summary>Numpy multidirectional broadcasting of shapes.</summary>
internal static class Broadcast
{
    /// <summary>The broadcast shape: right-aligned, each dimension equal across inputs or 1 (a 0 beats a 1).</summary>
    public static int[] Shape(Layer layer, IReadOnlyList<int[]> shapes)
    {
        int rank = 0;
        foreach (var s in shapes) rank = Math.Max(rank, s.Length);
        var y = new int[rank];
        for (int d = 0; d < rank; d++)
        {
            int size = 1;
            foreach (var s in shapes)
            {
                int i = d - (rank - s.Length);
                if (i < 0) continue;
                int v = s[i];
                if (v == size || v == 1) continue;
                if (size != 1)
                    throw new ShapeException($"{layer}: cannot broadcast {string.Join(" and ", shapes.Select(x => Tensor.Format(x)))}");
                size = v;
            }
            y[d] = size;
        }
        Tensor.CheckedLength(y);
        return y;
    }
}

/// <summary>
/// Walks a row-major output of shape Y over inputs broadcast to it, in runs along the innermost axes: axes where
/// every input is contiguous (or every input broadcast) are merged, so a run is as long as possible and each input
/// either advances with the output (inner stride 1) or repeats one element (inner stride 0).
/// </summary>
internal sealed class BroadcastPlan
{
    public int Inner { get; private init; }
    public int Runs { get; private init; }
    public int[] InnerStride { get; private init; } = [];
    private int[] _outerDims = [];
    private int[][] _outerStrides = []; // [input][outer axis]

    public static BroadcastPlan Create(int[] y, IReadOnlyList<int[]> inputs)
    {
        int rank = y.Length, n = inputs.Count;
        long total = Tensor.CheckedLength(y);
        // Full strides of every input in the output's index space: 0 on broadcast (or missing) axes.
        var strides = new int[n][];
        for (int k = 0; k < n; k++)
        {
            var s = inputs[k];
            strides[k] = new int[rank];
            int step = 1;
            for (int d = rank - 1; d >= 0; d--)
            {
                int i = d - (rank - s.Length);
                if (i < 0) continue;
                strides[k][d] = s[i] == 1 ? 0 : step;
                step *= s[i];
            }
        }
        // Merge from the innermost axis outwards; size-1 output axes contribute nothing and are dropped.
        var dims = new List<int>();
        var groupStrides = new List<int[]>();
        for (int d = rank - 1; d >= 0; d--)
        {
            if (y[d] == 1) continue;
            if (dims.Count > 0)
            {
                int last = dims.Count - 1;
                bool merge = true;
                for (int k = 0; k < n && merge; k++) merge = strides[k][d] == (long)groupStrides[last][k] * dims[last];
                if (merge)
                {
                    dims[last] *= y[d];
                    continue;
                }
            }
            dims.Add(y[d]);
            groupStrides.Add(Enumerable.Range(0, n).Select(k => strides[k][d]).ToArray());
        }
        if (dims.Count == 0 || total == 0)
            return new BroadcastPlan { Inner = total == 0 ? 0 : 1, Runs = total == 0 ? 0 : 1, InnerStride = new int[n] };
        int outer = dims.Count - 1;
        return new BroadcastPlan
        {
            Inner = dims[0],
            Runs = (int)(total / dims[0]),
            InnerStride = groupStrides[0].Select(v => v == 0 ? 0 : 1).ToArray(),
            // Stored outermost first.
            _outerDims = Enumerable.Range(1, outer).Select(i => dims[i]).Reverse().ToArray(),
            _outerStrides = Enumerable.Range(0, n).Select(k => Enumerable.Range(1, outer).Select(i => groupStrides[i][k]).Reverse().ToArray()).ToArray(),
        };
    }

    /// <summary>Start offset of run <paramref name="run"/> in every input.</summary>
    public void Offsets(int run, Span<int> offsets)
    {
        offsets.Clear();
        for (int d = _outerDims.Length - 1; d >= 0; d--)
        {
            int size = _outerDims[d], i = run % size;
            run /= size;
            for (int k = 0; k < offsets.Length; k++) offsets[k] += i * _outerStrides[k][d];
        }
    }
}
