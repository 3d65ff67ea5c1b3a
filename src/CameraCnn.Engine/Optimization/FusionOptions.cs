// FusionOptions: the choices InferenceFusion makes that a caller may override (for comparisons and tests).
namespace CameraCnn.Engine.Optimization;

/// <summary>Options of <see cref="InferenceFusion.Fuse"/>.</summary>
public sealed record FusionOptions
{
    /// <summary>The defaults: every algorithm allowed, chosen per layer by the fusion's rule.</summary>
    public static FusionOptions Default { get; } = new();

    /// <summary>False forbids Winograd convolutions (`--no-winograd`): 3x3 stride-1 convs run im2col + GEMM.</summary>
    public bool Winograd { get; init; } = true;

    /// <summary>False forbids the direct kernel (`--no-direct`): column-stride-2 convs run im2col + GEMM.</summary>
    public bool Direct { get; init; } = true;
}
