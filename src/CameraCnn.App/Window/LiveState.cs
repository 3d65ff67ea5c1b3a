// LiveState: what the live window shows and how, owned by the render thread: the user's toggles (feature maps,
// layer, colormap, zoom, Grad-CAM, help...), the newest result's classes, prediction and Grad-CAM, the smoothed bars,
// and the figures the overlay prints. Plain fields, preallocated arrays (replaced only when the classes change).
using CameraCnn.App.Live;
using CameraCnn.Engine;

namespace CameraCnn.App.Window;

/// <summary>A class in teach mode's strip: its number (key - 1), its caption ("1 apple") and its frame count.</summary>
internal readonly record struct TeachTile(int Index, string Caption, string Count);

/// <summary>The render thread's view model.</summary>
internal sealed class LiveState
{
    public static readonly string[] ColormapNames = ["viridis", "inferno", "gray"];
    public const int TopK = 5;

    public LiveState(IReadOnlyList<Node> nodes)
    {
        Nodes = nodes;
        NodeMs = new double[nodes.Count];
    }

    // What the user chose.
    public bool ShowFeatures, ShowHelp, ShowTiming, GlobalNorm, Mirror, Paused;
    public int Tap, Page, Colormap;
    /// <summary>Channel zoomed over the camera picture, -1 for none.</summary>
    public int ZoomChannel = -1;
    public float ZoomOpacity = 0.6f;

    // Grad-CAM (G).
    public bool ShowHeat;
    /// <summary>The output whose Grad-CAM is shown (a clicked bar), -1: the prediction's.</summary>
    public int HeatClass = -1;
    /// <summary>Steps before the default layer (the last spatial one), moved with [ and ] while G is on.</summary>
    public int HeatLayer;
    public float HeatOpacity = 0.5f;
    /// <summary>The newest result's Grad-CAM: its layer, class, time and region, or why there is none (its map is in the
    /// renderer's heatmap texture).</summary>
    public HeatmapInfo Heat;

    /// <summary>What the worker is asked to compute.</summary>
    public HeatmapRequest HeatRequest => ShowHeat ? new HeatmapRequest(true, HeatClass, HeatLayer) : HeatmapRequest.Off;

    // What the overlay prints.
    public string Title = "";
    public string SourceName = "";
    /// <summary>A start-up message (e.g. no camera found) and until when (Stopwatch timestamp) it is shown as a banner.</summary>
    public string? Notice;
    public long NoticeUntil;

    // The classes of the newest result (set when its network version changes) and the bars over them.
    /// <summary>The version of the network whose labels are shown (-1: none yet).</summary>
    public long ClassesVersion = -1;
    public bool IsClassifier;
    /// <summary>Said instead of bars when there are no classes (a backbone's features, no teach head yet).</summary>
    public string NoClassesText = "";
    public IReadOnlyList<string> Labels = [];
    /// <summary>The bars: each class's probability, moving towards the newest result's.</summary>
    public float[] Smoothed = [];
    /// <summary>The newest result's probabilities, where the bars are going.</summary>
    public float[] Target = [];
    public Prediction Prediction = Prediction.None;
    public float Threshold;
    public readonly int[] Top = new int[TopK];
    public int TopCount;

    // Teach mode (null / false without a teach session).
    /// <summary>Class counters, trainer status, messages: rebuilt when they change, drawn under the bars.</summary>
    public string[]? TeachLines;
    /// <summary>Where among <see cref="TeachLines"/> the live prediction line goes (teach mode with a head), -1: none.</summary>
    public int TeachPredictionAt = -1;
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

    /// <summary>Lines of teach mode's box: the stored ones plus the live prediction line.</summary>
    public int TeachLineCount => TeachLines is null ? 0 : TeachLines.Length + (TeachPredictionAt >= 0 ? 1 : 0);

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

    /// <summary>New classes (another network version): the bars start over (the only allocation, once per change).</summary>
    public void SetClasses(LiveNetwork network)
    {
        ClassesVersion = network.Version;
        Labels = network.Labels;
        IsClassifier = network.Classes > 0;
        NoClassesText = network.Note ?? "";
        Threshold = network.Threshold;
        if (Smoothed.Length != network.Classes)
        {
            Smoothed = new float[network.Classes];
            Target = new float[network.Classes];
        }
        Array.Clear(Smoothed);
        HaveResult = false;
        TopCount = 0;
    }

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
