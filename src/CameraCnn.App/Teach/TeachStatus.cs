// TeachStatus: what teach mode's trainer thread is doing, as one immutable snapshot per change (phase, a line for the
// user, progress figures), read by the window's teach lines, headless and the stats.
namespace CameraCnn.App.Teach;

/// <summary>What the trainer thread is doing.</summary>
public enum TeachPhase
{
    /// <summary>Loading the backbone and the feature cache.</summary>
    Starting,
    /// <summary>Waiting (possibly computing features of new frames in the background).</summary>
    Idle,
    /// <summary>Training requested: computing the features still missing.</summary>
    Extracting,
    /// <summary>Training the head (or, fine-tuning, the blocks and the head).</summary>
    Training,
    /// <summary>Writing a model file.</summary>
    Saving,
    /// <summary>The backbone could not be loaded: recording works, training and saving do not.</summary>
    Failed,
}

/// <summary>
/// One snapshot of the trainer's progress (a new object per change; read <see cref="TeachSession.Status"/> as often as
/// wanted). <see cref="Message"/> is a line for the user: what is happening, or what went wrong last.
/// </summary>
public sealed record TeachStatus(
    TeachPhase Phase,
    string Message,
    int FeaturesDone = 0,
    int FeaturesTotal = 0,
    int Epoch = 0,
    int Epochs = 0,
    float Loss = float.NaN,
    float TrainAccuracy = float.NaN,
    float ValAccuracy = float.NaN,
    bool IsError = false,
    int Batch = 0,
    int Batches = 0)
{
    /// <summary>0..1 over the current extraction or training, for a progress bar (within an epoch too when the batches are known: a fine-tuning epoch takes a while).</summary>
    public double Fraction => Phase switch
    {
        TeachPhase.Extracting => FeaturesTotal == 0 ? 0 : (double)FeaturesDone / FeaturesTotal,
        TeachPhase.Training when Epochs == 0 => 0,
        TeachPhase.Training when Batches > 0 && Epoch > 0 => (Epoch - 1 + (double)Batch / Batches) / Epochs,
        TeachPhase.Training => (double)Epoch / Epochs,
        _ => 0,
    };
}
