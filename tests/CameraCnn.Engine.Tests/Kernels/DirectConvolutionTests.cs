// DirectConvolutionTests: the AVX-512 direct kernel for column-stride-2 convs against the lecture's eq. (6) in double
// (Naive.Conv2d): the stem's 7x7/2 and the 3x3/2 and 1x1/2 downsampling shapes, with every tail the kernel has (a run
// of fewer than 7 columns, an odd last row, output channels past a block of 32 and past its first vector), row
// strides 1 to 3, non-square kernels, asymmetric pads and pads beyond the kernel's reach, C over one KC block, batches,
// bias, residual and ReLU, on 1-3 threads, outputs pre-filled with NaN.
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Tests.Layers;

namespace CameraCnn.Engine.Tests.Kernels;

[Collection("Parallelism")]
public sealed unsafe class DirectConvolutionTests
{
    private static readonly (int C, int OC, int H, int W, Window2d G)[] Shapes =
    [
        (3, 64, 23, 30, Window2d.Square(7, 2, 3)),        // the stem: 12 x 15 output, a run of 1 column
        (5, 40, 13, 11, Window2d.Square(3, 2, 1)),        // 7 x 6: short runs, a second block of 8 channels
        (16, 20, 9, 9, Window2d.Square(3, 2, 0)),         // 4 x 4, 20 channels: 4 in the block's second vector
        (7, 33, 14, 14, Window2d.Square(3, 2, 1)),        // 7 x 7 (odd last row), one channel in the second block
        (4, 32, 10, 12, new Window2d(3, 3, 2, 2, 2, 0, 1, 3)), // asymmetric pads
        (3, 16, 8, 15, new Window2d(3, 5, 1, 2, 1, 2, 1, 2)),  // row stride 1, a 3 x 5 kernel
        (6, 48, 17, 16, new Window2d(2, 3, 3, 2, 0, 1, 0, 1)), // row stride 3, a 2 x 3 kernel
        (64, 64, 14, 14, Window2d.Square(1, 2, 0)),       // a 1x1/2 shortcut
        (300, 32, 7, 7, Window2d.Square(3, 2, 1)),        // C x 9 = 2700 taps: over one GEMM K block (256)
        (2, 16, 5, 5, Window2d.Square(3, 2, 3)),          // pads past the kernel's reach: whole zero windows
        (3, 40, 52, 20, Window2d.Square(7, 2, 3)),        // 26 x 10: 13 row pairs, split in bands among the workers
    ];

    public static TheoryData<int> Threads() => new() { 1, 2, 3 };

    [Theory]
    [MemberData(nameof(Threads))]
    public void Forward_matches_equation6(int threads)
    {
        if (!DirectConvolution.Supports(Window2d.Square(3, 2, 1))) return; // no AVX-512: the GEMM runs these convs
        KernelSettings.Run(GemmPath.Avx512, threads, () =>
        {
            var rng = new Random(40 + threads);
            int k = 0;
            foreach (var s in Shapes)
                foreach (int batch in new[] { 1, 2, 3 })
                {
                    bool residual = k % 2 == 0, relu = k % 3 != 1, bias = k % 5 != 4;
                    k++;
                    var g = s.G;
                    Assert.True(DirectConvolution.Supports(g), $"{g}");
                    int oh = g.OutH(s.H), ow = g.OutW(s.W), taps = g.KH * g.KW;
                    var w = TestKit.RandomFloats(rng, s.OC * s.C * taps);
                    var b = TestKit.RandomFloats(rng, s.OC);
                    var x = TestKit.RandomTensor(rng, -1, 1, batch, s.C, s.H, s.W);
                    var r = TestKit.RandomTensor(rng, -1, 1, batch, s.OC, oh, ow);
                    var y = new Tensor(batch, s.OC, oh, ow);
                    y.Data.AsSpan().Fill(float.NaN); // every element must be written
                    var conv = new DirectConvolution(w, bias ? b : [], s.OC, s.C, g);
                    fixed (float* px = x.Data, py = y.Data, pr = r.Data)
                    {
                        var args = new DirectConvolution.Args
                        {
                            X = px, Y = py, Residual = residual ? pr : null, Relu = relu, N = batch, H = s.H, W = s.W, OH = oh, OW = ow,
                        };
                        conv.Forward(args);
                    }
                    var want = Naive.Conv2d(TestKit.ToDouble(x.Data), x.Shape, TestKit.ToDouble(w), bias ? TestKit.ToDouble(b) : null, s.OC, 1, g, out var ys);
                    if (residual) want = Naive.Add(want, TestKit.ToDouble(r.Data));
                    if (relu) want = Naive.Map(want, Naive.ReLU);
                    Assert.Equal(ys, y.Shape);
                    // One float FMA chain per output over C * KH * KW terms of ~1: rounding grows about as the root of
                    // their count (measured 1.5e-6 at 2700 terms). A wrong tap, pixel or channel is off by ~1.
                    double tol = 2e-6 * Math.Sqrt(s.C * taps) + 1e-6;
                    TestKit.AssertClose(want, y.Data, tol, tol,
                        $"threads={threads} batch={batch} C={s.C} OC={s.OC} {s.H}x{s.W} {g} residual={residual} relu={relu} bias={bias}");
                }
        });
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void Row_bands_give_the_same_bits_whatever_the_shares(int threads)
    {
        if (!DirectConvolution.Supports(Window2d.Square(3, 2, 1))) return;
        KernelSettings.Run(GemmPath.Avx512, threads, () =>
        {
            var rng = new Random(60 + threads);
            var g = Window2d.Square(7, 2, 3);
            const int C = 3, OC = 64, H = 60, W = 30;
            int oh = g.OutH(H), ow = g.OutW(W);
            var w = TestKit.RandomFloats(rng, OC * C * 49);
            var b = TestKit.RandomFloats(rng, OC);
            var x = TestKit.RandomTensor(rng, -1, 1, 1, C, H, W);
            double[][] shareSets = threads == 2 ? [[0.5, 0.5], [0.2, 0.8], [0.8, 0.2]] : [[1 / 3.0, 1 / 3.0, 1 / 3.0], [0.1, 0.3, 0.6], [0.6, 0.3, 0.1]];
            float[]? first = null;
            foreach (var shares in shareSets)
            {
                var conv = new DirectConvolution(w, b, OC, C, g);
                conv.Shares.Set(shares);
                var y = new Tensor(1, OC, oh, ow);
                y.Data.AsSpan().Fill(float.NaN);
                fixed (float* px = x.Data, py = y.Data)
                    conv.Forward(new DirectConvolution.Args { X = px, Y = py, Relu = true, N = 1, H = H, W = W, OH = oh, OW = ow });
                Assert.Equal(threads, conv.Shares.Values.Length); // the rows were split (and the shares learned)
                if (first is null) first = y.Data;
                else Assert.Equal(first, y.Data); // bit for bit: who computes a row never changes it
            }
        });
    }

    [Fact]
    public void Only_column_stride_2_windows_without_dilation_are_supported()
    {
        if (!DirectConvolution.Supports(Window2d.Square(3, 2, 1))) return;
        Assert.False(DirectConvolution.Supports(Window2d.Square(3, 1, 1)));
        Assert.False(DirectConvolution.Supports(new Window2d(3, 3, 2, 2, DH: 2, DW: 2)));
        Assert.True(DirectConvolution.Choose(Window2d.Square(7, 2, 3), 1, GemmPath.Avx512));
        Assert.False(DirectConvolution.Choose(Window2d.Square(1, 2, 0), 1, GemmPath.Avx512)); // the GEMM is as fast there
        Assert.False(DirectConvolution.Choose(Window2d.Square(3, 2, 1), 2, GemmPath.Avx512)); // grouped
        Assert.False(DirectConvolution.Choose(Window2d.Square(3, 2, 1), 1, GemmPath.Avx2));
    }
}
