// Layer: the contract every layer implements, forward and its mirror backward (which adds into gradients).
namespace CameraCnn.Engine.Layers;

/// <summary>
/// A node's computation. <see cref="Forward"/> writes the output; <see cref="Backward"/> ADDS into the input
/// gradients (which the graph zeroes once per step, so fan-out accumulates) and into parameter gradients.
/// A null entry in dInputs means that input needs no gradient and the layer may skip computing it.
/// </summary>
public abstract class Layer
{
    /// <summary>Unique node name inside a graph; also the ONNX node/output name.</summary>
    public string Name { get; set; } = "";

    /// <summary>Training mode (batch statistics, dropout) vs inference; set by the graph before a forward.</summary>
    public bool Training { get; set; }

    /// <summary>Output shape for the given input shapes; throws <see cref="ShapeException"/> naming the layer.</summary>
    public abstract int[] OutputShape(IReadOnlyList<int[]> inputs);

    public abstract void Forward(IReadOnlyList<Tensor> inputs, Tensor output);

    public abstract void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs);

    /// <summary>
    /// <see cref="Backward"/> for the input gradients only: adds into <paramref name="dInputs"/> and leaves every
    /// parameter's Grad as it was (gradients with respect to activations, e.g. Grad-CAM, must not disturb training and
    /// need not pay for dW). Layers with trainable parameters override it; for the others it is <see cref="Backward"/>.
    /// </summary>
    public virtual void BackwardInputs(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
        => Backward(inputs, output, dOutput, dInputs);

    /// <summary>Learnable tensors and state; empty for parameter-free layers.</summary>
    public virtual IReadOnlyList<Parameter> Parameters => [];

    /// <summary>Multiply-adds of one forward for these input shapes (for benchmarks); 0 when negligible.</summary>
    public virtual long MultiplyAdds(IReadOnlyList<int[]> inputs) => 0;

    /// <summary>Name used in messages: kind and node name.</summary>
    public override string ToString() => $"{GetType().Name} '{Name}'";

    protected ShapeException ShapeError(string what) => new($"{this}: {what}");

    protected void ExpectInputs(IReadOnlyList<int[]> inputs, int count)
    {
        if (inputs.Count != count) throw ShapeError($"expects {count} input(s), got {inputs.Count}");
    }

    protected int[] ExpectRank(int[] shape, int rank)
    {
        if (shape.Length != rank)
            throw ShapeError($"expects a rank-{rank} input, got {Tensor.Format(shape)}");
        return shape;
    }
}

/// <summary>Element-wise layers whose output has the input's shape.</summary>
public abstract class ElementwiseLayer : Layer
{
    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs, 1);
        return (int[])inputs[0].Clone();
    }
}
