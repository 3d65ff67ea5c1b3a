// LiveState: what the live window shows and how, owned by the render thread: the user's toggles (feature maps,
// layer, colormap, zoom, help...) and the latest figures the overlay prints. Plain fields, preallocated arrays.
using CameraCnn.Engine;

namespace CameraCnn.App.Window;

/// <summary>A class in teach mode's strip: its number (key - 1), its caption ("1 apple") and its frame count.</summary>
internal readonly record struct TeachTile(int Index, string Caption, string Count);

/// <summary>The render thread's view model.</summary>
internal sealed class LiveState
{
    public static readonly string[] ColormapNames = ["viridis", "inferno", "gray"];
    public const int TopK = 5;

    public LiveState(int classes, IReadOnlyList<string> labels, IReadOnlyList<Node> nodes)
    {
        Smoothed = new float[classes];
        Labels = labels;
        Nodes = nodes;
        NodeMs = new double[nodes.Count];
    }

    // What the user chose.
    public bool ShowFeatures, ShowHelp, ShowTiming, GlobalNorm, Mirror, Paused;
    public int Tap, Page, Colormap;
    /// <summary>Channel zoomed over the camera picture, -1 for none.</summary>
    public int ZoomChannel = -1;
    public float ZoomOpacity = 0.6f;

    // What the overlay prints.
    public string Title = "";
    public string SourceName = "";
    /// <summary>A start-up message (e.g. no camera found) and until when (Stopwatch timestamp) it is shown as a banner.</summary>
    public string? Notice;
    public long NoticeUntil;
    public bool IsClassifier;
    /// <summary>Said instead of bars when the model has no classifier head.</summary>
    public string NoClassesText = "";
    public IReadOnlyList<string> Labels;
    public float[] Smoothed;

    // Teach mode (null / false without a teach session).
    /// <summary>Class counters, trainer status, the head's verdict: rebuilt when they change, drawn under the bars.</summary>
    public string[]? TeachLines;
    /// <summary>The last training's validation confusion matrix (V shows it): a title row, then rows of cells.</summary>
    public string[][]? ConfusionTable;
    public bool ShowConfusion;
    /// <summary>One tile per recorded class (thumbnail, "k name", frame count), in the strip at the bottom left.</summary>
    public TeachTile[] TeachTiles = [];
    /// <summary>The class keys act on (highlighted), the one being recorded into (a held digit), the one being renamed; -1: none.</summary>
    public int TeachCurrent = -1, TeachHeld = -1, TeachRenaming = -1;
    /// <summary>The trainer's progress (0..1) while it computes features or trains; -1 otherwise (no bar).</summary>
    public float TeachProgress = -1;
    /// <summary>The name typed so far while renaming.</summary>
    public string RenameText = "";
    public readonly int[] Top = new int[TopK];
    public int TopCount;
    public double RenderFps, CaptureFps, InferenceFps, ForwardMs, LatencyMs = double.NaN;
    public FeedState FeedState;
    /// <summary>The capture thread's status line (shown while reconnecting or after the source stopped).</summary>
    public string FeedStatus = "";
    public string? WorkerFailure;
    public bool HaveFrame, HaveResult;
    public int FrameWidth, FrameHeight;

    // Per-layer timing strip.
    public IReadOnlyList<Node> Nodes;
    public double[] NodeMs;
    public bool HaveTiming;

    /// <summary>Re-ranks the <see cref="TopK"/> largest smoothed probabilities (insertion into a fixed array).</summary>
    public void RankTop()
    {
        int k = Math.Min(TopK, Smoothed.Length);
        TopCount = 0;
        for (int i = 0; i < Smoothed.Length; i++)
        {
            float p = Smoothed[i];
            int pos = TopCount;
            while (pos > 0 && Smoothed[Top[pos - 1]] < p) pos--;
            if (pos >= k) continue;
            for (int j = Math.Min(TopCount, k - 1); j > pos; j--) Top[j] = Top[j - 1];
            Top[pos] = i;
            if (TopCount < k) TopCount++;
        }
    }
}
