// LayerCases: named convolution and pooling configurations shared by the forward and gradient tests.
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Layers;

namespace CameraCnn.Engine.Tests.Layers;

internal sealed record ConvCase(int N, int C, int H, int W, int OC, int Groups, Window2d G, bool Bias)
{
    public int[] InputShape => [N, C, H, W];

    public Conv2d Build(Random rng)
    {
        var conv = new Conv2d(C, OC, G, Groups, Bias);
        foreach (var p in conv.Parameters) TestKit.Randomize(p, rng);
        return conv;
    }

    public ReferenceForward Reference =>
        (xs, ps) => Naive.Conv2d(xs[0], InputShape, ps[0], Bias ? ps[1] : null, OC, Groups, G, out _);
}

internal sealed record PoolCase(int N, int C, int H, int W, Window2d G, bool Ceil)
{
    public int[] InputShape => [N, C, H, W];
}

internal static class LayerCases
{
    public static readonly Dictionary<string, ConvCase> Conv = new()
    {
        ["1x1_pointwise_bias"] = new(3, 3, 5, 7, 4, 1, new Window2d(1, 1), true),
        ["1x1_stride2_pads"] = new(3, 3, 5, 7, 4, 1, new Window2d(1, 1, 2, 2, 1, 0, 0, 1), false),
        ["3x3_pad1_bias"] = new(3, 3, 7, 6, 5, 1, Window2d.Square(3, 1, 1), true),
        ["3x3_nopad_nobias"] = new(3, 2, 6, 5, 3, 1, Window2d.Square(3), false),
        // ONNX pads [3,3,2,2] = top 3, left 3, bottom 2, right 2, with a non-square 5x3 kernel and stride 2.
        ["5x3_stride2_onnxpads3322"] = new(3, 2, 9, 8, 3, 1, new Window2d(5, 3, 2, 2, PadTop: 3, PadLeft: 3, PadBottom: 2, PadRight: 2), true),
        ["dilation2_pad2"] = new(3, 2, 9, 7, 3, 1, new Window2d(3, 3, 1, 1, 2, 2, 2, 2, DH: 2, DW: 2), false),
        ["groups2_stride2x1_asym"] = new(3, 4, 7, 6, 6, 2, new Window2d(3, 2, 2, 1, 1, 0, 2, 1), true),
        ["groups2_dil2_stride2x3_asym"] = new(3, 4, 9, 8, 4, 2, new Window2d(3, 3, 2, 3, 3, 1, 0, 2, DH: 2, DW: 2), true),
        ["depthwise_stride2"] = new(3, 5, 7, 7, 5, 5, Window2d.Square(3, 2, 1), true),
        ["depthwise_multiplier2"] = new(3, 3, 6, 5, 6, 3, Window2d.Square(3, 1, 1), false),
        ["kernel_covers_input"] = new(3, 2, 4, 3, 2, 1, new Window2d(4, 3), true),
        ["1x1_groups2_pointwise"] = new(3, 4, 3, 5, 6, 2, new Window2d(1, 1), true),
        // LeNet's block at toy size with a batch of 4: the batched backward lays the four images side by side.
        ["3x3_pad1_batch4_lenet_like"] = new(4, 4, 8, 9, 6, 1, Window2d.Square(3, 1, 1), false),
        ["groups2_stride2_batch5"] = new(5, 4, 7, 8, 4, 2, Window2d.Square(3, 2, 1), true),
        // A 'same' 5x5 convolution on a one-pixel-wide map: outer kernel columns see only padding.
        ["same5x5_on_width1"] = new(2, 2, 3, 1, 2, 1, Window2d.Square(5, 1, 2), true),
        // 17x16 = 272 output pixels with padding: a larger map than the cases above, with odd row lengths in im2col.
        ["3x3_pad1_map272_per_image"] = new(2, 2, 17, 16, 3, 1, Window2d.Square(3, 1, 1), true),
    };

    public static readonly Dictionary<string, PoolCase> Pool = new()
    {
        ["k3s2"] = new(3, 2, 7, 8, Window2d.Square(3, 2), false),
        ["k3s2_pad1"] = new(3, 2, 7, 8, Window2d.Square(3, 2, 1), false),
        ["k3s2_ceil"] = new(3, 2, 8, 6, Window2d.Square(3, 2), true),
        ["k3s2_asympads_ceil"] = new(2, 3, 8, 7, new Window2d(3, 3, 2, 2, 1, 0, 2, 1), true),
        ["k3s2_pad1_ceil"] = new(2, 2, 6, 9, Window2d.Square(3, 2, 1), true),
        ["k3x2_s1x2"] = new(2, 2, 5, 7, new Window2d(3, 2, 1, 2), false),
        ["k2s2"] = new(2, 3, 6, 5, Window2d.Square(2, 2), false),
        // Rows long enough for the 4-lane (SSE4.1) and 8-lane (AVX2) max-pool paths, with their overlapping last step.
        ["k2s2_w14_lenet"] = new(2, 3, 14, 14, Window2d.Square(2, 2), false),
        ["k3s2_pad1_w11"] = new(2, 2, 11, 11, Window2d.Square(3, 2, 1), false),
        ["k3s1_pad1_w9"] = new(1, 2, 5, 9, Window2d.Square(3, 1, 1), false),
        ["k2s2_w21_ceil"] = new(2, 2, 6, 21, Window2d.Square(2, 2), true),
        ["k3s1_w20"] = new(1, 2, 4, 20, Window2d.Square(3, 1), false),
    };

    public static TheoryData<string> ConvNames => new(Conv.Keys);
    public static TheoryData<string> PoolNames => new(Pool.Keys);
}
