// LiveHeatmapTests: the inference worker's Grad-CAM (G) without a display: a still through the live pipeline with a
// heatmap asked for. The map each result carries is GradCam on a separate copy of the model as built (unfused) on the
// same frame: of the predicted class, of a clicked one, one layer back, for a LeNet (stretch) and a small ResNet (crop)
// and through a teach head; its frame region is the preprocessing's. A new head keeps the worker's GradCam, a new graph
// makes another. A model without classes, a teach session without a head and a layer without a backward give a message
// in the result, and the worker goes on.
using CameraCnn.App.Live;
using CameraCnn.App.Teach;
using CameraCnn.App.Tests.Window;
using CameraCnn.Engine;
using CameraCnn.Engine.Explain;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Teach;
using CameraCnn.Engine.Training;
using CameraCnn.Vision;
using OpenCvSharp;
using Xunit.Abstractions;

namespace CameraCnn.App.Tests.Live;

public sealed class LiveHeatmapTests(ITestOutputHelper log) : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private static readonly string[] Labels = ["reds", "greens", "blues"];
    private readonly TempDir _dir = new("camcnn-live-heatmap");

    public void Dispose() => _dir.Dispose();

    private static Model Classifier(string arch, string resize)
    {
        var pre = new Preprocessing { Channels = 3, Height = 32, Width = 32, ColorOrder = "rgb", Resize = resize, Scale = 1f / 255f };
        var model = Model.Create(arch, pre, Labels);
        Initializer.Initialize(model.Graph, seed: 1);
        return model;
    }

    /// <summary>A pipeline over a still (the window tests' 320x240 picture, or <paramref name="still"/>), started.</summary>
    private LivePipeline Start(Model model, string? still = null, TeachSession? teach = null, Node? featureNode = null)
    {
        if (still is null) WindowRunner.WriteStill(still = _dir["still.png"]);
        var capture = new CaptureThread(FrameSources.Create(still), new CaptureOptions { Loop = true, Pace = true });
        capture.Start();
        var pipeline = new LivePipeline(model, capture, fuse: true, teach, featureNode);
        pipeline.Start();
        return pipeline;
    }

    /// <summary>The model's input for the still, as the worker prepares it.</summary>
    private Tensor Input(Preprocessing pre, string still)
    {
        using var frame = Cv2.ImRead(still);
        using var prep = new FramePreprocessor(pre);
        var x = prep.CreateInput();
        prep.Process(frame, x);
        return x;
    }

    private static float[] Map(InferenceResult r) => r.Heatmap.AsSpan(0, r.Heat.Height * r.Heat.Width).ToArray();

    private void AssertSameMap(GradCam want, InferenceResult got, string what)
    {
        Assert.Equal((want.Height, want.Width, want.Channels), (got.Heat.Height, got.Heat.Width, got.Heat.Channels));
        float[] expected = want.Map.ToArray(), actual = Map(got);
        double diff = expected.Zip(actual, (p, q) => Math.Abs(p - q)).Max();
        log.WriteLine($"{what}: {want.Layer.Name} {want.Height}x{want.Width}, max |diff| {diff:g3}, map range {expected.Min():F2}..{expected.Max():F2}");
        Assert.True(diff < 1e-4, $"{what}: the worker's map differs from GradCam's by {diff}");
        Assert.True(expected.Max() - expected.Min() > 0.2, $"{what}: a flat map shows too little");
    }

    [Theory]
    [InlineData("lenet", "stretch")]
    [InlineData("small-resnet", "crop")]
    public void The_results_map_is_GradCam_of_the_frame_for_the_predicted_or_clicked_class_at_the_chosen_layer(string arch, string resize)
    {
        var reference = Classifier(arch, resize); // a copy: the pipeline's fused graph shares layers with its model
        using var pipeline = Start(Classifier(arch, resize));
        var worker = pipeline.Worker;
        worker.Heatmap = new HeatmapRequest(true, -1, 0);
        var r = LivePipelineTests.NextResult(pipeline, x => x.Heat.HasMap);

        var g = reference.Graph;
        g.Forward(Input(reference.Preprocessing!, _dir["still.png"]));
        // The fused graph lists each fused chain once, under its last name (the unfused graph has the same name too).
        var layers = worker.Network.Heat.Layers.Select(n => g[n.Name]).ToArray();
        int top = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(g.Output.Output.Data.AsSpan(0, Labels.Length));
        Assert.Equal((top, false, layers.Length - 1, layers.Length), (r.Heat.Output, r.Heat.Pinned, r.Heat.LayerIndex, r.Heat.LayerCount));
        Assert.Equal(r.Prediction.Output, r.Heat.Output);
        Assert.Equal(GradCam.DefaultLayer(g, reference.Logits).Name, layers[^1].Name);
        var cam = new GradCam(g, reference.Logits, layers[^1]);
        cam.Compute(top);
        Assert.Equal(layers[^1].Name, r.Heat.Layer!.Name);
        AssertSameMap(cam, r, $"{arch} predicted class");
        Assert.True(r.Heat.Ms > 0 && double.IsFinite(r.Heat.Share), $"{r.Heat.Ms} ms, share {r.Heat.Share}");
        // The region of the frame the map covers is the preprocessing's input region.
        using (var prep = new FramePreprocessor(reference.Preprocessing!))
        {
            var (x, y, w, h) = HeatmapOverlay.InputRegion(prep.GeometryFor(320, 240), 32, 32);
            Assert.Equal(((float)x, (float)y, (float)w, (float)h, 320, 240),
                (r.Heat.RegionX, r.Heat.RegionY, r.Heat.RegionWidth, r.Heat.RegionHeight, r.Heat.FrameWidth, r.Heat.FrameHeight));
        }

        // A clicked class: that class's map, marked as chosen.
        int other = (top + 1) % Labels.Length;
        worker.Heatmap = new HeatmapRequest(true, other, 0);
        var clicked = LivePipelineTests.NextResult(pipeline, x => x.Heat.Request.Class == other && x.Heat.HasMap);
        Assert.Equal((other, true), (clicked.Heat.Output, clicked.Heat.Pinned));
        cam.Compute(other);
        AssertSameMap(cam, clicked, $"{arch} class {other}");

        // One layer back ([), the predicted class again.
        worker.Heatmap = new HeatmapRequest(true, -1, 1);
        var back = LivePipelineTests.NextResult(pipeline, x => x.Heat.Request.Layer == 1 && x.Heat.HasMap);
        Assert.Equal(layers[^2].Name, back.Heat.Layer!.Name);
        var camBack = new GradCam(g, reference.Logits, layers[^2]);
        camBack.Compute(top);
        AssertSameMap(camBack, back, $"{arch} one layer back");

        // Off: no map.
        worker.Heatmap = HeatmapRequest.Off;
        Assert.Equal(HeatmapState.Off, LivePipelineTests.NextResult(pipeline, x => !x.Heat.Request.On).Heat.State);
        Assert.Null(worker.Failure);
    }

    [Fact]
    public void Through_a_teach_head_a_new_head_keeps_the_workers_GradCam_and_a_new_graph_makes_another()
    {
        using var teach = TeachKit.TwoClassSession(_dir["data"], Timeout);
        string still = _dir["scene.png"];
        using (var image = TeachKit.RenderFrame(1, 5, seed: 2)) Assert.True(Cv2.ImWrite(still, image));
        var model = TeachKit.TinyBackbone();
        using var pipeline = Start(model, still, teach, TeachModel.FeatureNode(model));
        var worker = pipeline.Worker;
        worker.Heatmap = new HeatmapRequest(true, -1, 0);
        var r = LivePipelineTests.NextResult(pipeline, x => x.Heat.HasMap && x.Network.Head is not null);

        // The reference: the backbone as built, the gradient through the same head.
        var backbone = TeachKit.TinyBackbone();
        backbone.Graph.Forward(Input(TeachKit.TinyPreprocessing, still));
        var cam = new GradCam(backbone.Graph, backbone.Graph["pool"]);
        cam.Compute(r.Network.Head!, r.Prediction.Output);
        Assert.Equal("relu2", r.Heat.Layer!.Name);
        AssertSameMap(cam, r, "teach head");
        Assert.Equal(1, worker.HeatmapBuilds);

        // A renamed class is a new head on the same graph: a new network version, the same GradCam.
        long version = r.Network.Version;
        teach.Rename(1, "green");
        Assert.True(teach.Flush(Timeout));
        var renamed = LivePipelineTests.NextResult(pipeline, x => x.Network.Version > version && x.Heat.HasMap);
        Assert.Equal("green", renamed.Network.Labels[1]);
        Assert.Equal(1, worker.HeatmapBuilds);

        // A re-fused backbone (what fine-tuning publishes) is a new graph: the worker makes a GradCam for it.
        var next = LiveNetwork.Create(model, TeachKit.TinyPreprocessing, fuse: true, TeachModel.FeatureNode(model)).WithHead(teach.CurrentHead, teach.Threshold);
        worker.Network = next;
        var refused = LivePipelineTests.NextResult(pipeline, x => x.Network == next && x.Heat.HasMap);
        Assert.Equal(2, worker.HeatmapBuilds);
        AssertSameMap(cam, refused, "teach head, re-fused graph");
        Assert.Null(worker.Failure);
    }

    [Fact]
    public void No_classes_no_head_or_a_layer_without_a_backward_give_a_message_and_the_worker_goes_on()
    {
        // A backbone run as it is (no teach session): features, no classes.
        using (var pipeline = Start(TeachKit.TinyBackbone()))
        {
            pipeline.Worker.Heatmap = new HeatmapRequest(true, -1, 0);
            var r = LivePipelineTests.NextResult(pipeline, x => x.Heat.Request.On);
            Assert.Equal((HeatmapState.Message, LiveHeatmap.NoClassifier), (r.Heat.State, r.Heat.Message));
        }

        // Teach mode before any head.
        using (var teach = TeachSession.Open(new TeachOptions { DataDirectory = _dir["empty"], Backbone = TeachKit.Tiny }))
        {
            var model = TeachKit.TinyBackbone();
            using var pipeline = Start(model, teach: teach, featureNode: TeachModel.FeatureNode(model));
            pipeline.Worker.Heatmap = new HeatmapRequest(true, -1, 0);
            var r = LivePipelineTests.NextResult(pipeline, x => x.Heat.Request.On);
            Assert.Equal((HeatmapState.Message, LiveHeatmap.NoHeadYet), (r.Heat.State, r.Heat.Message));
        }

        // A classifier whose gradient has to cross a layer without a backward.
        var g = new Graph();
        var input = g.AddInput("input", -1, 3, 16, 16);
        var a = g.Add(new ReLU { Name = "relu" }, g.Add(new Conv2d(3, 4, 3, 1, 1) { Name = "conv" }, input));
        var odd = g.Add(new NoBackward { Name = "odd" }, g.Add(new GlobalAvgPool { Name = "gap" }, a));
        g.MarkOutput(g.Add(new Dense(4, 3) { Name = "logits" }, g.Add(new Flatten { Name = "flat" }, odd)));
        Initializer.Initialize(g, seed: 2);
        var classifier = new Model(g, Labels, new Preprocessing { Channels = 3, Height = 16, Width = 16, ColorOrder = "rgb" });
        using (var pipeline = Start(classifier))
        {
            pipeline.Worker.Heatmap = new HeatmapRequest(true, -1, 0);
            var r = LivePipelineTests.NextResult(pipeline, x => x.Heat.Request.On);
            log.WriteLine(r.Heat.Message);
            Assert.Equal(HeatmapState.Message, r.Heat.State);
            Assert.Contains("no gradient through NoBackward 'odd'", r.Heat.Message);
            Assert.Equal("relu", r.Heat.Layer!.Name);
            // The worker goes on: more frames, their bars, the same message without trying again.
            long sequence = r.Sequence;
            var later = LivePipelineTests.NextResult(pipeline, x => x.Sequence > sequence + 3);
            Assert.Equal(r.Heat.Message, later.Heat.Message);
            Assert.True(later.Prediction.Output >= 0);
            Assert.Equal(1, pipeline.Worker.HeatmapBuilds);
            Assert.Null(pipeline.Worker.Failure);
        }
    }
}
