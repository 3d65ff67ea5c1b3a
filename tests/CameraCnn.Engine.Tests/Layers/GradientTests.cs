// GradientTests: every layer's Backward (input gradients and every trainable parameter gradient) against central
// finite differences of the naive double-precision forward (Naive.cs), for L = sum(output * R); and a small graph
// with a residual fan-out trained through Graph.Backward and Loss.SoftmaxCrossEntropy.
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Training;

namespace CameraCnn.Engine.Tests.Layers;

public sealed class GradientTests
{
    /// <summary>Distinct values 0.01 apart in random order: no max-pool ties, no points near the ReLU kink at 0.</summary>
    private static Tensor DistinctTensor(Random rng, params int[] shape)
    {
        var t = new Tensor(shape);
        int[] perm = Enumerable.Range(0, t.Length).OrderBy(_ => rng.Next()).ToArray();
        for (int i = 0; i < t.Length; i++) t.Data[i] = (perm[i] - t.Length / 2 + 0.5f) * 0.01f;
        return t;
    }

    /// <summary>Skips an element within 1e-3 of another element of the same plane (a potential max-pool tie).</summary>
    private static Func<int, int, bool> TieSkip(Tensor x)
    {
        int plane = x.H * x.W;
        return (_, e) =>
        {
            int p0 = e / plane * plane;
            for (int j = p0; j < p0 + plane; j++)
                if (j != e && Math.Abs(x.Data[j] - x.Data[e]) < 1e-3) return true;
            return false;
        };
    }

    private static Func<int, int, bool> KinkSkip(Tensor x) => (_, e) => Math.Abs(x.Data[e]) < 1e-3;

    [Theory]
    [MemberData(nameof(LayerCases.ConvNames), MemberType = typeof(LayerCases))]
    public void Conv2d(string name)
    {
        var c = LayerCases.Conv[name];
        var rng = new Random(TestKit.Seed(name) + 1);
        var conv = c.Build(rng);
        var x = TestKit.RandomTensor(rng, -1, 1, c.InputShape);
        TestKit.CheckGradients(conv, [x], false, c.Reference);
    }

    [Fact]
    public void Conv2d_null_input_gradient_still_gives_weight_gradients()
    {
        var c = LayerCases.Conv["groups2_dil2_stride2x3_asym"];
        var rng = new Random(2);
        var conv = c.Build(rng);
        var x = TestKit.RandomTensor(rng, -1, 1, c.InputShape);
        var y = TestKit.Run(conv, false, x);
        var r = TestKit.RandomTensor(rng, -1, 1, y.Shape);
        conv.Backward([x], y, r, [new Tensor(x.Shape)]);
        float[] dw = (float[])conv.Weight.Grad.Data.Clone(), db = (float[])conv.Bias!.Grad.Data.Clone();
        conv.Weight.Grad.Clear();
        conv.Bias.Grad.Clear();
        conv.Backward([x], y, r, [null]);
        Assert.Equal(dw, conv.Weight.Grad.Data);
        Assert.Equal(db, conv.Bias.Grad.Data);
    }

    [Theory]
    [MemberData(nameof(LayerCases.PoolNames), MemberType = typeof(LayerCases))]
    public void MaxPool2d(string name)
    {
        var c = LayerCases.Pool[name];
        var x = DistinctTensor(new Random(TestKit.Seed(name)), c.InputShape);
        TestKit.CheckGradients(new MaxPool2d(c.G, c.Ceil), [x], false,
            (xs, ps) => Naive.MaxPool(xs[0], c.InputShape, c.G, c.Ceil, out _), skip: TieSkip(x));
    }

    [Fact]
    public void MaxPool2d_dilation()
    {
        var g = new Window2d(2, 3, 1, 2, 1, 0, 0, 1, DH: 2, DW: 2);
        var x = DistinctTensor(new Random(31), 2, 2, 7, 8);
        TestKit.CheckGradients(new MaxPool2d(g), [x], false, (xs, ps) => Naive.MaxPool(xs[0], x.Shape, g, false, out _), skip: TieSkip(x));
    }

    [Theory]
    [MemberData(nameof(ForwardReferenceTests.AvgPoolCases), MemberType = typeof(ForwardReferenceTests))]
    public void AvgPool2d(string name, bool countIncludePad)
    {
        var c = LayerCases.Pool[name];
        var x = TestKit.RandomTensor(new Random(TestKit.Seed(name)), -1, 1, c.InputShape);
        TestKit.CheckGradients(new AvgPool2d(c.G, c.Ceil, countIncludePad), [x], false,
            (xs, ps) => Naive.AvgPool(xs[0], c.InputShape, c.G, c.Ceil, countIncludePad, out _));
    }

    [Fact]
    public void GlobalAvgPool()
    {
        var x = TestKit.RandomTensor(new Random(32), -1, 1, 3, 4, 5, 3);
        TestKit.CheckGradients(new GlobalAvgPool(), [x], false, (xs, _) => Naive.GlobalAvgPool(xs[0], x.Shape));
    }

    [Fact]
    public void ReLU()
    {
        var x = TestKit.RandomTensor(new Random(33), -1, 1, 3, 2, 5, 7);
        TestKit.CheckGradients(new ReLU(), [x], false, (xs, _) => Naive.Map(xs[0], Naive.ReLU), skip: KinkSkip(x));
    }

    [Theory]
    [InlineData(0.01f)]
    [InlineData(0.3f)]
    public void LeakyReLU(float alpha)
    {
        var x = TestKit.RandomTensor(new Random(34), -1, 1, 3, 2, 5, 7);
        double a = alpha;
        TestKit.CheckGradients(new LeakyReLU(alpha), [x], false, (xs, _) => Naive.Map(xs[0], v => v > 0 ? v : a * v), skip: KinkSkip(x));
    }

    [Fact]
    public void Sigmoid()
    {
        var x = TestKit.RandomTensor(new Random(35), -4, 4, 3, 2, 5, 7);
        TestKit.CheckGradients(new Sigmoid(), [x], false, (xs, _) => Naive.Map(xs[0], Naive.Sigmoid));
    }

    [Fact]
    public void Tanh()
    {
        var x = TestKit.RandomTensor(new Random(36), -3, 3, 3, 2, 5, 7);
        TestKit.CheckGradients(new Tanh(), [x], false, (xs, _) => Naive.Map(xs[0], Math.Tanh));
    }

    [Theory]
    [InlineData(new[] { 3, 4, 5, 3 })]
    [InlineData(new[] { 2, 3, 1, 1 })]
    [InlineData(new[] { 7, 5 })]
    public void BatchNorm2d_training_through_the_batch_statistics(int[] shape)
    {
        var rng = new Random(37 + shape.Length);
        var bn = new BatchNorm2d(shape[1], epsilon: 1e-3f);
        TestKit.Randomize(bn.Scale, rng, 0.5f, 2f);
        TestKit.Randomize(bn.Shift, rng);
        var x = TestKit.RandomTensor(rng, -1, 2, shape);
        TestKit.CheckGradients(bn, [x], true, (xs, ps) => Naive.BatchNormTraining(xs[0], shape, ps[0], ps[1], bn.Epsilon));
    }

    [Fact]
    public void BatchNorm2d_inference()
    {
        var rng = new Random(38);
        var bn = new BatchNorm2d(3);
        TestKit.Randomize(bn.Scale, rng, 0.5f, 2f);
        TestKit.Randomize(bn.Shift, rng);
        TestKit.Randomize(bn.RunningMean, rng);
        TestKit.Randomize(bn.RunningVar, rng, 0.3f, 2f);
        var x = TestKit.RandomTensor(rng, -1, 1, 3, 3, 4, 5);
        TestKit.CheckGradients(bn, [x], false, (xs, ps) => Naive.BatchNorm(xs[0], x.Shape, ps[0], ps[1], ps[2], ps[3], bn.Epsilon));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // BackwardInputs: dX only, the parameters' gradients untouched
    public void Dense(bool inputsOnly)
    {
        var rng = new Random(39);
        foreach (bool bias in new[] { true, false })
        {
            var dense = new Dense(7, 5, bias);
            foreach (var p in dense.Parameters) TestKit.Randomize(p, rng);
            var x = TestKit.RandomTensor(rng, -1, 1, 3, 7);
            TestKit.CheckGradients(dense, [x], false, (xs, ps) => Naive.Dense(xs[0], 3, 7, ps[0], bias ? ps[1] : null, 5), inputsOnly: inputsOnly);
        }
    }

    [Fact]
    public void Flatten()
    {
        var x = TestKit.RandomTensor(new Random(40), -1, 1, 3, 2, 3, 5);
        TestKit.CheckGradients(new Flatten(), [x], false, (xs, _) => (double[])xs[0].Clone());
    }

    [Fact]
    public void ResidualAdd_both_branches()
    {
        var rng = new Random(41);
        var a = TestKit.RandomTensor(rng, -1, 1, 3, 2, 5, 3);
        var b = TestKit.RandomTensor(rng, -1, 1, 3, 2, 5, 3);
        TestKit.CheckGradients(new ResidualAdd(), [a, b], false, (xs, _) => Naive.Add(xs[0], xs[1]));
    }

    [Fact]
    public void ResidualAdd_same_tensor_twice_accumulates()
    {
        // add(h, h): both dInputs are the same tensor, so it must receive 2 * dY.
        var h = TestKit.RandomTensor(new Random(42), -1, 1, 2, 3);
        var add = new ResidualAdd();
        var y = TestKit.Run(add, false, h, h);
        var dy = TestKit.RandomTensor(new Random(43), -1, 1, 2, 3);
        var dh = new Tensor(2, 3);
        add.Backward([h, h], y, dy, [dh, dh]);
        Assert.Equal(dy.Data.Select(v => 2 * v).ToArray(), dh.Data);
    }

    [Fact]
    public void Softmax()
    {
        var x = TestKit.RandomTensor(new Random(44), -3, 3, 4, 6);
        TestKit.CheckGradients(new Softmax(), [x], false, (xs, _) => Naive.Softmax(xs[0], 4, 6));
    }

    [Fact]
    public void Dropout_training_with_the_forward_mask()
    {
        const float p = 0.4f;
        var x = TestKit.RandomTensor(new Random(45), 0.2f, 1.5f, 3, 4, 5, 3);
        for (int i = 0; i < x.Length; i += 3) x.Data[i] = -x.Data[i];
        double keep = 1f / (1f - p);
        var mask = new double[x.Length];
        TestKit.CheckGradients(new Dropout(p, seed: 5), [x], true, (xs, _) => xs[0].Select((v, i) => v * mask[i]).ToArray(),
            onForward: y =>
            {
                // The mask the forward used, read back as output / input: each is 0 or 1/(1-p).
                for (int i = 0; i < x.Length; i++)
                {
                    double ratio = (double)y.Data[i] / x.Data[i];
                    Assert.True(ratio == 0 || Math.Abs(ratio - keep) < 1e-6 * keep, $"ratio {ratio} at {i}");
                    mask[i] = ratio == 0 ? 0 : keep;
                }
                Assert.Contains(0.0, mask);
                Assert.Contains(keep, mask);
            });
    }

    [Fact]
    public void Dropout_inference()
    {
        var x = TestKit.RandomTensor(new Random(46), -1, 1, 3, 4);
        TestKit.CheckGradients(new Dropout(0.5f), [x], false, (xs, _) => (double[])xs[0].Clone());
    }

    [Fact]
    public void Graph_residual_fan_out_batch_norm_SoftmaxCrossEntropy()
    {
        // x -> conv1 -> bn -> tanh = h;  h -> conv2 (groups 2, dilation 2);  add(h, conv2(h)) -> GAP -> flatten -> dense.
        // h fans out to conv2 and the add, so its gradient is the sum of both branches.
        var rng = new Random(47);
        var g = new Graph();
        var x = g.AddInput("x", -1, 2, 6, 5);
        var conv1 = new Conv2d(2, 4, new Window2d(3, 3, 1, 1, 1, 1, 1, 1));
        var bn = new BatchNorm2d(4);
        var conv2 = new Conv2d(4, 4, new Window2d(3, 3, 1, 1, 2, 2, 2, 2, DH: 2, DW: 2), groups: 2);
        var dense = new Dense(4, 3);
        var h = g.Add(new Tanh(), g.Add(bn, g.Add(conv1, x)));
        var sum = g.Add(new ResidualAdd(), h, g.Add(conv2, h));
        var logits = g.Add(dense, g.Add(new Flatten(), g.Add(new GlobalAvgPool(), sum)));
        foreach (var p in g.Parameters.Where(p => p.Trainable)) TestKit.Randomize(p, rng, -0.8f, 0.8f);
        TestKit.Randomize(bn.Scale, rng, 0.5f, 1.5f);
        var input = TestKit.RandomTensor(rng, -1, 1, 3, 2, 6, 5);
        int[] labels = [0, 2, 1];

        g.ZeroGrad();
        var z = g.Forward(input, training: true);
        var dz = new Tensor(0);
        float loss = Loss.SoftmaxCrossEntropy(z, labels, dz, out _);
        g.Backward(logits, dz);

        double[] xd = TestKit.ToDouble(input.Data);
        var values = g.Parameters.ToDictionary(p => p, p => TestKit.ToDouble(p.Value.Data));
        double[] RefLogits()
        {
            var a = Naive.Conv2d(xd, input.Shape, values[conv1.Weight], values[conv1.Bias!], 4, 1, conv1.Window, out var s1);
            a = Naive.BatchNormTraining(a, s1, values[bn.Scale], values[bn.Shift], bn.Epsilon);
            a = Naive.Map(a, Math.Tanh);
            var b = Naive.Conv2d(a, s1, values[conv2.Weight], values[conv2.Bias!], 4, 2, conv2.Window, out _);
            var pooled = Naive.GlobalAvgPool(Naive.Add(a, b), s1);
            return Naive.Dense(pooled, 3, 4, values[dense.Weight], values[dense.Bias!], 3);
        }
        double RefLoss() => Naive.SoftmaxCrossEntropy(RefLogits(), 3, 3, labels);

        TestKit.AssertClose(RefLogits(), z.Data, 1e-5, 1e-5, "graph logits");
        Assert.True(Math.Abs(loss - RefLoss()) <= 1e-5, $"loss {loss}, reference {RefLoss()}");

        const double h2 = 1e-4;
        int count = 0;
        foreach (var (pname, p) in g.NamedParameters.Where(np => np.Parameter.Trainable))
        {
            double[] v = values[p];
            var expected = new double[v.Length];
            for (int e = 0; e < v.Length; e++)
            {
                double keep = v[e];
                v[e] = keep + h2;
                double lp = RefLoss();
                v[e] = keep - h2;
                double lm = RefLoss();
                v[e] = keep;
                expected[e] = (lp - lm) / (2 * h2);
                count++;
            }
            TestKit.AssertClose(expected, p.Grad.Data, 2e-5, 1e-3, $"graph d({pname})");
        }
        Assert.True(count > 150);

        // A second Backward adds the same gradients again.
        var once = g.Parameters.Where(p => p.Trainable).Select(p => (float[])p.Grad.Data.Clone()).ToList();
        g.Backward(logits, dz);
        foreach (var (p, first) in g.Parameters.Where(p => p.Trainable).Zip(once))
            TestKit.AssertClose(first.Select(v => 2.0 * v).ToArray(), p.Grad.Data, 1e-6, 1e-5, $"{p.Name} after two backwards");
    }
}
