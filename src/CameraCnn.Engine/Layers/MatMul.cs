// MatMul and GemmOp: products of two computed tensors (ONNX MatMul with numpy batch broadcasting, and ONNX Gemm
// when its B is not a constant weight or it needs transA / a matrix C). A Gemm with constant weights imports as Dense.
using System.Numerics.Tensors;
using CameraCnn.Engine.Kernels;

namespace CameraCnn.Engine.Layers;

/// <summary>
/// numpy.matmul: A [..., M, K] x B [..., K, N] -> [..., M, N] with the batch axes broadcast; a 1-D A is a row
/// [1, K] and a 1-D B a column [K, 1], whose added axis is removed from the result.
/// </summary>
public sealed class MatMul : Layer
{
    private readonly record struct Dims(int M, int K, int N, int[] BatchA, int[] BatchB, int[] Batch);

    private Dims Resolve(int[] a, int[] b)
    {
        if (a.Length == 0 || b.Length == 0) throw ShapeError($"cannot multiply {Tensor.Format(a)} and {Tensor.Format(b)}: scalars have no matrix axes");
        int m = a.Length == 1 ? 1 : a[^2], k = a[^1];
        int k2 = b.Length == 1 ? b[0] : b[^2], n = b.Length == 1 ? 1 : b[^1];
        if (k != k2) throw ShapeError($"cannot multiply {Tensor.Format(a)} and {Tensor.Format(b)}: inner sizes {k} and {k2}");
        int[] ba = a.Length <= 2 ? [] : a[..^2], bb = b.Length <= 2 ? [] : b[..^2];
        return new(m, k, n, ba, bb, Broadcast.Shape(this, [ba, bb]));
    }

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs, 2);
        var d = Resolve(inputs[0], inputs[1]);
        var y = d.Batch.ToList();
        if (inputs[0].Length > 1) y.Add(d.M);
        if (inputs[1].Length > 1) y.Add(d.N);
        var shape = y.ToArray();
        Tensor.CheckedLength(shape);
        return shape;
    }

    public override long MultiplyAdds(IReadOnlyList<int[]> inputs)
    {
        var d = Resolve(inputs[0], inputs[1]);
        return Tensor.CheckedLength(d.Batch) * d.M * d.K * d.N;
    }

    // The batch walk for the last pair of input shapes (a steady forward must not allocate).
    private int[] _shapeA = [], _shapeB = [];
    private Dims _dims;
    private BroadcastPlan? _plan;

    private (Dims, BroadcastPlan) Prepare(int[] a, int[] b)
    {
        if (_plan is null || !Tensor.SameShape(_shapeA, a) || !Tensor.SameShape(_shapeB, b))
        {
            _dims = Resolve(a, b);
            _plan = BroadcastPlan.Create(_dims.Batch, [_dims.BatchA, _dims.BatchB]);
            _shapeA = (int[])a.Clone();
            _shapeB = (int[])b.Clone();
        }
        return (_dims, _plan);
    }

    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output)
    {
        var (d, plan) = Prepare(inputs[0].Shape, inputs[1].Shape);
        int M = d.M, K = d.K, N = d.N;
        float[] a = inputs[0].Data, b = inputs[1].Data, y = output.Data;
        if (K == 0)
        {
            output.Clear();
            return;
        }
        Span<int> off = stackalloc int[2];
        for (int r = 0; r < plan.Runs; r++)
        {
            plan.Offsets(r, off);
            for (int j = 0; j < plan.Inner; j++)
            {
                int i = r * plan.Inner + j, ia = off[0] + j * plan.InnerStride[0], ib = off[1] + j * plan.InnerStride[1];
                // y_i [M, N] = A_i [M, K] * B_i [K, N]
                Gemm.Multiply(false, false, M, N, K, a.AsSpan(ia * M * K, M * K), K, b.AsSpan(ib * K * N, K * N), N,
                    y.AsSpan(i * M * N, M * N), N, false);
            }
        }
    }

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        var (d, plan) = Prepare(inputs[0].Shape, inputs[1].Shape);
        int M = d.M, K = d.K, N = d.N;
        float[] a = inputs[0].Data, b = inputs[1].Data, dy = dOutput.Data;
        float[]? da = dInputs[0]?.Data, db = dInputs[1]?.Data;
        Span<int> off = stackalloc int[2];
        // Broadcast batches accumulate into the one matrix they were read from: the GEMMs add, one after another.
        for (int r = 0; r < plan.Runs; r++)
        {
            plan.Offsets(r, off);
            for (int j = 0; j < plan.Inner; j++)
            {
                int i = r * plan.Inner + j, ia = off[0] + j * plan.InnerStride[0], ib = off[1] + j * plan.InnerStride[1];
                var g = dy.AsSpan(i * M * N, M * N);
                // dA [M, K] += dY [M, N] * B^T [N, K];  dB [K, N] += A^T [K, M] * dY [M, N]
                if (da is not null) Gemm.Multiply(false, true, M, K, N, g, N, b.AsSpan(ib * K * N, K * N), N, da.AsSpan(ia * M * K, M * K), K, true);
                if (db is not null) Gemm.Multiply(true, false, K, N, M, a.AsSpan(ia * M * K, M * K), K, g, N, db.AsSpan(ib * K * N, K * N), N, true);
            }
        }
    }
}

/// <summary>
/// ONNX Gemm on computed operands: Y [M, N] = Alpha * op(A) * op(B) + Beta * C, op a transpose when TransA/TransB,
/// C optional and broadcast to [M, N] (numpy rules, one direction only).
/// </summary>
public sealed class GemmOp(float alpha = 1f, float beta = 1f, bool transA = false, bool transB = false) : Layer
{
    public float Alpha { get; } = alpha;
    public float Beta { get; } = beta;
    public bool TransA { get; } = transA;
    public bool TransB { get; } = transB;

    private float[] _scaled = [];

    // M, K, N and the walk of C for the last input shapes (a steady forward must not allocate).
    private int[] _shapeA = [], _shapeB = [], _shapeC = [];
    private (int M, int K, int N) _mkn;
    private BroadcastPlan? _cPlan;

    private (int M, int K, int N) Prepare(IReadOnlyList<Tensor> inputs)
    {
        int[]? c = inputs.Count == 3 ? inputs[2].Shape : null;
        bool same = Tensor.SameShape(_shapeA, inputs[0].Shape) && Tensor.SameShape(_shapeB, inputs[1].Shape)
            && (c is null ? _cPlan is null : _cPlan is not null && Tensor.SameShape(_shapeC, c));
        if (same && _shapeA.Length == 2) return _mkn;
        var shapes = new List<int[]> { inputs[0].Shape, inputs[1].Shape };
        if (c is not null) shapes.Add(c);
        _mkn = Resolve(shapes);
        _cPlan = c is null ? null : BroadcastPlan.Create([_mkn.M, _mkn.N], [c]);
        _shapeA = (int[])inputs[0].Shape.Clone();
        _shapeB = (int[])inputs[1].Shape.Clone();
        _shapeC = c is null ? [] : (int[])c.Clone();
        return _mkn;
    }

    private (int M, int K, int N) Resolve(IReadOnlyList<int[]> inputs)
    {
        if (inputs.Count is not (2 or 3)) throw ShapeError($"expects 2 or 3 inputs, got {inputs.Count}");
        int[] a = ExpectRank(inputs[0], 2), b = ExpectRank(inputs[1], 2);
        int m = TransA ? a[1] : a[0], k = TransA ? a[0] : a[1];
        int k2 = TransB ? b[1] : b[0], n = TransB ? b[0] : b[1];
        if (k != k2) throw ShapeError($"cannot multiply op(A) of {Tensor.Format(a)} by op(B) of {Tensor.Format(b)}");
        if (inputs.Count == 3 && !Tensor.SameShape(Broadcast.Shape(this, [inputs[2], [m, n]]), [m, n]))
            throw ShapeError($"C {Tensor.Format(inputs[2])} does not broadcast to [{m}x{n}]");
        return (m, k, n);
    }

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        var (m, _, n) = Resolve(inputs);
        return [m, n];
    }

    public override long MultiplyAdds(IReadOnlyList<int[]> inputs)
    {
        var (m, k, n) = Resolve(inputs);
        return (long)m * k * n;
    }

    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output)
    {
        var (M, K, N) = Prepare(inputs);
        float[] y = output.Data;
        if (K == 0) output.Clear();
        else Gemm.Multiply(TransA, TransB, M, N, K, inputs[0].Data, TransA ? M : K, inputs[1].Data, TransB ? K : N, y, N, false);
        if (Alpha != 1f) TensorPrimitives.Multiply(y, Alpha, y);
        if (_cPlan is not { } plan) return;
        float[] c = inputs[2].Data;
        Span<int> off = stackalloc int[1];
        for (int r = 0; r < plan.Runs; r++)
        {
            plan.Offsets(r, off);
            var row = y.AsSpan(r * plan.Inner, plan.Inner);
            if (plan.InnerStride[0] == 0) TensorPrimitives.Add(row, Beta * c[off[0]], row);
            else TensorPrimitives.MultiplyAdd(c.AsSpan(off[0], plan.Inner), Beta, row, row);
        }
    }

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        var (M, K, N) = Prepare(inputs);
        float[] a = inputs[0].Data, b = inputs[1].Data;
        int lda = TransA ? M : K, ldb = TransB ? K : N;
        if (_scaled.Length < dOutput.Length) _scaled = new float[dOutput.Length];
        var g = _scaled.AsSpan(0, dOutput.Length); // Alpha * dY
        TensorPrimitives.Multiply(dOutput.Data, Alpha, g);
        if (dInputs[0] is { } dA)
        {
            // dop(A) [M, K] = g [M, N] * op(B)^T; stored transposed when TransA.
            if (!TransA) Gemm.Multiply(false, !TransB, M, K, N, g, N, b, ldb, dA.Data, K, true);
            else Gemm.Multiply(TransB, true, K, M, N, b, ldb, g, N, dA.Data, M, true);
        }
        if (dInputs[1] is { } dB)
        {
            // dop(B) [K, N] = op(A)^T * g [M, N]; stored transposed when TransB.
            if (!TransB) Gemm.Multiply(!TransA, false, K, N, M, a, lda, g, N, dB.Data, N, true);
            else Gemm.Multiply(true, TransA, N, K, M, g, N, a, lda, dB.Data, K, true);
        }
        if (_cPlan is { } plan && dInputs[2] is { } dC)
        {
            float[] dy = dOutput.Data, dc = dC.Data;
            Span<int> off = stackalloc int[1];
            for (int r = 0; r < plan.Runs; r++)
            {
                plan.Offsets(r, off);
                var row = dy.AsSpan(r * plan.Inner, plan.Inner);
                if (plan.InnerStride[0] == 0) dc[off[0]] += Beta * TensorPrimitives.Sum(row);
                else TensorPrimitives.MultiplyAdd(row, Beta, dc.AsSpan(off[0], plan.Inner), dc.AsSpan(off[0], plan.Inner));
            }
        }
    }
}
