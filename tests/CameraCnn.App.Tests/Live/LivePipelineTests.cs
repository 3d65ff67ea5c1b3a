// LivePipelineTests: the GL-free live pipeline the window and --headless share, without a display: a still image through
// a capture reader into the inference worker, with a teach session and the tiny backbone. Every result leaves the worker
// with the head's verdict already applied (the same probabilities TeachSession.Classify gives for that frame's
// features), a renamed class reaches the results as a new network version between two frames, and a frame asked for is
// recorded by the worker with the features its forward computed. With a tiny residual backbone: T fine-tunes, the new
// network is fused on the trainer thread and swapped in with its head; from then on the worker's probabilities and the
// feature maps of a trained layer are those of the saved fine-tuned model (our engine and ONNX Runtime).
using System.Diagnostics;
using CameraCnn.App.Live;
using CameraCnn.App.Teach;
using CameraCnn.Engine.Teach;
using CameraCnn.Vision;
using CameraCnn.Vision.Teach;
using Xunit.Abstractions;

namespace CameraCnn.App.Tests.Live;

public sealed class LivePipelineTests(ITestOutputHelper log) : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly TempDir _dir = new("camcnn-live-pipeline");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Results_leave_the_worker_with_the_teach_heads_verdict_and_follow_a_new_head()
    {
        using var teach = TeachKit.TwoClassSession(_dir["data"], Timeout);
        string still = _dir["scene1.png"];
        using (var image = TeachKit.RenderFrame(1, 5, seed: 2)) Assert.True(OpenCvSharp.Cv2.ImWrite(still, image)); // lossless
        var model = TeachKit.TinyBackbone();
        var capture = new CaptureThread(FrameSources.Create(still), new CaptureOptions { Loop = true, Pace = true });
        capture.Start();
        using var pipeline = new LivePipeline(model, capture, fuse: true, teach, TeachModel.FeatureNode(model));
        pipeline.Start();

        // The worker's verdict equals the session's own on the frame's features (the extractor runs the same fused backbone).
        var r = NextResult(pipeline, _ => true);
        Assert.Same(teach.CurrentHead, r.Network.Head);
        Assert.Equal(["class1", "class2"], r.Network.Labels);
        var expected = new float[2];
        Prediction verdict;
        using (var extractor = new FeatureExtractor(TeachKit.TinyBackbone()))
        using (var frame = OpenCvSharp.Cv2.ImRead(still))
        {
            var features = new float[extractor.Dimension];
            extractor.Extract(frame, features);
            verdict = teach.Classify(features, expected);
        }
        Assert.Equal(verdict, r.Prediction);
        Assert.Equal(expected, r.ClassProbabilities.ToArray(), (a, b) => Math.Abs(a - b) < 1e-5f);
        Assert.Equal("class2", r.Prediction.Label);

        // A renamed class: the session publishes a relabelled head, the pipeline hands the worker a new network, and
        // results from then on carry the new label and a higher version.
        long version = r.Network.Version;
        teach.Rename(1, "green");
        Assert.True(teach.Flush(Timeout));
        var renamed = NextResult(pipeline, x => x.Network.Version > version);
        Assert.Equal("green", renamed.Prediction.Label);
        Assert.Equal(["class1", "green"], renamed.Network.Labels);

        // A frame asked of the worker is recorded with the features of its own forward (no second forward needed).
        int before = teach.Dataset.Class(0)!.Count;
        Assert.True(pipeline.Worker.RequestFrame(0));
        TeachKit.WaitUntil(() => pipeline.Worker.PendingRequests() == 0, Timeout, () => "the worker to serve the request");
        Assert.True(teach.Flush(Timeout));
        Assert.Equal(before + 1, teach.Dataset.Class(0)!.Count);
        log.WriteLine($"versions {version} -> {renamed.Network.Version}; inference {pipeline.Worker.Rate.Total} frames");
    }

    [Fact]
    public void The_warm_rate_counts_the_inferences_after_the_warm_up()
    {
        string still = _dir["still.png"];
        using (var image = TeachKit.RenderFrame(0, 3, seed: 4)) Assert.True(OpenCvSharp.Cv2.ImWrite(still, image));
        var capture = new CaptureThread(FrameSources.Create(still), new CaptureOptions { Loop = true });
        capture.Start();
        using var pipeline = new LivePipeline(TeachKit.TinyBackbone(), capture, fuse: true);
        var worker = pipeline.Worker;
        worker.WarmUpSeconds = 0.5;
        pipeline.Start();
        Assert.True(double.IsNaN(worker.WarmRate(Stopwatch.GetTimestamp())), "a rate before any inference");
        TeachKit.WaitUntil(() => worker.Rate.Total > 0, Timeout, () => "a first inference");
        Thread.Sleep(1000); // past the warm-up

        // Over the next second, the inferences counted by hand and the warm rate's own count since its start agree.
        long t0 = Stopwatch.GetTimestamp(), n0 = worker.Rate.Total;
        Thread.Sleep(1000);
        long t1 = Stopwatch.GetTimestamp(), n1 = worker.Rate.Total;
        double measured = (n1 - n0) * (double)Stopwatch.Frequency / (t1 - t0), warm = worker.WarmRate(t1);
        log.WriteLine($"warm rate {warm:F1}/s, the last second {measured:F1}/s, {n1} inferences");
        Assert.True(n1 - n0 >= 5, $"only {n1 - n0} inferences in a second");
        Assert.InRange(warm, 0.5 * measured, 2 * measured);
    }

    [Fact]
    public void A_fine_tuned_backbone_is_fused_on_the_trainer_thread_and_swapped_in_with_its_head()
    {
        using var teach = TeachSession.Open(new TeachOptions
        {
            DataDirectory = _dir["data"], Backbone = TeachKit.TinyRes, FineTune = new FineTuneOptions { Blocks = 2, Epochs = 4, Patience = 0 },
        });
        for (int k = 0; k < 2; k++)
            for (int t = 0; t < 20; t++)
            {
                using var frame = TeachKit.RenderFrame(k, t, seed: 1);
                TeachKit.WaitUntil(() => teach.Record(k, frame), Timeout, () => "room in the record queue");
            }
        TeachKit.Train(teach, Timeout);
        string still = _dir["scene1.png"];
        using (var image = TeachKit.RenderFrame(1, 5, seed: 2)) Assert.True(OpenCvSharp.Cv2.ImWrite(still, image));
        var model = TeachKit.TinyResNet();
        var capture = new CaptureThread(FrameSources.Create(still), new CaptureOptions { Loop = true, Pace = true });
        capture.Start();
        using var pipeline = new LivePipeline(model, capture, fuse: true, teach, TeachModel.FeatureNode(model));
        int tap = pipeline.Worker.Taps.Single(t => t.Name == "b3_conv2").Index; // fused: the block's output (after its add and ReLU), trained
        pipeline.Worker.RequestedTap = tap;
        string? preparedOn = null;
        teach.BackboneReady += _ => preparedOn = Thread.CurrentThread.Name; // after the pipeline's own handler
        pipeline.Start();
        var before = NextResult(pipeline, r => r.Tap is not null);
        var (graphBefore, versionBefore, mapsBefore) = (before.Network.Graph, before.Network.Version, before.Features.AsSpan(0, 32 * 16 * 16).ToArray()); // the slot is reused

        teach.StartFineTuning();
        Assert.True(teach.WaitForTraining(Timeout), $"fine-tuning did not finish: {teach.Status}");
        Assert.Equal(1, teach.FineTunings);
        Assert.Equal("camcnn teach trainer", preparedOn);
        string tuned = teach.Network.Backbone.Name;
        var after = NextResult(pipeline, r => r.Tap is not null && r.Network.Backbone!.Name == tuned);
        Assert.Same(teach.CurrentHead, after.Network.Head);
        Assert.NotSame(graphBefore, after.Network.Graph);
        Assert.True(after.Network.Version > versionBefore);
        var probabilities = after.ClassProbabilities.ToArray();
        var maps = after.Features.AsSpan(0, 32 * 16 * 16).ToArray();
        Assert.NotEqual(mapsBefore, maps); // the maps show the new weights

        // The same frame through the saved fine-tuned model: our engine (unfused, as loaded) and ONNX Runtime.
        string saved = _dir["teach.onnx"];
        teach.Save(saved);
        var file = CameraCnn.Engine.Models.Model.Load(saved);
        using var prep = new FramePreprocessor(file.Preprocessing!);
        var input = prep.CreateInput();
        using (var frame = OpenCvSharp.Cv2.ImRead(still)) prep.Process(frame, input);
        var ours = file.Graph.Forward(input);
        using var ort = Backbone.BackboneKit.OpenOrt(saved);
        var reference = Backbone.BackboneKit.RunOrt(ort, input);
        Assert.Equal(reference.Data, probabilities, (a, b) => Math.Abs(a - b) <= 1e-4f);
        Assert.Equal(ours.Data, probabilities, (a, b) => Math.Abs(a - b) <= 1e-4f);
        var b3 = file.Graph["b3_out"].Output.Data;
        float scale = b3.Max(Math.Abs);
        Assert.Equal(b3, maps, (a, b) => Math.Abs(a - b) <= 1e-4f * scale);
        log.WriteLine($"swapped to {tuned} (version {versionBefore} -> {after.Network.Version}); probabilities {string.Join(", ", probabilities)}");
    }

    /// <summary>The next result of a new frame that satisfies <paramref name="wanted"/>, read as the window reads it.</summary>
    internal static InferenceResult NextResult(LivePipeline pipeline, Func<InferenceResult, bool> wanted)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < Timeout)
        {
            Assert.Null(pipeline.Worker.Failure);
            if (pipeline.Worker.Results.TryTake() && pipeline.Worker.Results.Front is { NewFrame: true } r && wanted(r)) return r;
            Thread.Sleep(1);
        }
        throw new Xunit.Sdk.XunitException("no wanted result within the timeout");
    }
}
