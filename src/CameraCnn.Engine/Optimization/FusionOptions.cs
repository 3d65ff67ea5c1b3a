// FusionOptions: the choices InferenceFusion makes that a caller may override (for comparisons and tests).
namespace CameraCnn.Engine.Optimization;

/// <summary>Options of <see cref="InferenceFusion.Fuse"/>.</summary>
public sealed record FusionOptions
{
    /// <summary>The defaults: every algorithm allowed, chosen per layer by the fusion's rule.</summary>
    public static FusionOptions Default { get; } = new();

    /// <summary>False forbids Winograd convolutions (`--no-winograd`): every conv runs im2col + GEMM.</summary>
    public bool Winograd { get; init; } = true;
}
