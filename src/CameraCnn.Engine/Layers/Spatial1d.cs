// Spatial1d: runs a 2-D window layer (Conv2d, MaxPool2d, AvgPool2d) on a 1-D signal [N, C, L] as the image
// [N, C, 1, L] (ONNX Conv/MaxPool/AveragePool with one spatial axis). The data is shared, not copied.
namespace CameraCnn.Engine.Layers;

/// <summary>
/// Wraps a 2-D window layer whose window has height 1 (kernel, stride, dilation 1; no top/bottom padding), which is
/// then exactly the 1-D operation along the last axis. Parameters and gradients are the inner layer's.
/// </summary>
public sealed class Spatial1d : Layer
{
    public Layer Inner { get; }

    // Rank-4 views of the last tensors seen, re-made only when a buffer or shape changes (no per-frame garbage).
    private readonly Dictionary<(float[], int, int, int), Tensor> _views = [];

    public Spatial1d(Layer inner)
    {
        if (inner is not (Conv2d or MaxPool2d or AvgPool2d)) throw new ShapeException($"Spatial1d: {inner} is not a 2-D window layer");
        var w = inner switch { Conv2d c => c.Window, MaxPool2d m => m.Window, _ => ((AvgPool2d)inner).Window };
        if (w.KH != 1 || w.SH != 1 || w.DH != 1 || w.PadTop != 0 || w.PadBottom != 0)
            throw new ShapeException($"Spatial1d: {inner} has a window of height {w.KH}, not a 1-D one");
        Inner = inner;
    }

    public override IReadOnlyList<Parameter> Parameters => Inner.Parameters;

    public override long MultiplyAdds(IReadOnlyList<int[]> inputs) => Inner.MultiplyAdds([Lift(inputs[0])]);

    private int[] Lift(int[] x) => x.Length == 3 ? [x[0], x[1], 1, x[2]] : throw ShapeError($"expects [N, C, L], got {Tensor.Format(x)}");

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs, 1);
        Inner.Name = Name;
        var y = Inner.OutputShape([Lift(inputs[0])]);
        return [y[0], y[1], y[3]];
    }

    private Tensor View(Tensor t)
    {
        var key = (t.Data, t.Shape[0], t.Shape[1], t.Shape[2]);
        if (_views.TryGetValue(key, out var v)) return v;
        if (_views.Count >= 16) _views.Clear(); // buffers change when shapes do; keep the cache small
        return _views[key] = new Tensor([t.Shape[0], t.Shape[1], 1, t.Shape[2]], t.Data);
    }

    private readonly Tensor[] _x = new Tensor[1];
    private readonly Tensor?[] _dX = new Tensor?[1];

    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output)
    {
        Inner.Training = Training;
        _x[0] = View(inputs[0]);
        Inner.Forward(_x, View(output));
    }

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        _x[0] = View(inputs[0]);
        _dX[0] = dInputs[0] is { } d ? View(d) : null;
        Inner.Backward(_x, View(output), View(dOutput), _dX);
    }

    public override void BackwardInputs(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        _x[0] = View(inputs[0]);
        _dX[0] = dInputs[0] is { } d ? View(d) : null;
        Inner.BackwardInputs(_x, View(output), View(dOutput), _dX);
    }

    public override string ToString() => $"{GetType().Name}({Inner.GetType().Name}) '{Name}'";
}
