// ForwardReferenceTests: every layer's Forward against the naive double-precision definition in Naive.cs, on odd
// shapes, within 1e-5; plus literal ONNX pooling examples and batch-norm running-statistics updates.
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Layers;

namespace CameraCnn.Engine.Tests.Layers;

public sealed class ForwardReferenceTests
{
    private const double Tol = 1e-5;

    private static void Check(double[] expected, int[] expectedShape, Tensor actual, string what)
    {
        TestKit.AssertShape(expectedShape, actual, what);
        TestKit.AssertClose(expected, actual.Data, Tol, Tol, what);
    }

    [Theory]
    [MemberData(nameof(LayerCases.ConvNames), MemberType = typeof(LayerCases))]
    public void Conv2d_matches_eq6(string name)
    {
        var c = LayerCases.Conv[name];
        var rng = new Random(TestKit.Seed(name));
        var conv = c.Build(rng);
        var x = TestKit.RandomTensor(rng, -1, 1, c.InputShape);
        var y = TestKit.Run(conv, false, x);
        var want = Naive.Conv2d(TestKit.ToDouble(x.Data), c.InputShape, TestKit.ToDouble(conv.Weight.Value.Data),
            c.Bias ? TestKit.ToDouble(conv.Bias!.Value.Data) : null, c.OC, c.Groups, c.G, out var ys);
        Check(want, ys, y, $"Conv2d {name}");
        // Forward twice (buffers are reused) gives the same result.
        var y2 = TestKit.Run(conv, false, x);
        Assert.Equal(y.Data, y2.Data);
    }

    [Theory]
    [MemberData(nameof(LayerCases.PoolNames), MemberType = typeof(LayerCases))]
    public void MaxPool2d_matches_definition(string name)
    {
        var c = LayerCases.Pool[name];
        var rng = new Random(11);
        var x = TestKit.RandomTensor(rng, -1, 1, c.InputShape);
        var y = TestKit.Run(new MaxPool2d(c.G, c.Ceil), false, x);
        Check(Naive.MaxPool(TestKit.ToDouble(x.Data), c.InputShape, c.G, c.Ceil, out var ys), ys, y, $"MaxPool2d {name}");
    }

    [Fact]
    public void MaxPool2d_dilation2()
    {
        var g = new Window2d(2, 3, 1, 2, 1, 0, 0, 1, DH: 2, DW: 2);
        var x = TestKit.RandomTensor(new Random(3), -1, 1, 2, 3, 7, 8);
        var y = TestKit.Run(new MaxPool2d(g), false, x);
        Check(Naive.MaxPool(TestKit.ToDouble(x.Data), x.Shape, g, false, out var ys), ys, y, "MaxPool2d dilation 2");
    }

    [Theory]
    [MemberData(nameof(AvgPoolCases))]
    public void AvgPool2d_matches_definition(string name, bool countIncludePad)
    {
        var c = LayerCases.Pool[name];
        var rng = new Random(12);
        var x = TestKit.RandomTensor(rng, -1, 1, c.InputShape);
        var y = TestKit.Run(new AvgPool2d(c.G, c.Ceil, countIncludePad), false, x);
        var want = Naive.AvgPool(TestKit.ToDouble(x.Data), c.InputShape, c.G, c.Ceil, countIncludePad, out var ys);
        Check(want, ys, y, $"AvgPool2d {name} count_include_pad={countIncludePad}");
    }

    public static TheoryData<string, bool> AvgPoolCases()
    {
        var d = new TheoryData<string, bool>();
        foreach (var k in LayerCases.Pool.Keys) { d.Add(k, false); d.Add(k, true); }
        return d;
    }

    private static Tensor Ramp(int h, int w)
    {
        var t = new Tensor(1, 1, h, w);
        for (int i = 0; i < t.Length; i++) t.Data[i] = i + 1;
        return t;
    }

    [Fact]
    public void Onnx_pooling_examples()
    {
        // maxpool_2d_ceil / averagepool_2d_ceil: X = 1..16 (4x4), kernel 3, stride 2, ceil_mode.
        var x4 = Ramp(4, 4);
        Assert.Equal([11f, 12f, 15f, 16f], TestKit.Run(new MaxPool2d(3, 2, ceilMode: true), false, x4).Data);
        Assert.Equal([6f, 7.5f, 12f, 13.5f], TestKit.Run(new AvgPool2d(3, 2, ceilMode: true), false, x4).Data);

        // maxpool_2d_precomputed_pads / averagepool_2d_precomputed_pads(_count_include_pad): X = 1..25, kernel 5, pads 2.
        var x5 = Ramp(5, 5);
        float[] max =
        [
            13, 14, 15, 15, 15,
            18, 19, 20, 20, 20,
            23, 24, 25, 25, 25,
            23, 24, 25, 25, 25,
            23, 24, 25, 25, 25,
        ];
        Assert.Equal(max, TestKit.Run(new MaxPool2d(5, 1, 2), false, x5).Data);
        double[] avg =
        [
            7, 7.5, 8, 8.5, 9,
            9.5, 10, 10.5, 11, 11.5,
            12, 12.5, 13, 13.5, 14,
            14.5, 15, 15.5, 16, 16.5,
            17, 17.5, 18, 18.5, 19,
        ];
        TestKit.AssertClose(avg, TestKit.Run(new AvgPool2d(5, 1, 2), false, x5).Data, 1e-6, 1e-6, "averagepool_2d_precomputed_pads");
        double[] avgIncl =
        [
            2.52, 3.6, 4.8, 4.08, 3.24,
            4.56, 6.4, 8.4, 7.04, 5.52,
            7.2, 10, 13, 10.8, 8.4,
            6.96, 9.6, 12.4, 10.24, 7.92,
            6.12, 8.4, 10.8, 8.88, 6.84,
        ];
        TestKit.AssertClose(avgIncl, TestKit.Run(new AvgPool2d(5, 1, 2, countIncludePad: true), false, x5).Data, 1e-5, 1e-6,
            "averagepool_2d_precomputed_pads_count_include_pad");
    }

    [Fact]
    public void AvgPool2d_ceil_overhang_is_not_counted_even_with_count_include_pad()
    {
        // 1x1x1x4 row [1,2,3,4], kernel 1x3, stride 2, pad 1 each side, ceil: windows start at -1, 1, 3.
        // The last window covers [3, 6): position 3 is real, 4 is end padding, 5 is overhang (not counted).
        var x = new Tensor([1, 1, 1, 4], [1, 2, 3, 4]);
        var g = new Window2d(1, 3, 1, 2, 0, 1, 0, 1);
        var incl = TestKit.Run(new AvgPool2d(g, ceilMode: true, countIncludePad: true), false, x);
        TestKit.AssertClose([(0 + 1 + 2) / 3.0, (2 + 3 + 4) / 3.0, 4 / 2.0], incl.Data, 1e-6, 1e-6, "count_include_pad");
        var excl = TestKit.Run(new AvgPool2d(g, ceilMode: true, countIncludePad: false), false, x);
        TestKit.AssertClose([1.5, 3.0, 4.0], excl.Data, 1e-6, 1e-6, "exclude pad");
    }

    [Fact]
    public void GlobalAvgPool_is_the_plane_mean()
    {
        var x = TestKit.RandomTensor(new Random(4), -1, 1, 3, 4, 5, 7);
        var y = TestKit.Run(new GlobalAvgPool(), false, x);
        Check(Naive.GlobalAvgPool(TestKit.ToDouble(x.Data), x.Shape), [3, 4, 1, 1], y, "GlobalAvgPool");
    }

    [Fact]
    public void Activations()
    {
        var x = TestKit.RandomTensor(new Random(5), -4, 4, 3, 2, 5, 7);
        x.Data[0] = 0; x.Data[1] = -30; x.Data[2] = 30; x.Data[3] = -0f;
        double[] xd = TestKit.ToDouble(x.Data);
        Check(Naive.Map(xd, Naive.ReLU), x.Shape, TestKit.Run(new ReLU(), false, x), "ReLU");
        Check(Naive.Map(xd, v => v > 0 ? v : 0.01 * v), x.Shape, TestKit.Run(new LeakyReLU(), false, x), "LeakyReLU default");
        Check(Naive.Map(xd, v => v > 0 ? v : 0.2 * v), x.Shape, TestKit.Run(new LeakyReLU(0.2f), false, x), "LeakyReLU 0.2");
        Check(Naive.Map(xd, Naive.Sigmoid), x.Shape, TestKit.Run(new Sigmoid(), false, x), "Sigmoid");
        Check(Naive.Map(xd, Math.Tanh), x.Shape, TestKit.Run(new Tanh(), false, x), "Tanh");
    }

    [Fact]
    public void BatchNorm2d_training_uses_batch_statistics_and_updates_running_averages()
    {
        var rng = new Random(6);
        var bn = new BatchNorm2d(4, epsilon: 1e-3f, momentum: 0.8f);
        TestKit.Randomize(bn.Scale, rng, 0.5f, 2f);
        TestKit.Randomize(bn.Shift, rng);
        TestKit.Randomize(bn.RunningMean, rng);
        TestKit.Randomize(bn.RunningVar, rng, 0.5f, 2f);
        double[] rm0 = TestKit.ToDouble(bn.RunningMean.Value.Data), rv0 = TestKit.ToDouble(bn.RunningVar.Value.Data);
        var x = TestKit.RandomTensor(rng, -2, 3, 3, 4, 5, 3);
        double[] xd = TestKit.ToDouble(x.Data);
        var y = TestKit.Run(bn, true, x);
        Check(Naive.BatchNormTraining(xd, x.Shape, TestKit.ToDouble(bn.Scale.Value.Data), TestKit.ToDouble(bn.Shift.Value.Data), 1e-3f),
            x.Shape, y, "BatchNorm2d training");
        // running = momentum * running + (1 - momentum) * batch, with the unbiased batch variance (ONNX).
        var (mean, _, unbiased) = Naive.ChannelStats(xd, x.Shape);
        double m = 0.8f;
        TestKit.AssertClose(rm0.Select((r, c) => m * r + (1 - m) * mean[c]).ToArray(), bn.RunningMean.Value.Data, 1e-6, 1e-5, "running mean");
        TestKit.AssertClose(rv0.Select((r, c) => m * r + (1 - m) * unbiased[c]).ToArray(), bn.RunningVar.Value.Data, 1e-6, 1e-5, "running var");
    }

    [Fact]
    public void BatchNorm2d_inference_uses_running_statistics_and_leaves_them_alone()
    {
        var rng = new Random(7);
        var bn = new BatchNorm2d(3);
        TestKit.Randomize(bn.Scale, rng, 0.5f, 2f);
        TestKit.Randomize(bn.Shift, rng);
        TestKit.Randomize(bn.RunningMean, rng);
        TestKit.Randomize(bn.RunningVar, rng, 0.2f, 3f);
        float[] rm = (float[])bn.RunningMean.Value.Data.Clone(), rv = (float[])bn.RunningVar.Value.Data.Clone();
        var x = TestKit.RandomTensor(rng, -2, 2, 3, 3, 4, 5);
        var y = TestKit.Run(bn, false, x);
        Check(Naive.BatchNorm(TestKit.ToDouble(x.Data), x.Shape, TestKit.ToDouble(bn.Scale.Value.Data), TestKit.ToDouble(bn.Shift.Value.Data),
            TestKit.ToDouble(rm), TestKit.ToDouble(rv), 1e-5f), x.Shape, y, "BatchNorm2d inference");
        Assert.Equal(rm, bn.RunningMean.Value.Data);
        Assert.Equal(rv, bn.RunningVar.Value.Data);
    }

    [Fact]
    public void BatchNorm2d_Rank2Input()
    {
        var rng = new Random(8);
        var bn = new BatchNorm2d(5);
        TestKit.Randomize(bn.Scale, rng);
        TestKit.Randomize(bn.Shift, rng);
        var x = TestKit.RandomTensor(rng, -1, 1, 7, 5);
        var y = TestKit.Run(bn, true, x);
        Check(Naive.BatchNormTraining(TestKit.ToDouble(x.Data), x.Shape, TestKit.ToDouble(bn.Scale.Value.Data),
            TestKit.ToDouble(bn.Shift.Value.Data), 1e-5f), x.Shape, y, "BatchNorm2d [N, C]");
    }

    [Fact]
    public void Dense_is_affine()
    {
        var rng = new Random(9);
        foreach (bool bias in new[] { true, false })
        {
            var dense = new Dense(7, 5, bias);
            foreach (var p in dense.Parameters) TestKit.Randomize(p, rng);
            var x = TestKit.RandomTensor(rng, -1, 1, 3, 7);
            var y = TestKit.Run(dense, false, x);
            Check(Naive.Dense(TestKit.ToDouble(x.Data), 3, 7, TestKit.ToDouble(dense.Weight.Value.Data),
                bias ? TestKit.ToDouble(dense.Bias!.Value.Data) : null, 5), [3, 5], y, $"Dense bias={bias}");
        }
    }

    [Fact]
    public void Flatten_keeps_the_data_in_order()
    {
        var x = TestKit.RandomTensor(new Random(10), -1, 1, 3, 2, 3, 5);
        var y = TestKit.Run(new Flatten(), false, x);
        TestKit.AssertShape([3, 30], y, "Flatten");
        Assert.Equal(x.Data, y.Data);
    }

    [Fact]
    public void Dropout_inference_is_identity()
    {
        var x = TestKit.RandomTensor(new Random(11), -1, 1, 3, 4, 5, 6);
        Assert.Equal(x.Data, TestKit.Run(new Dropout(0.5f), false, x).Data);
        Assert.Equal(x.Data, TestKit.Run(new Dropout(0f), true, x).Data);
    }

    [Fact]
    public void Dropout_training_zeroes_about_p_and_scales_the_rest()
    {
        const float p = 0.3f;
        var rng = new Random(12);
        var x = TestKit.RandomTensor(rng, 0.5f, 1.5f, 4, 5, 40, 25);
        for (int i = 0; i < x.Length; i += 2) x.Data[i] = -x.Data[i];
        var y = TestKit.Run(new Dropout(p, seed: 3), true, x);
        int zeros = 0;
        for (int i = 0; i < x.Length; i++)
        {
            if (y.Data[i] == 0) { zeros++; continue; }
            double want = x.Data[i] / (1.0 - p);
            Assert.True(Math.Abs(y.Data[i] - want) <= 1e-6 * Math.Abs(want), $"element {i}: {y.Data[i]}, expected 0 or {want}");
        }
        double fraction = (double)zeros / x.Length; // 20000 draws: sd 0.0032
        Assert.InRange(fraction, p - 0.02, p + 0.02);
        // Seeded: the same seed reproduces the mask.
        Assert.Equal(y.Data, TestKit.Run(new Dropout(p, seed: 3), true, x).Data);
    }

    [Fact]
    public void ResidualAdd_is_the_sum()
    {
        var rng = new Random(13);
        var a = TestKit.RandomTensor(rng, -1, 1, 3, 2, 5, 3);
        var b = TestKit.RandomTensor(rng, -1, 1, 3, 2, 5, 3);
        var y = TestKit.Run(new ResidualAdd(), false, a, b);
        Assert.Equal(a.Data.Zip(b.Data, (u, v) => u + v).ToArray(), y.Data);
        Assert.Throws<ShapeException>(() => new ResidualAdd().OutputShape([[3, 2, 5, 3], [3, 2, 3, 5]]));
    }

    [Fact]
    public void Softmax_matches_definition()
    {
        var x = TestKit.RandomTensor(new Random(14), -5, 5, 4, 7);
        var y = TestKit.Run(new Softmax(), false, x);
        Check(Naive.Softmax(TestKit.ToDouble(x.Data), 4, 7), [4, 7], y, "Softmax");
    }

    [Fact]
    public void Softmax_large_logits_do_not_overflow()
    {
        // The layer documents "computed with the max subtracted": logits of 1000 must not give Inf/Inf = NaN.
        var x = new Tensor([2, 4], [1000, 0, -1000, 999, 90, 89, 88, 87]);
        var y = TestKit.Run(new Softmax(), false, x);
        Check(Naive.Softmax(TestKit.ToDouble(x.Data), 2, 4), [2, 4], y, "Softmax large logits");
    }
}
