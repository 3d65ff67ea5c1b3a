// Activations: the element-wise nonlinearities phi of the lecture's eq. (7); backward multiplies by phi'(Z) (eq. 12).
using System.Numerics.Tensors;
using CameraCnn.Engine.Kernels;

namespace CameraCnn.Engine.Layers;

/// <summary>ReLU: max(0, z). The derivative at 0 is taken as 0.</summary>
public sealed class ReLU : ElementwiseLayer
{
    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output)
        => TensorPrimitives.Max(inputs[0].Data, 0f, output.Data);

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        if (dInputs[0] is not { } dX) return;
        var job = new MaskedAdd { X = inputs[0].Data, Dy = dOutput.Data, Dx = dX.Data };
        Parallelism.For(dX.Length, 65536, ref job); // a struct body: no closure per call
    }

    /// <summary>dx += dy where x &gt; 0, over one worker's slice.</summary>
    private struct MaskedAdd : IParallelBody
    {
        public float[] X, Dy, Dx;

        public readonly void Run(int start, int end, int worker) =>
            TrainingMath.AddWherePositive(X.AsSpan(start, end - start), Dy.AsSpan(start, end - start), Dx.AsSpan(start, end - start));
    }
}

/// <summary>LeakyReLU: z for z &gt; 0, alpha*z otherwise (ONNX default alpha 0.01).</summary>
public sealed class LeakyReLU(float alpha = 0.01f) : ElementwiseLayer
{
    public float Alpha { get; } = alpha;

    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output)
    {
        float[] x = inputs[0].Data, y = output.Data;
        for (int i = 0; i < y.Length; i++) y[i] = x[i] > 0 ? x[i] : Alpha * x[i];
    }

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        if (dInputs[0] is not { } dX) return;
        float[] x = inputs[0].Data, dy = dOutput.Data, dx = dX.Data;
        for (int i = 0; i < dx.Length; i++) dx[i] += x[i] > 0 ? dy[i] : Alpha * dy[i];
    }
}

/// <summary>Sigmoid: 1 / (1 + e^-z); derivative y (1 - y) from the saved output.</summary>
public sealed class Sigmoid : ElementwiseLayer
{
    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output)
        => TensorPrimitives.Sigmoid(inputs[0].Data, output.Data);

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        if (dInputs[0] is not { } dX) return;
        float[] y = output.Data, dy = dOutput.Data, dx = dX.Data;
        for (int i = 0; i < dx.Length; i++) dx[i] += dy[i] * y[i] * (1 - y[i]);
    }
}

/// <summary>Tanh; derivative 1 - y^2 from the saved output.</summary>
public sealed class Tanh : ElementwiseLayer
{
    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output)
        => TensorPrimitives.Tanh(inputs[0].Data, output.Data);

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        if (dInputs[0] is not { } dX) return;
        float[] y = output.Data, dy = dOutput.Data, dx = dX.Data;
        for (int i = 0; i < dx.Length; i++) dx[i] += dy[i] * (1 - y[i] * y[i]);
    }
}
