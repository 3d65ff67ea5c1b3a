// LectureExamplesTests: the worked examples of the lecture "Elements of the convolutional neural network" run
// through Conv2d, with the expected matrices derived by hand from eq. (2) and eq. (5) (not copied from the slides'
// OCR'd tables, which are partly garbled: the last row of the s = 1 table reads "-1 0 -1 0 0").
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Layers;

namespace CameraCnn.Engine.Tests.Layers;

public sealed class LectureExamplesTests
{
    /// <summary>The slide's image I: 4 rows x 5 columns (the slide calls it "5x4", width x height).</summary>
    private static readonly float[,] Image =
    {
        { 1, 2, 1, 3, 1 },
        { 2, 1, 2, 1, 3 },
        { 1, 2, 1, 3, 1 },
        { 2, 1, 2, 1, 3 },
    };

    private static Tensor ImageTensor()
    {
        var t = new Tensor(1, 1, 4, 5);
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 5; c++) t[0, 0, r, c] = Image[r, c];
        return t;
    }

    private static Conv2d SingleChannelConv(float[,] kernel, Window2d window)
    {
        var conv = new Conv2d(1, 1, window, bias: false);
        int kh = kernel.GetLength(0), kw = kernel.GetLength(1);
        for (int p = 0; p < kh; p++)
            for (int q = 0; q < kw; q++) conv.Weight.Value[0, 0, p, q] = kernel[p, q];
        return conv;
    }

    private static void AssertMatrix(float[,] expected, Tensor y)
    {
        int rows = expected.GetLength(0), cols = expected.GetLength(1);
        TestKit.AssertShape([1, 1, rows, cols], y, "conv output");
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                Assert.True(expected[r, c] == y[0, 0, r, c], $"output[{r},{c}] = {y[0, 0, r, c]}, expected {expected[r, c]}");
    }

    private static readonly float[,] AntiDiagonal = { { 0, 1 }, { 1, 0 } };

    [Fact]
    public void Padding_P2_stride1()
    {
        // Zero padding p = 2 in total (1 row/column on each side), s = 1.
        // Eq. (5): floor((M + p - Mw + s) / s) = floor((4 + 2 - 2 + 1) / 1) = 5 rows, floor((5 + 2 - 2 + 1) / 1) = 6 columns.
        // Eq. (2): Z[m,n] = sum_{p,q} W[p,q] Ipad[m+p, n+q] = Ipad[m, n+1] + Ipad[m+1, n] for W = [[0,1],[1,0]].
        // The first row is the top image row shifted right by one (a zero enters on the left); the last row is the
        // bottom image row shifted left by one (a zero enters on the right): [2,1,2,1,3,0].
        float[,] expected =
        {
            { 0, 1, 2, 1, 3, 1 },
            { 1, 4, 2, 5, 2, 3 },
            { 2, 2, 4, 2, 6, 1 },
            { 1, 4, 2, 5, 2, 3 },
            { 2, 1, 2, 1, 3, 0 },
        };
        var conv = SingleChannelConv(AntiDiagonal, new Window2d(2, 2, 1, 1, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1));
        AssertMatrix(expected, TestKit.Run(conv, false, ImageTensor()));
    }

    [Fact]
    public void Padding_P2_stride2()
    {
        // Eq. (5): floor((M + p - Mw + s) / s) = floor((4 + 2 - 2 + 2) / 2) = 3 rows, floor((5 + 2 - 2 + 2) / 2) = 3 columns.
        // The result is the s = 1 output sampled at rows 0, 2, 4 and columns 0, 2, 4 (matches the slide's 3x3 table).
        float[,] expected =
        {
            { 0, 2, 3 },
            { 2, 4, 6 },
            { 2, 2, 3 },
        };
        var conv = SingleChannelConv(AntiDiagonal, new Window2d(2, 2, 2, 2, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1));
        AssertMatrix(expected, TestKit.Run(conv, false, ImageTensor()));
    }

    [Fact]
    public void No_padding_output_is_mi_minus_mw_plus_one()
    {
        // Eq. (2) without padding: (M_I - M_W + 1) x (N_I - N_W + 1) = 3 x 4; Z[m,n] = I[m, n+1] + I[m+1, n].
        float[,] expected =
        {
            { 4, 2, 5, 2 },
            { 2, 4, 2, 6 },
            { 4, 2, 5, 2 },
        };
        var conv = SingleChannelConv(AntiDiagonal, new Window2d(2, 2));
        AssertMatrix(expected, TestKit.Run(conv, false, ImageTensor()));
    }

    [Fact]
    public void Edge_kernel_eq3_with_same_padding()
    {
        // Eq. (3) kernel with p = 2 (1 per side): "for a kernel of 3x3 the output will have dimensions 5x4" (= the input).
        // Z = 8 * I - (sum of the 8 zero-padded neighbours); e.g. Z[0,0] = 8*1 - (2 + 2 + 1) = 3.
        float[,] kernel = { { -1, -1, -1 }, { -1, 8, -1 }, { -1, -1, -1 } };
        float[,] expected =
        {
            { 3, 9, -1, 16, 1 },
            { 9, -4, 2, -7, 15 },
            { 0, 4, -5, 10, -3 },
            { 12, 0, 8, -2, 19 },
        };
        var conv = SingleChannelConv(kernel, Window2d.Square(3, 1, 1));
        AssertMatrix(expected, TestKit.Run(conv, false, ImageTensor()));
    }

    [Fact]
    public void Sparse_connectivity1d_forward_is_w_transpose_h_backward_is_eq13_and14()
    {
        // The 1-D slide: input h of dimension 8, kernel {w0, w1}, stride 2 -> 4 outputs, y = Wc^T h with the 8x4
        // connection matrix Wc[2i, i] = w0, Wc[2i+1, i] = w1.
        const float w0 = 2, w1 = -3;
        float[] h = [1, 4, -2, 5, 3, -1, 0, 2];
        var conv = new Conv2d(1, 1, new Window2d(1, 2, 1, 2), bias: false);
        conv.Weight.Value.Data[0] = w0;
        conv.Weight.Value.Data[1] = w1;
        var x = new Tensor([1, 1, 1, 8], (float[])h.Clone());
        var y = TestKit.Run(conv, false, x);
        TestKit.AssertShape([1, 1, 1, 4], y, "1-D conv");
        var wc = new float[8, 4];
        for (int i = 0; i < 4; i++) { wc[2 * i, i] = w0; wc[2 * i + 1, i] = w1; }
        for (int i = 0; i < 4; i++)
        {
            float want = 0;
            for (int r = 0; r < 8; r++) want += wc[r, i] * h[r];
            Assert.Equal(want, y.Data[i]);
        }

        // Backward with error Delta: dh = Wc Delta (eq. 14 before the activation factor), dW = H Delta^T (eq. 13).
        float[] delta = [1, -2, 3, 0.5f];
        var dx = new Tensor(1, 1, 1, 8);
        conv.Backward([x], y, new Tensor([1, 1, 1, 4], (float[])delta.Clone()), [dx]);
        for (int r = 0; r < 8; r++)
        {
            float want = 0;
            for (int i = 0; i < 4; i++) want += wc[r, i] * delta[i];
            Assert.Equal(want, dx.Data[r]);
        }
        float dw0 = 0, dw1 = 0;
        for (int i = 0; i < 4; i++) { dw0 += h[2 * i] * delta[i]; dw1 += h[2 * i + 1] * delta[i]; }
        Assert.Equal(dw0, conv.Weight.Grad.Data[0]);
        Assert.Equal(dw1, conv.Weight.Grad.Data[1]);
    }

    [Fact]
    public void Channels_eq6_sum_over_input_channels_plus_bias()
    {
        // Eq. (6): Z_k = sum_j W_{j,k} * I_j + B_k with two input channels (I and 2*I) and one output channel.
        var conv = new Conv2d(2, 1, new Window2d(2, 2, 1, 1, 1, 1, 1, 1), bias: true);
        for (int p = 0; p < 2; p++)
            for (int q = 0; q < 2; q++)
            {
                conv.Weight.Value[0, 0, p, q] = AntiDiagonal[p, q]; // W_{0,0}
                conv.Weight.Value[0, 1, p, q] = p == q ? 1 : 0;     // W_{1,0} = identity pattern [[1,0],[0,1]]
            }
        conv.Bias!.Value.Data[0] = 10;
        var x = new Tensor(1, 2, 4, 5);
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 5; c++) { x[0, 0, r, c] = Image[r, c]; x[0, 1, r, c] = 2 * Image[r, c]; }
        var y = TestKit.Run(conv, false, x);
        TestKit.AssertShape([1, 1, 5, 6], y, "eq. 6 output");
        float Pad(int r, int c) => r >= 1 && r <= 4 && c >= 1 && c <= 5 ? Image[r - 1, c - 1] : 0;
        for (int m = 0; m < 5; m++)
            for (int n = 0; n < 6; n++)
            {
                float z0 = Pad(m, n + 1) + Pad(m + 1, n);
                float z1 = 2 * (Pad(m, n) + Pad(m + 1, n + 1));
                Assert.Equal(z0 + z1 + 10, y[0, 0, m, n]);
            }
    }
}
