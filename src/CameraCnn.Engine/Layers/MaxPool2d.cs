// MaxPool2d: the maximum of each window (lecture, "Pooling"); backward routes the error to the arg-max.
using CameraCnn.Engine.Kernels;

namespace CameraCnn.Engine.Layers;

/// <summary>Max pooling over KHxKW windows with stride, begin/end padding (never selected) and ONNX ceil_mode.</summary>
public sealed class MaxPool2d : Layer
{
    public Window2d Window { get; }
    public bool CeilMode { get; }
    private int[] _argmax = []; // flat input index per output element, -1 when the window is all padding
    private bool _hasArgmax; // _argmax belongs to the last forward (a training one)

    public MaxPool2d(Window2d window, bool ceilMode = false)
    {
        window.Validate("MaxPool2d");
        Window = window;
        CeilMode = ceilMode;
    }

    public MaxPool2d(int kernel, int stride, int pad = 0, bool ceilMode = false)
        : this(Window2d.Square(kernel, stride, pad), ceilMode) { }

    public override int[] OutputShape(IReadOnlyList<int[]> inputs) => PoolShape.Output(this, inputs, Window, CeilMode);

    public override unsafe void Forward(IReadOnlyList<Tensor> inputs, Tensor output)
    {
        Tensor x = inputs[0];
        if (Training)
        {
            ForwardWithArgmax(x, output);
            return;
        }
        // An inference forward leaves the argmax out (a third of the kernel's work and as many writes as y); a backward
        // after one (Grad-CAM through the pool) works it out then, from the same input.
        _hasArgmax = false;
        fixed (float* px = x.Data, py = output.Data)
            Pooling.MaxForward(px, x.N * x.C, x.H, x.W, Window, output.H, output.W, py, null); // Kernels/Pooling.cs
    }

    private unsafe void ForwardWithArgmax(Tensor x, Tensor output)
    {
        if (_argmax.Length < output.Length) _argmax = new int[output.Length];
        fixed (float* px = x.Data, py = output.Data)
        fixed (int* pa = _argmax)
            Pooling.MaxForward(px, x.N * x.C, x.H, x.W, Window, output.H, output.W, py, pa);
        _hasArgmax = true;
    }

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        if (dInputs[0] is not { } dX) return;
        if (!_hasArgmax) ForwardWithArgmax(inputs[0], output); // the same y again, and its argmax
        float[] dy = dOutput.Data, dx = dX.Data;
        for (int o = 0; o < dOutput.Length; o++)
            if (_argmax[o] >= 0) dx[_argmax[o]] += dy[o];
    }
}

/// <summary>Shape rule shared by the pooling layers.</summary>
internal static class PoolShape
{
    public static int[] Output(Layer layer, IReadOnlyList<int[]> inputs, Window2d window, bool ceil)
    {
        if (inputs.Count != 1) throw new ShapeException($"{layer}: expects 1 input, got {inputs.Count}");
        var x = inputs[0];
        if (x.Length != 4) throw new ShapeException($"{layer}: expects an NCHW input, got {Tensor.Format(x)}");
        int oh = window.OutH(x[2], ceil), ow = window.OutW(x[3], ceil);
        if (oh <= 0 || ow <= 0)
            throw new ShapeException($"{layer}: window {window.ExtentH}x{window.ExtentW} does not fit input {Tensor.Format(x)}");
        return [x[0], x[1], oh, ow];
    }
}
