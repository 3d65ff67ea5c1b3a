// Pointwise: parameter-free element-wise maps that are not activations of the lecture: Identity, Neg, Exp and
// Clip (ONNX ops of the same names). Forward and backward side by side; backward adds into dX.
using System.Numerics.Tensors;

namespace CameraCnn.Engine.Layers;

/// <summary>y = x, as a copy (an ONNX Identity whose output must carry its own name).</summary>
public sealed class Identity : ElementwiseLayer
{
    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output) => inputs[0].Data.AsSpan().CopyTo(output.Data);

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        if (dInputs[0] is { } dX) TensorPrimitives.Add(dX.Data, dOutput.Data, dX.Data);
    }
}

/// <summary>y = -x.</summary>
public sealed class Neg : ElementwiseLayer
{
    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output) => TensorPrimitives.Negate(inputs[0].Data, output.Data);

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        if (dInputs[0] is { } dX) TensorPrimitives.Subtract(dX.Data, dOutput.Data, dX.Data);
    }
}

/// <summary>y = e^x; derivative y from the saved output.</summary>
public sealed class Exp : ElementwiseLayer
{
    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output) => TensorPrimitives.Exp(inputs[0].Data, output.Data);

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        if (dInputs[0] is { } dX) TensorPrimitives.MultiplyAdd(dOutput.Data, output.Data, dX.Data, dX.Data);
    }
}

/// <summary>
/// y = min(max(x, Min), Max) (ONNX Clip; with Min &gt; Max every element becomes Max, as in numpy.clip). The error
/// passes where Min &lt;= x &lt;= Max, the subgradient PyTorch uses; NaN stays NaN.
/// </summary>
public sealed class Clip : ElementwiseLayer
{
    public float Min { get; }
    public float Max { get; }

    public Clip(float min = float.NegativeInfinity, float max = float.PositiveInfinity)
    {
        if (float.IsNaN(min) || float.IsNaN(max)) throw new ShapeException($"Clip: bounds [{min}, {max}] must be numbers");
        Min = min;
        Max = max;
    }

    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output)
    {
        float[] x = inputs[0].Data, y = output.Data;
        for (int i = 0; i < y.Length; i++)
        {
            float v = x[i];
            y[i] = float.IsNaN(v) ? v : Math.Min(Math.Max(v, Min), Max);
        }
    }

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        if (dInputs[0] is not { } dX) return;
        float[] x = inputs[0].Data, dy = dOutput.Data, dx = dX.Data;
        for (int i = 0; i < dx.Length; i++)
            if (x[i] >= Min && x[i] <= Max) dx[i] += dy[i];
    }
}
