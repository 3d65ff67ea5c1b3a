// RunOptions: everything `camcnn run` was asked to do, as the window and headless sessions read it.
namespace CameraCnn.App.Live;

/// <summary>Everything `camcnn run` was asked to do.</summary>
internal sealed record RunOptions
{
    public required string ModelName { get; init; }
    public int? Frames { get; init; }
    /// <summary>Stop after this many seconds (drawing on demand, as interactively).</summary>
    public double? Seconds { get; init; }
    public string? Screenshot { get; init; }
    public string? Keys { get; init; }
    public string? StatsJson { get; init; }
    public int Width { get; init; } = 1280;
    public int Height { get; init; } = 720;
    public bool Fullscreen { get; init; }
    public bool Vsync { get; init; } = true;
    /// <summary>
    /// Cap on frames drawn per second (vsync may hold it lower); 0 = none. Null: 60, or 30 with a software OpenGL
    /// (llvmpipe), where every frame drawn is CPU time the network could have used.
    /// </summary>
    public double? MaxFps { get; init; }
    /// <summary>Seconds a start-up notice (e.g. "no camera") stays on screen.</summary>
    public double NoticeSeconds { get; init; } = 8;
    /// <summary>Run the fused inference graph (as `camcnn bench` does); false shows every layer's own output.</summary>
    public bool Fuse { get; init; } = true;
    /// <summary>Initial state of the display mirror (M toggles it).</summary>
    public bool Mirror { get; init; }
    /// <summary>Frames per second recorded while a digit is held in teach mode (--record-rate).</summary>
    public double RecordRate { get; init; } = 5;
    /// <summary>Where teach mode saves a model on S (inside the --data folder).</summary>
    public string? TeachSavePath { get; init; }
}
