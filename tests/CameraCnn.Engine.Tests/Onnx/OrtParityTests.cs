// OrtParityTests: every layer type, exported to ONNX and run in ONNX Runtime, gives the same numbers as our own
// forward (max abs difference <= 1e-4); so do the full architectures with trained-like batch-norm statistics.
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Models;
using static CameraCnn.Engine.Tests.OnnxInterop.OnnxTestKit;

namespace CameraCnn.Engine.Tests.OnnxInterop;

public sealed class OrtParityTests
{
    /// <summary>One small graph: input channels, height, width, the input value range, and the layers after the input.</summary>
    private sealed record Case(int C, int H, int W, float Lo, float Hi, Func<Graph, Node, Node> Build);

    private static Node Chain(Graph g, Node x, params Layer[] layers)
    {
        foreach (var l in layers) x = g.Add(l, x);
        return x;
    }

    private static readonly Dictionary<string, Case> Cases = new()
    {
        // Convolution: geometry variants and the 1x1 fast path.
        ["conv3x3_pad1"] = new(3, 13, 11, -1, 1, (g, x) => g.Add(new Conv2d(3, 5, 3, 1, 1), x)),
        ["conv3x3_valid"] = new(3, 13, 11, -1, 1, (g, x) => g.Add(new Conv2d(3, 5, 3), x)),
        ["conv_stride2"] = new(3, 13, 11, -1, 1, (g, x) => g.Add(new Conv2d(3, 6, 3, 2, 1), x)),
        ["conv_stride2_even_kernel"] = new(3, 13, 11, -1, 1, (g, x) => g.Add(new Conv2d(3, 4, 4, 2, 0), x)),
        ["conv_asymmetric_pads"] = new(3, 13, 11, -1, 1, (g, x) =>
            g.Add(new Conv2d(3, 4, new Window2d(3, 3, 2, 2, PadTop: 1, PadLeft: 0, PadBottom: 2, PadRight: 1)), x)),
        ["conv_nonsquare_kernel_stride"] = new(3, 13, 11, -1, 1, (g, x) =>
            g.Add(new Conv2d(3, 4, new Window2d(5, 3, 2, 1, PadTop: 2, PadLeft: 1, PadBottom: 1, PadRight: 1)), x)),
        ["conv_dilation2"] = new(3, 13, 11, -1, 1, (g, x) =>
            g.Add(new Conv2d(3, 4, new Window2d(3, 3, PadTop: 2, PadLeft: 2, PadBottom: 2, PadRight: 2, DH: 2, DW: 2)), x)),
        ["conv_dilation_2x3_stride2"] = new(3, 13, 11, -1, 1, (g, x) =>
            g.Add(new Conv2d(3, 4, new Window2d(3, 2, 2, 2, PadTop: 1, PadLeft: 0, PadBottom: 0, PadRight: 2, DH: 2, DW: 3)), x)),
        ["conv_groups2"] = new(4, 13, 11, -1, 1, (g, x) => g.Add(new Conv2d(4, 6, 3, 1, 1, groups: 2), x)),
        ["conv_depthwise"] = new(4, 13, 11, -1, 1, (g, x) => g.Add(new Conv2d(4, 4, 3, 1, 1, groups: 4), x)),
        ["conv_depthwise_multiplier2_stride2"] = new(4, 13, 11, -1, 1, (g, x) => g.Add(new Conv2d(4, 8, 3, 2, 1, groups: 4), x)),
        ["conv_no_bias"] = new(3, 13, 11, -1, 1, (g, x) => g.Add(new Conv2d(3, 5, 3, 1, 1, bias: false), x)),
        ["conv_pointwise"] = new(3, 13, 11, -1, 1, (g, x) => g.Add(new Conv2d(3, 7, 1), x)),
        ["conv_pointwise_stride2"] = new(3, 13, 11, -1, 1, (g, x) => g.Add(new Conv2d(3, 7, 1, 2), x)),

        // Max pooling: floor/ceil, symmetric and asymmetric pads, dilation, all-negative inputs (padding never wins).
        ["maxpool2_s2"] = new(3, 13, 11, -1, 1, (g, x) => g.Add(new MaxPool2d(2, 2), x)),
        ["maxpool2_s2_ceil"] = new(3, 13, 11, -1, 1, (g, x) => g.Add(new MaxPool2d(2, 2, ceilMode: true), x)),
        ["maxpool3_s2_pad1"] = new(3, 13, 11, -1, 1, (g, x) => g.Add(new MaxPool2d(3, 2, 1), x)),
        ["maxpool3_s2_pad1_negative_input"] = new(3, 13, 11, -3, -0.5f, (g, x) => g.Add(new MaxPool2d(3, 2, 1), x)),
        ["maxpool_asym_pads_ceil"] = new(3, 13, 11, -3, -0.5f, (g, x) =>
            g.Add(new MaxPool2d(new Window2d(3, 3, 2, 2, PadTop: 1, PadLeft: 0, PadBottom: 0, PadRight: 1), ceilMode: true), x)),
        ["maxpool_3x2_s3x2_ceil"] = new(3, 13, 11, -1, 1, (g, x) =>
            g.Add(new MaxPool2d(new Window2d(3, 2, 3, 2), ceilMode: true), x)),
        ["maxpool_dilation2"] = new(3, 13, 11, -1, 1, (g, x) =>
            g.Add(new MaxPool2d(new Window2d(2, 2, 1, 1, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, DH: 2, DW: 2)), x)),

        // Average pooling: both count_include_pad rules, with and without ceil mode.
        ["avgpool2_s2"] = new(3, 13, 11, -1, 1, (g, x) => g.Add(new AvgPool2d(2, 2), x)),
        ["avgpool3_s2_pad1_exclude_pad"] = new(3, 13, 11, -1, 1, (g, x) => g.Add(new AvgPool2d(3, 2, 1, countIncludePad: false), x)),
        ["avgpool3_s2_pad1_include_pad"] = new(3, 13, 11, -1, 1, (g, x) => g.Add(new AvgPool2d(3, 2, 1, countIncludePad: true), x)),
        ["avgpool2_s2_ceil_exclude_pad"] = new(3, 13, 11, -1, 1, (g, x) => g.Add(new AvgPool2d(2, 2, ceilMode: true, countIncludePad: false), x)),
        ["avgpool2_s2_ceil_include_pad"] = new(3, 13, 11, -1, 1, (g, x) => g.Add(new AvgPool2d(2, 2, ceilMode: true, countIncludePad: true), x)),
        ["avgpool3_s2_pad1_ceil_include_pad"] = new(3, 13, 11, -1, 1, (g, x) =>
            g.Add(new AvgPool2d(3, 2, 1, ceilMode: true, countIncludePad: true), x)),
        ["avgpool_asym_pads_ceil_exclude_pad"] = new(3, 13, 11, -1, 1, (g, x) =>
            g.Add(new AvgPool2d(new Window2d(3, 3, 2, 2, PadTop: 1, PadLeft: 0, PadBottom: 0, PadRight: 1), ceilMode: true, countIncludePad: false), x)),
        ["avgpool_asym_pads_ceil_include_pad"] = new(3, 13, 11, -1, 1, (g, x) =>
            g.Add(new AvgPool2d(new Window2d(3, 3, 2, 2, PadTop: 1, PadLeft: 0, PadBottom: 0, PadRight: 1), ceilMode: true, countIncludePad: true), x)),

        ["global_avg_pool"] = new(3, 13, 11, -1, 1, (g, x) => g.Add(new GlobalAvgPool(), x)),

        // Activations straight on a wide-range input, so both sides of every nonlinearity are hit.
        ["relu"] = new(3, 13, 11, -4, 4, (g, x) => g.Add(new ReLU(), x)),
        ["leaky_relu_0.2"] = new(3, 13, 11, -4, 4, (g, x) => g.Add(new LeakyReLU(0.2f), x)),
        ["leaky_relu_default"] = new(3, 13, 11, -4, 4, (g, x) => g.Add(new LeakyReLU(), x)),
        ["sigmoid"] = new(3, 13, 11, -8, 8, (g, x) => g.Add(new Sigmoid(), x)),
        ["tanh"] = new(3, 13, 11, -4, 4, (g, x) => g.Add(new Tanh(), x)),

        ["batchnorm_inference"] = new(3, 13, 11, -2, 2, (g, x) => g.Add(new BatchNorm2d(3), x)),
        ["batchnorm_eps_after_conv"] = new(3, 13, 11, -1, 1, (g, x) =>
            Chain(g, x, new Conv2d(3, 6, 3, 1, 1, bias: false), new BatchNorm2d(6, epsilon: 1e-3f, momentum: 0.8f), new ReLU())),

        ["flatten_dense"] = new(3, 13, 11, -1, 1, (g, x) => Chain(g, x, new Flatten(), new Dense(3 * 13 * 11, 7))),
        ["flatten_dense_no_bias"] = new(3, 13, 11, -1, 1, (g, x) => Chain(g, x, new Flatten(), new Dense(3 * 13 * 11, 7, bias: false))),
        ["dropout_inference_4d"] = new(3, 13, 11, -1, 1, (g, x) => Chain(g, x, new Conv2d(3, 4, 3, 1, 1), new Dropout(0.4f), new ReLU())),
        ["dropout_inference_after_dense"] = new(3, 13, 11, -1, 1, (g, x) =>
            Chain(g, x, new Flatten(), new Dense(3 * 13 * 11, 9), new Dropout(0.5f, seed: 3), new Dense(9, 4))),
        ["softmax_after_dense"] = new(3, 13, 11, -1, 1, (g, x) => Chain(g, x, new Flatten(), new Dense(3 * 13 * 11, 6), new Softmax())),

        // Residual graphs: identity shortcut from the graph input, and a projection shortcut.
        ["residual_identity"] = new(3, 13, 11, -1, 1, (g, x) =>
        {
            var h = Chain(g, x, new Conv2d(3, 3, 3, 1, 1), new BatchNorm2d(3), new ReLU(), new Conv2d(3, 3, 3, 1, 1));
            return Chain(g, g.Add(new ResidualAdd(), h, x), new ReLU());
        }),
        ["residual_projection"] = new(3, 13, 11, -1, 1, (g, x) =>
        {
            var h = Chain(g, x, new Conv2d(3, 8, 3, 2, 1, bias: false), new BatchNorm2d(8), new ReLU(), new Conv2d(8, 8, 3, 1, 1));
            var s = Chain(g, x, new Conv2d(3, 8, 1, 2, 0, bias: false), new BatchNorm2d(8));
            return Chain(g, g.Add(new ResidualAdd(), s, h), new ReLU(), new GlobalAvgPool(), new Flatten(), new Dense(8, 3), new Softmax());
        }),
    };

    public static TheoryData<string> CaseNames => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Layer_matches_onnx_runtime(string name)
    {
        var c = Cases[name];
        var g = new Graph();
        var x = g.AddInput("input", -1, c.C, c.H, c.W);
        g.MarkOutput(c.Build(g, x));
        int seed = name.Aggregate(17, (h, ch) => h * 31 + ch);
        Randomize(g, seed);
        var model = new Model(g);
        var input = RandomTensor(new Random(seed + 2), c.Lo, c.Hi, 2, c.C, c.H, c.W);
        AssertOrtParity(model, input);
    }

    [Fact]
    public void Intermediate_taps_match_onnx_runtime()
    {
        // Several outputs at once, including a node that also feeds later layers.
        var g = new Graph();
        var x = g.AddInput("input", -1, 3, 13, 11);
        var conv = g.Add(new Conv2d(3, 4, 3, 2, 1), x);
        var bn = g.Add(new BatchNorm2d(4), conv);
        var pool = g.Add(new MaxPool2d(2, 2, ceilMode: true), g.Add(new LeakyReLU(0.2f), bn));
        var logits = Chain(g, pool, new Flatten(), new Dense(4 * 4 * 3, 5));
        var probs = g.Add(new Softmax(), logits);
        g.MarkOutput(probs);
        g.MarkOutput(conv);
        g.MarkOutput(pool);
        g.MarkOutput(logits);
        Randomize(g, 5);
        AssertOrtParity(new Model(g), RandomTensor(new Random(6), -1, 1, 3, 3, 13, 11));
    }

    [Theory]
    [InlineData("lenet", 101)]
    [InlineData("small-resnet", 202)]
    public void Architecture_matches_onnx_runtime(string arch, int seed)
    {
        var model = TrainedLikeModel(arch, seed);
        // Compare the logits as well as the softmax output, which would hide small logit differences.
        model.Graph.MarkOutput(model.Logits);
        AssertOrtParity(model, InputFor(model, 2, seed + 1));
        AssertOrtParity(model, InputFor(model, 1, seed + 2));
    }
}
