// NoBackward: an identity layer whose backward throws, standing in for any layer without one (what Grad-CAM must name,
// not crash on). Linked in from tests/Shared by the Engine and App tests.
using CameraCnn.Engine;
using CameraCnn.Engine.Layers;

namespace CameraCnn.Tests;

/// <summary>y = x, and no gradient: Backward throws <see cref="NotSupportedException"/>.</summary>
internal sealed class NoBackward : ElementwiseLayer
{
    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output) => inputs[0].Data.AsSpan().CopyTo(output.Data);

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
        => throw new NotSupportedException("no backward here");
}
