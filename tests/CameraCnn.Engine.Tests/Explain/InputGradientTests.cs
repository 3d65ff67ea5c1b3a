// InputGradientTests: Layer.BackwardInputs, the input-only backward Grad-CAM runs: for the layers with parameters
// (Conv2d, BatchNorm2d, Spatial1d; Dense is in GradientTests) the input gradients against central finite differences of
// the naive double forward with every parameter's Grad left untouched; the fused inference conv (folded batch norm,
// residual, ReLU) the same way against its naive definition, on every GEMM path and thread count; and a guard that every
// layer type with parameters overrides BackwardInputs, so a new one cannot silently add into gradients a trainer reads.
using System.Reflection;
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Optimization;
using CameraCnn.Engine.Tests.Kernels;
using CameraCnn.Engine.Tests.Layers;

namespace CameraCnn.Engine.Tests.Explain;

[Collection("Parallelism")]
public sealed class InputGradientTests
{
    [Theory]
    [MemberData(nameof(LayerCases.ConvNames), MemberType = typeof(LayerCases))]
    public void Conv2d_input_gradient_only(string name)
    {
        var c = LayerCases.Conv[name];
        var rng = new Random(TestKit.Seed(name) + 7);
        var conv = c.Build(rng);
        var x = TestKit.RandomTensor(rng, -1, 1, c.InputShape);
        TestKit.CheckGradients(conv, [x], false, c.Reference, inputsOnly: true);
    }

    [Fact]
    public void Conv2d_input_gradient_equals_the_training_backwards_dx_bit_for_bit()
    {
        foreach (var (name, c) in LayerCases.Conv)
        {
            var rng = new Random(TestKit.Seed(name));
            var conv = c.Build(rng);
            var x = TestKit.RandomTensor(rng, -1, 1, c.InputShape);
            var y = TestKit.Run(conv, false, x);
            var dy = TestKit.RandomTensor(rng, -1, 1, y.Shape);
            var full = new Tensor(x.Shape);
            var only = new Tensor(x.Shape);
            conv.Backward([x], y, dy, [full]);
            conv.BackwardInputs([x], y, dy, [only]);
            Assert.True(full.Data.AsSpan().SequenceEqual(only.Data), $"{name}: dX differs");
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void BatchNorm2d_input_gradient_only(bool training)
    {
        var rng = new Random(38);
        var bn = new BatchNorm2d(3, epsilon: 1e-3f);
        TestKit.Randomize(bn.Scale, rng, 0.5f, 2f);
        TestKit.Randomize(bn.Shift, rng);
        TestKit.Randomize(bn.RunningMean, rng);
        TestKit.Randomize(bn.RunningVar, rng, 0.3f, 2f);
        var x = TestKit.RandomTensor(rng, -1, 1, 3, 3, 4, 5);
        TestKit.CheckGradients(bn, [x], training,
            (xs, ps) => training ? Naive.BatchNormTraining(xs[0], x.Shape, ps[0], ps[1], bn.Epsilon)
                                 : Naive.BatchNorm(xs[0], x.Shape, ps[0], ps[1], ps[2], ps[3], bn.Epsilon), inputsOnly: true);
    }

    [Fact]
    public void Spatial1d_conv_input_gradient_only()
    {
        var rng = new Random(41);
        var g = new Window2d(1, 3, 1, 2, 0, 1, 0, 1);
        var conv = new Conv2d(2, 3, g);
        foreach (var p in conv.Parameters) TestKit.Randomize(p, rng);
        var layer = new Spatial1d(conv);
        var x = TestKit.RandomTensor(rng, -1, 1, 2, 2, 9);
        TestKit.CheckGradients(layer, [x], false,
            (xs, ps) => Naive.Conv2d(xs[0], [2, 2, 1, 9], ps[0], ps[1], 3, 1, g, out _), inputsOnly: true);
    }

    /// <summary>conv (+ folded batch norm) (+ residual) (+ ReLU) as the fused layer computes it, in double.</summary>
    private static ReferenceForward FusedReference(ConvCase c, double[] w, double[]? b, BatchNorm2d? bn, bool residual, bool relu) => (xs, _) =>
    {
        double[] z = Naive.Conv2d(xs[0], c.InputShape, w, b, c.OC, c.Groups, c.G, out int[] ys);
        if (bn is not null)
            z = Naive.BatchNorm(z, ys, TestKit.ToDouble(bn.Scale.Value.Data), TestKit.ToDouble(bn.Shift.Value.Data),
                TestKit.ToDouble(bn.RunningMean.Value.Data), TestKit.ToDouble(bn.RunningVar.Value.Data), bn.Epsilon);
        if (residual) z = Naive.Add(z, xs[1]);
        return relu ? Naive.Map(z, Naive.ReLU) : z;
    };

    public static TheoryData<string, bool, bool, bool> FusedCases()
    {
        var data = new TheoryData<string, bool, bool, bool>();
        foreach (string name in LayerCases.Conv.Keys)
            foreach (var (bn, residual, relu) in new[] { (true, true, true), (true, false, true), (false, true, false), (false, false, false) })
                data.Add(name, bn, residual, relu);
        return data;
    }

    [Theory]
    [MemberData(nameof(FusedCases))]
    public void FusedConv2d_input_and_residual_gradients(string name, bool withBn, bool residual, bool relu)
    {
        var c = LayerCases.Conv[name];
        var rng = new Random(TestKit.Seed(name) + (withBn ? 1 : 0) + (residual ? 2 : 0) + (relu ? 4 : 0));
        var conv = c.Build(rng);
        BatchNorm2d? bn = null;
        if (withBn)
        {
            bn = new BatchNorm2d(c.OC);
            TestKit.Randomize(bn.Scale, rng, 0.5f, 1.5f);
            TestKit.Randomize(bn.Shift, rng, -0.5f, 0.5f);
            TestKit.Randomize(bn.RunningMean, rng, -0.3f, 0.3f);
            TestKit.Randomize(bn.RunningVar, rng, 0.5f, 2f);
        }
        var fused = new FusedConv2d(conv, bn, residual, relu);
        var x = TestKit.RandomTensor(rng, -1, 1, c.InputShape);
        int[] ys = conv.OutputShape([c.InputShape]);
        Tensor[] inputs = residual ? [x, TestKit.RandomTensor(rng, -1, 1, ys)] : [x];
        var reference = FusedReference(c, TestKit.ToDouble(conv.Weight.Value.Data), conv.Bias is null ? null : TestKit.ToDouble(conv.Bias.Value.Data), bn, residual, relu);
        // An element whose step crosses the ReLU's kink has no derivative to check: a residual element whose sum sits
        // on it, or an input element that moves some output's pre-activation sum across zero within the step.
        var preRelu = FusedReference(c, TestKit.ToDouble(conv.Weight.Value.Data), conv.Bias is null ? null : TestKit.ToDouble(conv.Bias.Value.Data), bn, residual, false);
        double[][] xs = inputs.Select(t => TestKit.ToDouble(t.Data)).ToArray();
        double[] z = preRelu(xs, []);
        bool CrossesKink(int e)
        {
            const double step = 1e-3; // 10x the finite differences' step
            double keep = xs[0][e];
            xs[0][e] = keep + step;
            double[] up = preRelu(xs, []);
            xs[0][e] = keep - step;
            double[] down = preRelu(xs, []);
            xs[0][e] = keep;
            for (int k = 0; k < up.Length; k++)
                if (Math.Sign(up[k]) != Math.Sign(down[k])) return true;
            return false;
        }
        TestKit.CheckGradients(fused, inputs, false, reference,
            skip: (i, e) => relu && (i == 1 ? Math.Abs(z[e]) < 1e-3 : CrossesKink(e)), inputsOnly: true);
    }

    [Theory]
    [MemberData(nameof(KernelSettings.PathsAndThreads), MemberType = typeof(KernelSettings))]
    public void FusedConv2d_gradient_on_every_path_and_thread_count(GemmPath path, int threads)
    {
        KernelSettings.Run(path, threads, () =>
        {
            foreach (string name in new[] { "3x3_pad1_bias", "groups2_dil2_stride2x3_asym", "1x1_pointwise_bias" })
                FusedConv2d_input_and_residual_gradients(name, true, true, true);
        });
    }

    [Fact]
    public void FusedConv2d_still_refuses_the_training_backward()
    {
        var c = LayerCases.Conv["3x3_pad1_bias"];
        var fused = new FusedConv2d(c.Build(new Random(1)), null, false, true);
        var x = TestKit.RandomTensor(new Random(2), -1, 1, c.InputShape);
        var y = TestKit.Run(fused, false, x);
        var e = Assert.Throws<NotSupportedException>(() => fused.Backward([x], y, y, [new Tensor(x.Shape)]));
        Assert.Contains("inference-only", e.Message);
    }

    [Fact]
    public void Every_layer_with_parameters_overrides_BackwardInputs()
    {
        // Constant's parameter is frozen data and its backward adds nothing anywhere.
        var exempt = new HashSet<Type> { typeof(Constant) };
        var layers = typeof(Layer).Assembly.GetTypes().Where(t => t.IsSubclassOf(typeof(Layer)) && !t.IsAbstract).ToList();
        Assert.Contains(typeof(Conv2d), layers);
        foreach (var t in layers)
        {
            var parameters = t.GetProperty(nameof(Layer.Parameters))!;
            bool hasParameters = parameters.DeclaringType != typeof(Layer);
            bool overrides = t.GetMethod(nameof(Layer.BackwardInputs), BindingFlags.Public | BindingFlags.Instance)!.DeclaringType != typeof(Layer);
            if (hasParameters && !exempt.Contains(t))
                Assert.True(overrides, $"{t.Name} has parameters but no BackwardInputs: its Backward would add into their gradients");
        }
    }
}
