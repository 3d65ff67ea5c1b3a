// InferenceResult: one frame's result as it leaves the inference worker, complete: the final class probabilities (the
// model's softmax or the teach head's), the prediction, the network version the labels belong to, the shown layer's
// activations with per-channel ranges, and the timings. The window only uploads and draws it; headless only prints it.
// Per-frame maps computed from the same forward belong here too: the Grad-CAM heatmap (G) and the frame region it covers.

namespace CameraCnn.App.Live;

/// <summary>One published inference (a reusable buffer of the worker's result slot; sized once, never reallocated).</summary>
internal sealed class InferenceResult
{
    public InferenceResult(int classCapacity, int featureCapacity, int channelCapacity, int nodes, int heatmapCapacity)
    {
        Heatmap = new float[heatmapCapacity];
        Probabilities = new float[classCapacity];
        Features = new float[featureCapacity];
        Ranges = new float[2 * channelCapacity];
        NodeMs = new double[nodes];
    }

    /// <summary>The network this result was computed with: its labels, version, threshold and note.</summary>
    public LiveNetwork Network { get; set; } = null!;
    /// <summary>Class probabilities, the first <see cref="LiveNetwork.Classes"/> valid (none without classes).</summary>
    public float[] Probabilities { get; }
    public Prediction Prediction { get; set; } = Prediction.None;
    /// <summary>The tapped layer's activations, [C, H, W] as in the tensor; valid when <see cref="Tap"/> is not null.</summary>
    public float[] Features { get; }
    /// <summary>(min, max) per channel of the tapped layer.</summary>
    public float[] Ranges { get; }
    public float GlobalMin { get; set; }
    public float GlobalMax { get; set; }
    public LayerTap? Tap { get; set; }
    /// <summary>The Grad-CAM map, <see cref="HeatmapInfo.Height"/> x <see cref="HeatmapInfo.Width"/> values in 0..1, row-major,
    /// covering the whole network input; valid when <see cref="Heat"/> has a map.</summary>
    public float[] Heatmap { get; }
    /// <summary>This frame's Grad-CAM: off, a map (its layer, class, size, time and frame region), or why there is none.</summary>
    public HeatmapInfo Heat { get; set; }
    /// <summary>Per graph node, milliseconds of its forward (when timing was on).</summary>
    public double[] NodeMs { get; }
    public bool HasTiming { get; set; }
    public double ForwardMs { get; set; }
    /// <summary>Capture timestamp of the frame this result is for (latency is measured from it).</summary>
    public long FrameTimestamp { get; set; }
    /// <summary>1, 2, 3... per published result.</summary>
    public long Sequence { get; set; }
    /// <summary>False for a result published only to show another layer of the same frame.</summary>
    public bool NewFrame { get; set; }

    /// <summary>The valid probabilities.</summary>
    public ReadOnlySpan<float> ClassProbabilities => Probabilities.AsSpan(0, Network.Classes);
}
