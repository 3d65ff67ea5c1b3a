// LivePipeline: the GL-free pipeline the window and `run --headless` share: capture readers -> inference worker ->
// newest-result slot, and in teach mode the one place where a newly trained (or renamed) head becomes the network the
// worker runs. Neither the window nor headless applies a head itself: every result leaves the worker complete.
using CameraCnn.App.Teach;
using CameraCnn.Engine;
using CameraCnn.Engine.Models;
using CameraCnn.Vision;

namespace CameraCnn.App.Live;

/// <summary>Feed, worker and the teach head's way into the worker. Owns the capture thread and the worker, not the teach session.</summary>
internal sealed class LivePipeline : IDisposable
{
    private readonly Lock _swap = new();
    private bool _disposed;

    /// <param name="capture">a started capture thread: one reader for headless, two with a window (inference, render).</param>
    /// <param name="teach">teach mode's session (its head classifies <paramref name="featureNode"/>'s output), or null.</param>
    public LivePipeline(Model model, CaptureThread capture, bool fuse, TeachSession? teach = null, Node? featureNode = null)
    {
        Feed = new LiveFeed(capture);
        try
        {
            if (model.Graph.Inputs.Count != 1)
                throw new ArgumentException($"the live window needs a single-input model; this one has {model.Graph.Inputs.Count} inputs");
            var pre = model.Preprocessing ?? FromInputShape(model.Graph.Inputs[0].InputShape!);
            pre.Validate();
            var network = LiveNetwork.Create(model, pre, fuse, teach is null ? null : featureNode);
            Worker = new InferenceWorker(network, pre, Feed.ForInference, teach);
            Teach = teach;
            if (teach is not null)
            {
                teach.HeadChanged += OnHeadChanged;
                OnHeadChanged(); // the head as it is now; one published meanwhile comes through the event
            }
        }
        catch
        {
            if (teach is not null) teach.HeadChanged -= OnHeadChanged;
            Feed.Dispose();
            throw;
        }
    }

    public LiveFeed Feed { get; }
    public InferenceWorker Worker { get; }
    public TeachSession? Teach { get; }

    public void Start() => Worker.Start();

    /// <summary>A trainer or recorder thread published a head (or a threshold): the worker runs it from its next frame.</summary>
    private void OnHeadChanged()
    {
        var teach = Teach!;
        lock (_swap) // two teach threads may publish at once; each new network is built on the latest one
            Worker.Network = Worker.Network.WithHead(teach.CurrentHead, teach.Threshold);
    }

    /// <summary>A model without preprocessing metadata: its input shape, RGB, values as they come.</summary>
    private static Preprocessing FromInputShape(int[] shape)
    {
        int c = shape.Length == 4 && shape[1] is 1 or 3 ? shape[1] : 3;
        int h = shape.Length == 4 && shape[2] > 0 ? shape[2] : 224, w = shape.Length == 4 && shape[3] > 0 ? shape[3] : 224;
        return new Preprocessing { Channels = c, Height = h, Width = w, ColorOrder = c == 1 ? "gray" : "rgb" };
    }

    /// <summary>Joins the worker, then stops the capture thread.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (Teach is not null) Teach.HeadChanged -= OnHeadChanged;
        Worker.Dispose();
        Feed.Dispose();
    }
}
