// Constant: a node without inputs whose output is a fixed tensor (an ONNX initializer or Constant used as data,
// e.g. the mean image a preprocessing graph subtracts). Held as a frozen parameter so it is saved with the model.
namespace CameraCnn.Engine.Layers;

/// <summary>Outputs <see cref="Value"/> on every forward; no inputs, nothing to learn, nothing to backpropagate.</summary>
public sealed class Constant : Layer
{
    public Parameter Value { get; }

    public Constant(Tensor value) => Value = new Parameter("value", value, trainable: false, decay: false);

    public override IReadOnlyList<Parameter> Parameters => [Value];

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs, 0);
        return (int[])Value.Value.Shape.Clone();
    }

    // A copy per forward: the output buffer belongs to the graph node, and taps may read it while the value stays intact.
    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output) => Value.Value.Data.AsSpan().CopyTo(output.Data);

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs) { }
}
