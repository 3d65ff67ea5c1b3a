// NdNaive: double-precision, index-by-index references for the generic tensor layers (broadcasting, Concat, Split,
// Transpose, Pad, MatMul, Gemm, axis Softmax), written from the ONNX/numpy definitions and sharing no code with them.
using CameraCnn.Engine.Layers;

namespace CameraCnn.Engine.Tests.Conformance;

internal static class NdNaive
{
    public static int Count(int[] shape) => shape.Aggregate(1, (a, b) => a * b);

    public static int[] Unravel(int flat, int[] shape)
    {
        var idx = new int[shape.Length];
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            idx[d] = flat % shape[d];
            flat /= shape[d];
        }
        return idx;
    }

    public static int Ravel(int[] idx, int[] shape)
    {
        int flat = 0;
        for (int d = 0; d < shape.Length; d++) flat = flat * shape[d] + idx[d];
        return flat;
    }

    /// <summary>numpy broadcasting by definition: the right-aligned output index, with 0 on the input's size-1 axes.</summary>
    public static int BroadcastSource(int[] outIdx, int[] inShape)
    {
        var idx = new int[inShape.Length];
        for (int d = 0; d < inShape.Length; d++)
            idx[d] = inShape[d] == 1 ? 0 : outIdx[outIdx.Length - inShape.Length + d];
        return Ravel(idx, inShape);
    }

    public static int[] BroadcastShape(params int[][] shapes)
    {
        int rank = shapes.Max(s => s.Length);
        return Enumerable.Range(0, rank).Select(d => shapes.Select(s => d - (rank - s.Length) is var i && i >= 0 ? s[i] : 1).Max()).ToArray();
    }

    public static double Apply(ElementwiseOp op, double a, double b) => op switch
    {
        ElementwiseOp.Add => a + b,
        ElementwiseOp.Sub => a - b,
        ElementwiseOp.Mul => a * b,
        ElementwiseOp.Div => a / b,
        ElementwiseOp.Max => Math.Max(a, b),
        _ => Math.Min(a, b),
    };

    public static double[] Elementwise(ElementwiseOp op, double[][] xs, int[][] shapes)
    {
        int[] y = BroadcastShape(shapes);
        var r = new double[Count(y)];
        for (int i = 0; i < r.Length; i++)
        {
            int[] idx = Unravel(i, y);
            double v = xs[0][BroadcastSource(idx, shapes[0])];
            for (int k = 1; k < xs.Length; k++) v = Apply(op, v, xs[k][BroadcastSource(idx, shapes[k])]);
            r[i] = v;
        }
        return r;
    }

    public static double[] Concat(double[][] xs, int[][] shapes, int axis)
    {
        int[] y = (int[])shapes[0].Clone();
        y[axis] = shapes.Sum(s => s[axis]);
        var r = new double[Count(y)];
        for (int i = 0; i < r.Length; i++)
        {
            int[] idx = Unravel(i, y);
            int k = 0, a = idx[axis];
            while (a >= shapes[k][axis]) a -= shapes[k++][axis];
            idx[axis] = a;
            r[i] = xs[k][Ravel(idx, shapes[k])];
        }
        return r;
    }

    public static double[] Slice(double[] x, int[] shape, int axis, int start, int length)
    {
        int[] y = (int[])shape.Clone();
        y[axis] = length;
        var r = new double[Count(y)];
        for (int i = 0; i < r.Length; i++)
        {
            int[] idx = Unravel(i, y);
            idx[axis] += start;
            r[i] = x[Ravel(idx, shape)];
        }
        return r;
    }

    public static double[] Transpose(double[] x, int[] shape, int[] perm)
    {
        int[] y = perm.Select(p => shape[p]).ToArray();
        var r = new double[Count(y)];
        for (int i = 0; i < r.Length; i++)
        {
            int[] idx = Unravel(i, y), src = new int[shape.Length];
            for (int d = 0; d < perm.Length; d++) src[perm[d]] = idx[d];
            r[i] = x[Ravel(src, shape)];
        }
        return r;
    }

    /// <summary>numpy.pad semantics, reflect by repeated mirroring (not a formula), negative pads crop.</summary>
    public static double[] Pad(double[] x, int[] shape, long[] pads, PadMode mode, double value)
    {
        int rank = shape.Length;
        int[] y = Enumerable.Range(0, rank).Select(d => (int)(shape[d] + pads[d] + pads[d + rank])).ToArray();
        var r = new double[Count(y)];
        for (int i = 0; i < r.Length; i++)
        {
            int[] idx = Unravel(i, y);
            bool constant = false;
            for (int d = 0; d < rank; d++)
            {
                int n = shape[d], s = (int)(idx[d] - pads[d]);
                if (mode == PadMode.Edge) s = Math.Clamp(s, 0, n - 1);
                else if (mode == PadMode.Reflect)
                    while (s < 0 || s >= n) s = s < 0 ? -s : 2 * (n - 1) - s;
                else if (s < 0 || s >= n) constant = true;
                idx[d] = s;
            }
            r[i] = constant ? value : x[Ravel(idx, shape)];
        }
        return r;
    }

    /// <summary>numpy.matmul, with 1-D operands promoted and the batch axes broadcast.</summary>
    public static double[] MatMul(double[] a, int[] sa, double[] b, int[] sb, out int[] ys)
    {
        int[] a2 = sa.Length == 1 ? [1, sa[0]] : sa, b2 = sb.Length == 1 ? [sb[0], 1] : sb;
        int m = a2[^2], k = a2[^1], n = b2[^1];
        int[] ba = a2[..^2], bb = b2[..^2], batch = BroadcastShape(ba, bb);
        var r = new double[Count(batch) * m * n];
        for (int t = 0; t < Count(batch); t++)
        {
            int[] idx = Unravel(t, batch);
            int ia = BroadcastSource(idx, ba), ib = BroadcastSource(idx, bb);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double s = 0;
                    for (int q = 0; q < k; q++) s += a[(ia * m + i) * k + q] * b[(ib * k + q) * n + j];
                    r[(t * m + i) * n + j] = s;
                }
        }
        var y = batch.ToList();
        if (sa.Length > 1) y.Add(m);
        if (sb.Length > 1) y.Add(n);
        ys = y.ToArray();
        return r;
    }

    public static double[] Gemm(double[] a, int[] sa, double[] b, int[] sb, double[]? c, int[]? sc,
        double alpha, double beta, bool transA, bool transB)
    {
        int m = transA ? sa[1] : sa[0], k = transA ? sa[0] : sa[1], n = transB ? sb[0] : sb[1];
        var r = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int q = 0; q < k; q++)
                    s += (transA ? a[q * m + i] : a[i * k + q]) * (transB ? b[j * k + q] : b[q * n + j]);
                r[i * n + j] = alpha * s + (c is null ? 0 : beta * c[BroadcastSource([i, j], sc!)]);
            }
        return r;
    }

    /// <summary>Softmax over one axis, or (coerce2d) over all axes from it on together, as ONNX before opset 13.</summary>
    public static double[] Softmax(double[] x, int[] shape, int axis, bool coerce2d)
    {
        int outer = shape[..axis].Aggregate(1, (p, d) => p * d);
        int k = coerce2d ? shape[axis..].Aggregate(1, (p, d) => p * d) : shape[axis];
        int inner = coerce2d ? 1 : shape[(axis + 1)..].Aggregate(1, (p, d) => p * d);
        var r = new double[x.Length];
        for (int o = 0; o < outer; o++)
            for (int c = 0; c < inner; c++)
            {
                double max = double.NegativeInfinity, sum = 0;
                for (int j = 0; j < k; j++) max = Math.Max(max, x[(o * k + j) * inner + c]);
                for (int j = 0; j < k; j++) sum += Math.Exp(x[(o * k + j) * inner + c] - max);
                for (int j = 0; j < k; j++) r[(o * k + j) * inner + c] = Math.Exp(x[(o * k + j) * inner + c] - max) / sum;
            }
        return r;
    }
}
