// AvgPool2d: the mean of each window (lecture, "Pooling"); backward spreads the error evenly over the window.
using CameraCnn.Engine.Kernels;

namespace CameraCnn.Engine.Layers;

/// <summary>
/// Average pooling with stride, begin/end padding, ceil_mode, and ONNX count_include_pad: when true the divisor
/// counts padded positions (but not the ceil-mode overhang past the padding), when false only real pixels.
/// </summary>
public sealed class AvgPool2d : Layer
{
    public Window2d Window { get; }
    public bool CeilMode { get; }
    public bool CountIncludePad { get; }

    public AvgPool2d(Window2d window, bool ceilMode = false, bool countIncludePad = false)
    {
        window.Validate("AvgPool2d");
        if (window.DH != 1 || window.DW != 1) throw new ShapeException("AvgPool2d: dilation is not supported");
        Window = window;
        CeilMode = ceilMode;
        CountIncludePad = countIncludePad;
    }

    public AvgPool2d(int kernel, int stride, int pad = 0, bool ceilMode = false, bool countIncludePad = false)
        : this(Window2d.Square(kernel, stride, pad), ceilMode, countIncludePad) { }

    public override int[] OutputShape(IReadOnlyList<int[]> inputs) => PoolShape.Output(this, inputs, Window, CeilMode);

    /// <summary>Window bounds clipped to the input, and the divisor, for one output position along one axis.</summary>
    private static (int lo, int hi, int padded) Span1d(int o, int stride, int padBegin, int padEnd, int k, int size)
    {
        int start = o * stride - padBegin;
        int end = Math.Min(start + k, size + padEnd);
        int padded = end - start;
        return (Math.Max(start, 0), Math.Min(end, size), padded);
    }

    private float Divisor(int hLo, int hHi, int hPadded, int wLo, int wHi, int wPadded)
        => CountIncludePad ? hPadded * wPadded : (hHi - hLo) * (wHi - wLo);

    public override unsafe void Forward(IReadOnlyList<Tensor> inputs, Tensor output)
    {
        Tensor x = inputs[0];
        fixed (float* px = x.Data, py = output.Data)
            Pooling.AvgForward(px, x.N * x.C, x.H, x.W, Window, output.H, output.W, py, CountIncludePad); // Kernels/Pooling.cs
    }

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        if (dInputs[0] is not { } dX) return;
        Tensor x = inputs[0];
        var job = new SpreadJob { Layer = this, H = x.H, W = x.W, OH = output.H, OW = output.W, Dy = dOutput.Data, Dx = dX.Data };
        Parallelism.For(x.N * x.C, 8, ref job); // a struct body: no closure per call
    }

    /// <summary>Each window's error spread evenly over its pixels, for one worker's planes.</summary>
    private struct SpreadJob : IParallelBody
    {
        public AvgPool2d Layer;
        public int H, W, OH, OW;
        public float[] Dy, Dx;

        public readonly void Run(int p0, int p1, int worker)
        {
            var g = Layer.Window;
            for (int p = p0; p < p1; p++)
                for (int oh = 0; oh < OH; oh++)
                {
                    var (h0, h1, hp) = Span1d(oh, g.SH, g.PadTop, g.PadBottom, g.KH, H);
                    for (int ow = 0; ow < OW; ow++)
                    {
                        var (w0, w1, wp) = Span1d(ow, g.SW, g.PadLeft, g.PadRight, g.KW, W);
                        float d = Layer.Divisor(h0, h1, hp, w0, w1, wp);
                        if (d <= 0) continue;
                        float share = Dy[(p * OH + oh) * OW + ow] / d;
                        for (int ih = h0; ih < h1; ih++)
                            for (int iw = w0; iw < w1; iw++) Dx[(p * H + ih) * W + iw] += share;
                    }
                }
        }
    }
}
