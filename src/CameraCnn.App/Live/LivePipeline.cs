// LivePipeline: the GL-free pipeline the window and `run --headless` share: capture readers -> inference worker ->
// newest-result slot, and in teach mode the one place where a newly trained (or renamed) head, or a fine-tuned backbone
// with its head, becomes the network the worker runs. Neither the window nor headless applies a head itself: every
// result leaves the worker complete.
using CameraCnn.App.Teach;
using CameraCnn.Engine;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Teach;
using CameraCnn.Vision;

namespace CameraCnn.App.Live;

/// <summary>
/// Feed, worker and teach mode's way into the worker. Owns the capture thread and the worker, not the teach session.
/// The swap: a fine-tuned backbone is loaded and fused on the trainer thread when the session announces it
/// (<see cref="TeachSession.BackboneReady"/>); when the session then publishes it with its head, that network with the
/// head is handed to the worker in one reference write, which it picks up at the start of its next frame.
/// </summary>
internal sealed class LivePipeline : IDisposable
{
    private readonly Lock _swap = new();
    private readonly bool _fuse;
    private LiveNetwork _base;          // the network of the session's current backbone, without a head (under _swap)
    private LiveNetwork? _prepared;     // a fine-tuned backbone's network, fused before the session publishes it (under _swap)
    private bool _disposed;

    /// <param name="capture">a started capture thread: one reader for headless, two with a window (inference, render).</param>
    /// <param name="teach">teach mode's session (its head classifies <paramref name="featureNode"/>'s output), or null.
    /// The model is then run up to the feature node only (a teach model's own head is not run: the session's is applied),
    /// so that every backbone the session fine-tunes gives a graph with the same nodes.</param>
    public LivePipeline(Model model, CaptureThread capture, bool fuse, TeachSession? teach = null, Node? featureNode = null)
    {
        Feed = new LiveFeed(capture);
        _fuse = fuse;
        try
        {
            if (model.Graph.Inputs.Count != 1)
                throw new ArgumentException($"the live window needs a single-input model; this one has {model.Graph.Inputs.Count} inputs");
            var pre = model.Preprocessing ?? FromInputShape(model.Graph.Inputs[0].InputShape!);
            pre.Validate();
            if (teach is not null && TeachModel.IsTeachModel(model))
            {
                model = TeachModel.ExtractBackbone(model);
                featureNode = model.Graph.Output;
            }
            _base = LiveNetwork.Create(model, pre, fuse, teach is null ? null : featureNode, teach?.BaseBackbone);
            Worker = new InferenceWorker(_base, pre, Feed.ForInference, teach);
            Teach = teach;
            if (teach is not null)
            {
                teach.BackboneReady += OnBackboneReady;
                teach.HeadChanged += OnHeadChanged;
                OnHeadChanged(); // the head as it is now; one published meanwhile comes through the event
            }
        }
        catch
        {
            if (teach is not null)
            {
                teach.HeadChanged -= OnHeadChanged;
                teach.BackboneReady -= OnBackboneReady;
            }
            Feed.Dispose();
            throw;
        }
    }

    public LiveFeed Feed { get; }
    public InferenceWorker Worker { get; }
    public TeachSession? Teach { get; }

    public void Start() => Worker.Start();

    /// <summary>
    /// A trainer or recorder thread published a head (or a threshold, or a fine-tuned backbone with its head): the worker
    /// runs it from its next frame. The head always goes with the backbone the session pairs it with.
    /// </summary>
    private void OnHeadChanged()
    {
        var teach = Teach!;
        lock (_swap) // two teach threads may publish at once; each new network is built on the latest state
        {
            var state = teach.Network;
            if (state.Backbone.Name != _base.Backbone!.Name)
            {
                // Fused when the trainer announced it; built here only if the announcement came before this pipeline.
                _base = _prepared is { } p && p.Backbone!.Name == state.Backbone.Name ? p : Build(state.Backbone);
                _prepared = null;
            }
            Worker.Network = _base.WithHead(state.Head, teach.Threshold);
        }
    }

    /// <summary>Trainer thread: a fine-tuned backbone is about to be published; load and fuse its network now, here.</summary>
    private void OnBackboneReady(BackboneSource backbone)
    {
        var network = Build(backbone);
        lock (_swap) _prepared = network;
    }

    /// <summary>
    /// The live network of another version of the backbone (a fresh instance, fused as the first was). Its layers are
    /// those the worker was made for (the same taps and nodes, new weights).
    /// </summary>
    /// <exception cref="InvalidDataException">The backbone's graph differs from the one the worker runs.</exception>
    private LiveNetwork Build(BackboneSource backbone)
    {
        var model = backbone.Load();
        var network = LiveNetwork.Create(model, Worker.Preprocessing, _fuse, model.Graph.Output, backbone);
        bool same = network.Graph.Nodes.Count == Worker.Nodes.Count && network.Taps.Count == Worker.Taps.Count
            && network.Taps.Zip(Worker.Taps).All(t => t.First == t.Second)
            && network.Graph.Nodes.Zip(Worker.Nodes).All(n => n.First.Name == n.Second.Name);
        if (!same) throw new InvalidDataException($"the backbone {backbone.Name} does not have the layers of the network the live view runs");
        return network;
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
        if (Teach is not null)
        {
            Teach.HeadChanged -= OnHeadChanged;
            Teach.BackboneReady -= OnBackboneReady;
        }
        Worker.Dispose();
        Feed.Dispose();
    }
}
