// GenericLayerGradientTests: the generic tensor layers the ONNX importer builds (broadcasting element-wise ops,
// Concat, SplitPart, Reshape family, Transpose, Pad, MatMul, GemmOp, Clip/Neg/Exp, axis Softmax, GlobalMaxPool,
// Spatial1d): forward against NdNaive and Backward against central finite differences (TestKit.CheckGradients).
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Tests.Layers;

namespace CameraCnn.Engine.Tests.Conformance;

public sealed class GenericLayerGradientTests
{
    private static Tensor Random(Random rng, int[] shape, float lo = -1, float hi = 1) => TestKit.RandomTensor(rng, lo, hi, shape);

    /// <summary>Values on a 0.01 grid, shifted by 0.003 per input, so no two inputs tie within the finite-difference step.</summary>
    private static Tensor Gridded(Random rng, int[] shape, int input)
    {
        var t = new Tensor(shape);
        for (int i = 0; i < t.Length; i++) t.Data[i] = rng.Next(-100, 100) * 0.01f + input * 0.003f;
        return t;
    }

    public static TheoryData<string, ElementwiseOp, int[][]> ElementwiseCases => new()
    {
        { "add_suffix", ElementwiseOp.Add, [[2, 3, 4], [4]] },
        { "add_both_ways", ElementwiseOp.Add, [[2, 1, 4], [3, 1]] },
        { "add_scalar", ElementwiseOp.Add, [[], [2, 3]] },
        { "sub_outer", ElementwiseOp.Sub, [[3, 1, 5], [1, 4, 1]] },
        { "sub_first_broadcast", ElementwiseOp.Sub, [[5], [2, 5]] },
        { "mul_same", ElementwiseOp.Mul, [[2, 3, 4], [2, 3, 4]] },
        { "mul_outer", ElementwiseOp.Mul, [[2, 1], [1, 3]] },
        { "div_channel", ElementwiseOp.Div, [[2, 3, 4], [3, 1]] },
        { "div_scalar_numerator", ElementwiseOp.Div, [[1], [2, 3]] },
        { "sum_three", ElementwiseOp.Add, [[4, 1, 3], [5, 1], [1]] },
        { "max_three", ElementwiseOp.Max, [[2, 3], [3], [2, 1]] },
        { "min_two", ElementwiseOp.Min, [[3, 4], [3, 1]] },
        { "max_one", ElementwiseOp.Max, [[2, 5]] },
    };

    [Theory]
    [MemberData(nameof(ElementwiseCases))]
    public void Elementwise(string name, ElementwiseOp op, int[][] shapes)
    {
        var rng = new Random(TestKit.Seed(name));
        var inputs = shapes.Select((s, k) => op is ElementwiseOp.Max or ElementwiseOp.Min ? Gridded(rng, s, k) : Random(rng, s)).ToArray();
        if (op == ElementwiseOp.Div)
            for (int i = 0; i < inputs[1].Length; i++) inputs[1].Data[i] = (0.5f + inputs[1].Data[i] * inputs[1].Data[i]) * (i % 2 == 0 ? 1 : -1);
        TestKit.CheckGradients(new Elementwise(op), inputs, false, (xs, _) => NdNaive.Elementwise(op, xs, shapes));
    }

    [Fact]
    public void ResidualAdd_broadcasts()
    {
        var rng = new Random(5);
        int[] sa = [2, 3, 4], sb = [3, 1];
        TestKit.CheckGradients(new ResidualAdd(), [Random(rng, sa), Random(rng, sb)], false,
            (xs, _) => NdNaive.Elementwise(ElementwiseOp.Add, xs, [sa, sb]));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(-2)]
    [InlineData(0)]
    public void Concat(int axis)
    {
        int[][] shapes = axis switch { 0 => [[1, 2, 3], [3, 2, 3]], _ => [[2, 1, 3], [2, 4, 3], [2, 2, 3]] };
        var rng = new Random(6 + axis);
        int resolved = axis < 0 ? axis + 3 : axis;
        TestKit.CheckGradients(new Concat(axis), shapes.Select(s => Random(rng, s)).ToArray(), false,
            (xs, _) => NdNaive.Concat(xs, shapes, resolved));
    }

    [Fact]
    public void Split_parts_given_sizes_and_equal_parts()
    {
        var rng = new Random(7);
        int[] shape = [2, 3, 6];
        long[] sizes = [1, 3, 2];
        for (int k = 0; k < 3; k++)
        {
            int start = (int)sizes.Take(k).Sum(), length = (int)sizes[k];
            TestKit.CheckGradients(new SplitPart(-1, k, 3, sizes), [Random(rng, shape)], false,
                (xs, _) => NdNaive.Slice(xs[0], shape, 2, start, length));
        }
        int[] even = [4, 3];
        for (int k = 0; k < 2; k++)
        {
            int start = 2 * k;
            TestKit.CheckGradients(new SplitPart(0, k, 2), [Random(rng, even)], false, (xs, _) => NdNaive.Slice(xs[0], even, 0, start, 2));
        }
    }

    [Fact]
    public void Reshape_family_pass_the_error_straight_back()
    {
        var rng = new Random(8);
        Layer[] layers = [new Reshape([0, -1, 2]), new Squeeze([1]), new Squeeze(), new Unsqueeze([-1, 0]), new Flatten(2), new Flatten(-1), new Identity()];
        foreach (var layer in layers)
            TestKit.CheckGradients(layer, [Random(rng, [2, 1, 3, 2])], false, (xs, _) => (double[])xs[0].Clone());
    }

    [Theory]
    [InlineData(new[] { 2, 0, 1 })]
    [InlineData(new[] { 1, 0, 2 })]
    [InlineData(null)]
    public void Transpose(int[]? perm)
    {
        int[] shape = [2, 3, 4];
        var rng = new Random(9);
        int[] p = perm ?? [2, 1, 0];
        TestKit.CheckGradients(new Transpose(perm), [Random(rng, shape)], false, (xs, _) => NdNaive.Transpose(xs[0], shape, p));
    }

    [Theory]
    [InlineData(PadMode.Constant, new long[] { 0, 1, 2, 1, -1, 0 })]
    [InlineData(PadMode.Reflect, new long[] { 1, 2, 3, 0, 1, 5 })]
    [InlineData(PadMode.Edge, new long[] { 0, 2, 1, 1, 0, 3 })]
    public void Pad(PadMode mode, long[] pads)
    {
        int[] shape = [2, 3, 3];
        var rng = new Random(10);
        TestKit.CheckGradients(new Pad(pads, mode, 0.25f), [Random(rng, shape)], false,
            (xs, _) => NdNaive.Pad(xs[0], shape, pads, mode, 0.25));
    }

    public static TheoryData<int[], int[]> MatMulCases => new()
    {
        { [3, 4], [4, 5] },
        { [2, 1, 3, 4], [3, 4, 5] },
        { [4], [2, 4, 3] },
        { [2, 3, 4], [4] },
        { [4], [4] },
    };

    [Theory]
    [MemberData(nameof(MatMulCases))]
    public void MatMul(int[] sa, int[] sb)
    {
        var rng = new Random(11 + sa.Length * 3 + sb.Length);
        TestKit.CheckGradients(new MatMul(), [Random(rng, sa), Random(rng, sb)], false,
            (xs, ps) => NdNaive.MatMul(xs[0], sa, xs[1], sb, out _));
    }

    [Theory]
    [InlineData(false, false, new[] { 5 })]
    [InlineData(true, false, new[] { 3, 5 })]
    [InlineData(false, true, new[] { 3, 1 })]
    [InlineData(true, true, new int[0])]
    [InlineData(true, true, null)]
    public void GemmOp(bool transA, bool transB, int[]? cShape)
    {
        const int m = 3, k = 4, n = 5;
        var rng = new Random(12);
        int[] sa = transA ? [k, m] : [m, k], sb = transB ? [n, k] : [k, n];
        var inputs = new List<Tensor> { Random(rng, sa), Random(rng, sb) };
        if (cShape is not null) inputs.Add(Random(rng, cShape));
        TestKit.CheckGradients(new GemmOp(0.7f, -1.3f, transA, transB), inputs.ToArray(), false,
            (xs, _) => NdNaive.Gemm(xs[0], sa, xs[1], sb, cShape is null ? null : xs[2], cShape, 0.7, -1.3, transA, transB));
    }

    [Fact]
    public void Clip_Neg_Exp()
    {
        var rng = new Random(13);
        var x = Random(rng, [3, 4, 5]);
        TestKit.CheckGradients(new Clip(-0.5f, 0.7f), [x], false, (xs, _) => xs[0].Select(v => Math.Clamp(v, -0.5, 0.7)).ToArray(),
            skip: (_, e) => Math.Abs(x.Data[e] + 0.5f) < 1e-3 || Math.Abs(x.Data[e] - 0.7f) < 1e-3);
        TestKit.CheckGradients(new Neg(), [x], false, (xs, _) => xs[0].Select(v => -v).ToArray());
        TestKit.CheckGradients(new Exp(), [x], false, (xs, _) => xs[0].Select(Math.Exp).ToArray());
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(1, true)]
    [InlineData(0, false)]
    [InlineData(-1, false)]
    [InlineData(2, true)]
    public void Softmax(int axis, bool coerce2d)
    {
        int[] shape = [2, 3, 4, 2];
        var rng = new Random(14 + axis);
        int resolved = axis < 0 ? axis + shape.Length : axis;
        TestKit.CheckGradients(new Softmax(axis, coerce2d), [Random(rng, shape, -3, 3)], false,
            (xs, _) => NdNaive.Softmax(xs[0], shape, resolved, coerce2d));
    }

    [Theory]
    [InlineData(new[] { 2, 3, 4, 5 })]
    [InlineData(new[] { 2, 3, 7 })]
    public void GlobalMaxPool(int[] shape)
    {
        var x = Gridded(new Random(15), shape, 0);
        // Gridded values repeat; make each plane's values distinct so the arg-max is unique.
        for (int i = 0; i < x.Length; i++) x.Data[i] = i * 0.37f % 1.9f - 0.9f;
        int planes = shape[0] * shape[1], size = x.Length / planes;
        TestKit.CheckGradients(new GlobalMaxPool(), [x], false,
            (xs, _) => Enumerable.Range(0, planes).Select(p => xs[0].Skip(p * size).Take(size).Max()).ToArray());
    }

    [Fact]
    public void Spatial1d_conv_MaxPool_avg_pool()
    {
        var rng = new Random(16);
        int[] shape = [2, 4, 9];
        var window = new Window2d(1, 3, 1, 2, 0, 2, 0, 1, 1, 2); // kernel 3, stride 2, pads 2/1, dilation 2
        var conv = new Conv2d(4, 6, window, groups: 2);
        foreach (var p in conv.Parameters) TestKit.Randomize(p, rng);
        var x = Random(rng, shape);
        int[] lifted = [2, 4, 1, 9];
        TestKit.CheckGradients(new Spatial1d(conv), [x], false,
            (xs, ps) => Naive.Conv2d(xs[0], lifted, ps[0], ps[1], 6, 2, window, out _));

        var pool = new Window2d(1, 3, 1, 2, 0, 1, 0, 1);
        var distinct = new Tensor(shape);
        for (int i = 0; i < distinct.Length; i++) distinct.Data[i] = (i * 37 % distinct.Length) * 0.01f - 0.3f;
        TestKit.CheckGradients(new Spatial1d(new MaxPool2d(pool, ceilMode: true)), [distinct], false,
            (xs, ps) => Naive.MaxPool(xs[0], lifted, pool, true, out _));
        TestKit.CheckGradients(new Spatial1d(new AvgPool2d(pool, countIncludePad: true)), [x], false,
            (xs, ps) => Naive.AvgPool(xs[0], lifted, pool, false, true, out _));
    }
}
