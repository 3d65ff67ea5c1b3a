// Pad: ONNX Pad on any rank: constant, reflect or edge padding, with negative pads cropping. Every output element
// reads one input element (or the constant), so backward adds the error back through the same index map.
namespace CameraCnn.Engine.Layers;

/// <summary>How <see cref="Pad"/> fills the border (ONNX mode names: constant, reflect, edge).</summary>
public enum PadMode { Constant, Reflect, Edge }

/// <summary>
/// Pads are ONNX-ordered [x1_begin, x2_begin, ..., x1_end, x2_end, ...], one pair per input axis; negative values
/// remove elements. Reflect mirrors without repeating the edge (numpy "reflect", periodic when the pad is wider
/// than the axis); edge repeats the border element.
/// </summary>
public sealed class Pad : Layer
{
    public long[] Pads { get; }
    public PadMode Mode { get; }
    public float Value { get; }

    public Pad(long[] pads, PadMode mode = PadMode.Constant, float value = 0f)
    {
        if (pads.Length % 2 != 0) throw new ShapeException($"Pad: {pads.Length} pad values, expected two per axis");
        if (pads.Any(p => Math.Abs(p) > Tensor.MaxElements)) throw new ShapeException($"Pad: pads [{string.Join(",", pads)}] are too large");
        Pads = (long[])pads.Clone();
        Mode = mode;
        Value = value;
    }

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs, 1);
        var x = inputs[0];
        if (Pads.Length != 2 * x.Length) throw ShapeError($"{Pads.Length} pad values do not fit a rank-{x.Length} input");
        var y = new int[x.Length];
        for (int d = 0; d < x.Length; d++)
        {
            long size = x[d] + Pads[d] + Pads[d + x.Length];
            if (size < 0 || size > Tensor.MaxElements)
                throw ShapeError($"pads [{string.Join(",", Pads)}] give axis {d} of {Tensor.Format(x)} size {size}");
            if (size > 0 && x[d] == 0 && Mode != PadMode.Constant) throw ShapeError($"cannot {Mode}-pad the empty axis {d} of {Tensor.Format(x)}");
            y[d] = (int)size;
        }
        Tensor.CheckedLength(y);
        return y;
    }

    /// <summary>Source index along one axis of size n for output index o (-1: the constant).</summary>
    private int Source(long o, long begin, int n)
    {
        long i = o - begin;
        if (i >= 0 && i < n) return (int)i;
        switch (Mode)
        {
            case PadMode.Edge: return i < 0 ? 0 : n - 1;
            case PadMode.Reflect:
                if (n == 1) return 0;
                long period = 2L * (n - 1);
                i %= period;
                if (i < 0) i += period;
                return (int)(i < n ? i : period - i);
            default: return -1;
        }
    }

    // Per axis, the source index of every output index, and the input strides, for the last input shape (a steady
    // forward must not allocate).
    private int[] _shape = [], _yShape = [], _stride = [];
    private int[][] _maps = [];

    private void Prepare(int[] x, int[] y)
    {
        if (_maps.Length == x.Length && Tensor.SameShape(_shape, x)) return;
        Rebuild(x, y);
    }

    // Apart from Prepare: lambdas capturing x and y would allocate their closure on every call of the method holding them.
    private void Rebuild(int[] x, int[] y)
    {
        _maps = Enumerable.Range(0, x.Length).Select(d => Enumerable.Range(0, y[d]).Select(o => Source(o, Pads[d], x[d])).ToArray()).ToArray();
        _stride = new int[x.Length];
        for (int d = x.Length - 1, s = 1; d >= 0; d--) { _stride[d] = s; s *= x[d]; }
        _yShape = (int[])y.Clone();
        _shape = (int[])x.Clone();
    }

    /// <summary>Input offset of the start of output row r (a row runs along the last axis), or -1 inside the constant border.</summary>
    private int RowSource(int r)
    {
        int src = 0;
        for (int d = _yShape.Length - 2; d >= 0; d--)
        {
            int o = r % _yShape[d];
            r /= _yShape[d];
            int i = _maps[d][o];
            if (i < 0) return -1;
            src += i * _stride[d];
        }
        return src;
    }

    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output)
    {
        float[] x = inputs[0].Data, y = output.Data;
        if (y.Length == 0) return;
        if (output.Rank == 0)
        {
            y[0] = x[0];
            return;
        }
        Prepare(inputs[0].Shape, output.Shape);
        int[] map = _maps[^1];
        int inner = map.Length, rows = y.Length / inner;
        for (int r = 0; r < rows; r++)
        {
            int src = RowSource(r), o = r * inner;
            for (int j = 0; j < inner; j++) y[o + j] = src < 0 || map[j] < 0 ? Value : x[src + map[j]];
        }
    }

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        if (dInputs[0] is not { } dX || dOutput.Length == 0) return;
        float[] dx = dX.Data, dy = dOutput.Data;
        if (output.Rank == 0)
        {
            dx[0] += dy[0];
            return;
        }
        Prepare(inputs[0].Shape, output.Shape);
        int[] map = _maps[^1];
        int inner = map.Length, rows = dy.Length / inner;
        for (int r = 0; r < rows; r++)
        {
            int src = RowSource(r), o = r * inner;
            if (src < 0) continue;
            for (int j = 0; j < inner; j++)
                if (map[j] >= 0) dx[src + map[j]] += dy[o + j];
        }
    }
}
