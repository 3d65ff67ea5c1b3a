// WindowTests: Window2d.OutputLength against the lecture's eq. (5), floor((M + p - Mw + s) / s), and the ONNX
// ceil_mode rule (keep the partial last window only when it starts inside the input or the begin padding).
using CameraCnn.Engine.Kernels;

namespace CameraCnn.Engine.Tests.Kernels;

public sealed class WindowTests
{
    [Fact]
    public void Floor_mode_is_lecture_equation5()
    {
        for (int m = 1; m <= 20; m++)
            for (int pb = 0; pb <= 3; pb++)
                for (int pe = 0; pe <= 3; pe++)
                    for (int mw = 1; mw <= m + pb + pe; mw++)
                        for (int s = 1; s <= 4; s++)
                        {
                            int want = (m + pb + pe - mw + s) / s; // eq. (5); the numerator is >= s > 0, so this is the floor
                            Assert.True(want == Window2d.OutputLength(m, pb, pe, mw, s),
                                $"M={m} pads={pb}+{pe} Mw={mw} s={s}: {Window2d.OutputLength(m, pb, pe, mw, s)}, eq. 5 gives {want}");
                        }
    }

    [Fact]
    public void Lecture_examples()
    {
        // Padding slide: 4x5 image, 2x2 kernel, p = 2 (1 per side), s = 1 -> 5x6; with s = 2 -> 3x3.
        var g1 = new Window2d(2, 2, 1, 1, 1, 1, 1, 1);
        Assert.Equal((5, 6), (g1.OutH(4), g1.OutW(5)));
        var g2 = new Window2d(2, 2, 2, 2, 1, 1, 1, 1);
        Assert.Equal((3, 3), (g2.OutH(4), g2.OutW(5)));
        // "For a convolution kernel of dimensions 3x3, the output will have dimensions 5x4" (same size as the input).
        var g3 = Window2d.Square(3, 1, 1);
        Assert.Equal((4, 5), (g3.OutH(4), g3.OutW(5)));
        // Unpadded eq. (2): M_I - M_W + 1.
        Assert.Equal(4 - 2 + 1, Window2d.OutputLength(4, 0, 0, 2, 1));
        // Sparse-connectivity slide: input of dimension 8, kernel {w0, w1}, stride 2 -> 4 outputs.
        Assert.Equal(4, Window2d.OutputLength(8, 0, 0, 2, 2));
    }

    [Fact]
    public void Ceil_mode_matches_its_definition_on_a_grid()
    {
        for (int m = 1; m <= 20; m++)
            for (int k = 1; k <= 5; k++)
                for (int pb = 0; pb < k; pb++)      // ONNX requires pads smaller than the kernel
                    for (int pe = 0; pe < k; pe++)
                        for (int s = 1; s <= 4; s++)
                        {
                            if (m + pb + pe < k) continue;
                            int floor = Window2d.OutputLength(m, pb, pe, k, s, ceil: false);
                            int ceil = Window2d.OutputLength(m, pb, pe, k, s, ceil: true);
                            // Brute force: window o starts at o*s in padded coordinates. Ceil mode keeps every start
                            // up to the last one that still covers part of the padded input, i.e. o*s <= M+p-k+s-1,
                            // and drops a start at or beyond the end padding (o*s >= M + padBegin).
                            int want = 0;
                            for (int o = 0; o * s <= m + pb + pe - k + s - 1; o++)
                                if (o * s < m + pb) want++;
                            Assert.True(want == ceil, $"M={m} k={k} pads={pb}+{pe} s={s}: ceil {ceil}, expected {want}");
                            Assert.True(ceil == floor || ceil == floor + 1, $"M={m} k={k} s={s}: ceil {ceil} floor {floor}");
                            if ((m + pb + pe - k) % s == 0) Assert.Equal(floor, ceil);
                        }
    }

    [Theory]
    // ONNX MaxPool / AveragePool examples (onnx/backend/test/case/node): input, kernel, stride, pads, dilation, ceil -> out.
    [InlineData(4, 3, 2, 0, 0, 1, true, 2)]   // maxpool_2d_ceil / averagepool_2d_ceil: 4x4, k3, s2 -> 2x2
    [InlineData(4, 3, 2, 0, 0, 1, false, 1)]  // the same without ceil_mode -> 1x1
    [InlineData(2, 1, 2, 0, 0, 1, true, 1)]   // maxpool_2d_ceil_output_size_reduce_by_one: 2x2, k1, s2 -> 1x1
    [InlineData(32, 5, 1, 0, 0, 1, false, 28)] // maxpool_2d_default: 32x32, k5 -> 28
    [InlineData(32, 5, 3, 0, 0, 1, false, 10)] // maxpool_2d_strides: k5, s3 -> 10
    [InlineData(28, 3, 1, 2, 2, 1, false, 30)] // maxpool_2d_pads: 28x28, k3, pads 2 -> 30
    [InlineData(5, 5, 1, 2, 2, 1, false, 5)]  // maxpool_2d_precomputed_pads: 5x5, k5, pads 2 -> 5
    [InlineData(5, 2, 2, 0, 0, 1, false, 2)]  // maxpool_2d_precomputed_strides: 5x5, k2, s2 -> 2
    [InlineData(4, 2, 1, 0, 0, 2, false, 2)]  // maxpool_2d_dilations: 4x4, k2, d2 -> 2
    [InlineData(5, 3, 2, 1, 1, 1, true, 3)]   // ceil with pads: (5+2-3)/2 = 2 exactly, +1 -> 3 either way
    [InlineData(6, 3, 2, 1, 1, 1, true, 4)]   // ceil keeps a window starting inside the input: 6+2-3 = 5 -> 4
    [InlineData(6, 3, 2, 1, 1, 1, false, 3)]
    public void OnnxExamples(int m, int k, int s, int padBegin, int padEnd, int d, bool ceil, int expected)
    {
        int extent = d * (k - 1) + 1;
        Assert.Equal(expected, Window2d.OutputLength(m, padBegin, padEnd, extent, s, ceil));
        var g = new Window2d(k, k, s, s, padBegin, padBegin, padEnd, padEnd, d, d);
        Assert.Equal(expected, g.OutH(m, ceil));
        Assert.Equal(expected, g.OutW(m, ceil));
    }

    [Fact]
    public void Kernel_larger_than_padded_input_gives_zero()
    {
        Assert.Equal(0, Window2d.OutputLength(3, 0, 0, 5, 1));
        Assert.Equal(0, Window2d.OutputLength(3, 1, 0, 5, 2, ceil: true));
        Assert.Equal(1, Window2d.OutputLength(3, 1, 1, 5, 2));
    }

    [Fact]
    public void Dilation_extends_the_kernel()
    {
        var g = new Window2d(3, 2, DH: 2, DW: 3);
        Assert.Equal(5, g.ExtentH);
        Assert.Equal(4, g.ExtentW);
        Assert.Equal(9 - 5 + 1, g.OutH(9));
        Assert.Equal(9 - 4 + 1, g.OutW(9));
    }
}
