// Transpose: permutes the axes of a tensor of any rank (ONNX Transpose); backward scatters the error back through
// the same index map.
namespace CameraCnn.Engine.Layers;

/// <summary>Output axis i is input axis <see cref="Perm"/>[i]; a null permutation reverses the axes (the ONNX default).</summary>
public sealed class Transpose(int[]? perm = null) : Layer
{
    public int[]? Perm { get; } = perm is null ? null : (int[])perm.Clone();

    private int[] Resolve(int rank)
    {
        if (Perm is null) return Enumerable.Range(0, rank).Reverse().ToArray();
        if (Perm.Length != rank || !Perm.Order().SequenceEqual(Enumerable.Range(0, rank)))
            throw ShapeError($"perm [{string.Join(",", Perm)}] is not a permutation of the axes of a rank-{rank} input");
        return Perm;
    }

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs, 1);
        var x = inputs[0];
        return Resolve(x.Length).Select(a => x[a]).ToArray();
    }

    // The index map for the last input shape (a forward must not allocate once shapes are steady).
    private int[] _shape = [], _p = [], _xStride = [], _yShape = [];

    private void Prepare(int[] x)
    {
        if (_p.Length == x.Length && Tensor.SameShape(_shape, x)) return;
        Rebuild(x);
    }

    // Apart from Prepare: a lambda capturing x would allocate its closure on every call of the method that holds it.
    private void Rebuild(int[] x)
    {
        _p = Resolve(x.Length);
        _xStride = new int[x.Length];
        for (int d = x.Length - 1, s = 1; d >= 0; d--) { _xStride[d] = s; s *= x[d]; }
        _yShape = _p.Select(a => x[a]).ToArray();
        _shape = (int[])x.Clone();
    }

    /// <summary>Input offset of output row r (a row runs along the output's last axis).</summary>
    private int RowSource(int r)
    {
        int src = 0;
        for (int d = _yShape.Length - 2; d >= 0; d--)
        {
            int i = r % _yShape[d];
            r /= _yShape[d];
            src += i * _xStride[_p[d]];
        }
        return src;
    }

    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output)
    {
        float[] x = inputs[0].Data, y = output.Data;
        if (output.Rank == 0 || output.Length == 0)
        {
            x.AsSpan().CopyTo(y);
            return;
        }
        Prepare(inputs[0].Shape);
        int inner = _yShape[^1], stride = _xStride[_p[^1]], rows = y.Length / inner;
        for (int r = 0; r < rows; r++)
        {
            int src = RowSource(r), o = r * inner;
            for (int j = 0; j < inner; j++) y[o + j] = x[src + j * stride];
        }
    }

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        if (dInputs[0] is not { } dX) return;
        float[] dy = dOutput.Data, dx = dX.Data;
        if (output.Rank == 0 || output.Length == 0)
        {
            System.Numerics.Tensors.TensorPrimitives.Add(dx, dy, dx);
            return;
        }
        Prepare(inputs[0].Shape);
        int inner = _yShape[^1], stride = _xStride[_p[^1]], rows = dy.Length / inner;
        for (int r = 0; r < rows; r++)
        {
            int src = RowSource(r), o = r * inner;
            for (int j = 0; j < inner; j++) dx[src + j * stride] += dy[o + j];
        }
    }
}
