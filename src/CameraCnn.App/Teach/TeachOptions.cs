// TeachOptions: how a TeachSession records, trains and saves: the data folder, the backbone, the head's training
// (HeadOptions: the engine's TrainOptions plus the head's shape and held-out split), fine-tuning (what T runs with
// --fine-tune), augmentation and the threshold.
using CameraCnn.Engine.Teach;
using CameraCnn.Vision.Teach;

namespace CameraCnn.App.Teach;

/// <summary>How a <see cref="TeachSession"/> records, trains and saves.</summary>
public sealed record TeachOptions
{
    /// <summary>The ImageFolder of recorded frames (--data); created if missing, reopened and extended later.</summary>
    public string DataDirectory { get; init; } = TeachDataset.DefaultDirectory;
    /// <summary>The feature extractor; null means the shipped ResNet18.</summary>
    public BackboneSource? Backbone { get; init; }
    public HeadOptions Head { get; init; } = new();
    /// <summary>
    /// --fine-tune N: what T trains (the last N residual blocks and the head, from the backbone the session opened with);
    /// null: T trains the head only. The automatic trainings (a key released, on start) always train the head only.
    /// </summary>
    public FineTuneOptions? FineTune { get; init; }
    /// <summary>Fine-tune once when the backbone is loaded and the folder has two classes (`run --headless --fine-tune`, which has no T).</summary>
    public bool FineTuneOnStart { get; init; }
    /// <summary>Augmented copies (flip, crop, colour jitter) per recorded frame, each one extra backbone forward; 0 = off.</summary>
    public int Augment { get; init; }
    public AugmentOptions? AugmentOptions { get; init; }
    /// <summary>Confidence below which a prediction is "unknown" (--threshold).</summary>
    public float Threshold { get; init; } = 0.5f;
    /// <summary>Keep features in DIR/.camcnn-features-NAME.bin so the next run does not recompute them.</summary>
    public bool PersistFeatures { get; init; } = true;
    /// <summary>Compute the features of newly recorded frames while idle, so training has little left to do.</summary>
    public bool BackgroundExtraction { get; init; } = true;
    /// <summary>Frames that may wait to be written before more are dropped.</summary>
    public int RecordQueue { get; init; } = 32;
    /// <summary>A head to predict with until the first training (e.g. read from the --model file with <see cref="TeachModel.ReadHead"/>).</summary>
    public ClassifierHead? InitialHead { get; init; }
    /// <summary>
    /// Without an initial head, train one as soon as the backbone is loaded when the folder already holds two or more
    /// classes with frames (a reopened folder predicts again at once; cached features make it quick).
    /// </summary>
    public bool TrainOnStart { get; init; }
}
