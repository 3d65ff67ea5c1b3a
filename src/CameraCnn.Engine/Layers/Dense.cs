// Dense: the fully connected layer y = x W^T + b (the lecture's affine W^T x + b), [N, In] -> [N, Out].
using CameraCnn.Engine.Kernels;

namespace CameraCnn.Engine.Layers;

/// <summary>Fully connected layer. Weight is [Out, In] (ONNX Gemm with transB=1), bias [Out].</summary>
public sealed class Dense : Layer
{
    public int InFeatures { get; }
    public int OutFeatures { get; }
    public Parameter Weight { get; }
    public Parameter? Bias { get; }

    public Dense(int inFeatures, int outFeatures, bool bias = true)
    {
        if (inFeatures <= 0 || outFeatures <= 0) throw new ShapeException($"Dense: sizes {inFeatures}->{outFeatures} must be positive");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Weight = new Parameter("W", new Tensor(outFeatures, inFeatures));
        Bias = bias ? new Parameter("B", new Tensor(outFeatures), decay: false) : null;
    }

    public override IReadOnlyList<Parameter> Parameters => Bias is null ? [Weight] : [Weight, Bias];

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs, 1);
        var x = ExpectRank(inputs[0], 2);
        if (x[1] != InFeatures) throw ShapeError($"expects {InFeatures} features, got {Tensor.Format(x)} (add a Flatten before it?)");
        return [x[0], OutFeatures];
    }

    public override long MultiplyAdds(IReadOnlyList<int[]> inputs) => (long)inputs[0][0] * InFeatures * OutFeatures;

    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output)
    {
        Tensor x = inputs[0];
        int n = x.N;
        // y [N, Out] = x [N, In] * W^T [In, Out]
        Gemm.Multiply(false, true, n, OutFeatures, InFeatures, x.Data, InFeatures, Weight.Value.Data, InFeatures, output.Data, OutFeatures, false);
        if (Bias is null) return;
        for (int i = 0; i < n; i++)
        {
            Span<float> row = output.Data.AsSpan(i * OutFeatures, OutFeatures);
            System.Numerics.Tensors.TensorPrimitives.Add(row, Bias.Value.Data, row);
        }
    }

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        Tensor x = inputs[0];
        int n = x.N;
        // dW [Out, In] += dY^T [Out, N] * x [N, In]
        Gemm.Multiply(true, false, OutFeatures, InFeatures, n, dOutput.Data, OutFeatures, x.Data, InFeatures, Weight.Grad.Data, InFeatures, true);
        if (Bias is not null)
            for (int i = 0; i < n; i++)
            {
                Span<float> db = Bias.Grad.Data;
                System.Numerics.Tensors.TensorPrimitives.Add(db, dOutput.Data.AsSpan(i * OutFeatures, OutFeatures), db);
            }
        BackwardInputs(inputs, output, dOutput, dInputs);
    }

    /// <summary>dX [N, In] += dY [N, Out] * W [Out, In]; dW and dB untouched.</summary>
    public override void BackwardInputs(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        if (dInputs[0] is { } dX)
            Gemm.Multiply(false, false, inputs[0].N, InFeatures, OutFeatures, dOutput.Data, OutFeatures, Weight.Value.Data, InFeatures, dX.Data, InFeatures, true);
    }
}
