// Parameter: a trainable tensor with its gradient (and, for batch norm, non-trainable state flags).
namespace CameraCnn.Engine;

/// <summary>A learnable tensor and the gradient that Backward adds into.</summary>
public sealed class Parameter(string name, Tensor value, bool trainable = true, bool decay = true)
{
    /// <summary>Short role name ("W", "B", "scale", "mean" ...); the layer name is prefixed by the graph.</summary>
    public string Name { get; } = name;
    public Tensor Value { get; } = value;
    public Tensor Grad { get; } = new(value.Shape);
    /// <summary>False for running statistics (batch norm mean/var): saved, never stepped.</summary>
    public bool Trainable { get; } = trainable;
    /// <summary>Whether weight decay (lambda in the lecture's eq. 13) applies; biases and BN affine skip it.</summary>
    public bool Decay { get; } = decay;
}
