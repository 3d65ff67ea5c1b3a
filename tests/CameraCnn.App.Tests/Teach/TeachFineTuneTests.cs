// TeachFineTuneTests: T with --fine-tune on a TeachSession, with a tiny residual backbone (three blocks) so a run takes
// seconds: the last blocks and the head train on the trainer thread, the frozen part stays bit for bit, the fine-tuned
// backbone and its head become the session's network together; a head retrained afterwards (a key released) reads the
// fine-tuned backbone's features, which for every frame equal a whole forward of the fine-tuned backbone; a head request
// during a fine-tuning waits for it instead of cancelling it; the model S saves is the whole fine-tuned network, runs in
// ONNX Runtime with our outputs and reopens as the same backbone (its features cache found again by name).
using CameraCnn.App.Teach;
using CameraCnn.App.Tests.Backbone;
using CameraCnn.Engine;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Teach;
using CameraCnn.Vision;
using CameraCnn.Vision.Teach;
using OpenCvSharp;
using Xunit.Abstractions;

namespace CameraCnn.App.Tests.Teach;

public sealed class TeachFineTuneTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);
    private readonly TempDir _dir = new("camcnn-teach-finetune");

    public void Dispose() => _dir.Dispose();

    private static TeachSession Open(string data, int blocks = 2, int epochs = 4) => TeachSession.Open(new TeachOptions
    {
        DataDirectory = data,
        Backbone = TeachKit.TinyRes,
        FineTune = new FineTuneOptions { Blocks = blocks, Epochs = epochs, Patience = 0 },
    });

    private static void Record(TeachSession s, int classes, int perClass, int seed = 1, int from = 0)
    {
        for (int k = 0; k < classes; k++)
            for (int t = from; t < from + perClass; t++)
            {
                using var frame = TeachKit.RenderFrame(k, t, seed);
                TeachKit.WaitUntil(() => s.Record(k, frame), Timeout, () => "room in the record queue");
            }
        Assert.True(s.Flush(Timeout));
    }

    private static void FineTune(TeachSession s)
    {
        int before = s.FineTunings;
        s.StartFineTuning();
        Assert.True(s.WaitForTraining(Timeout), $"fine-tuning did not finish: {s.Status}");
        Assert.False(s.Status.IsError, s.Status.Message);
        Assert.Equal(before + 1, s.FineTunings);
    }

    [Fact]
    public void T_fine_tunes_the_last_blocks_and_a_later_head_reads_the_fine_tuned_features()
    {
        using var s = Open(_dir["data"]);
        Record(s, 3, 24);
        TeachKit.Train(s, Timeout);
        var before = s.Network;
        Assert.Equal("tinyres", before.Backbone.Name);

        FineTune(s);
        var tuned = s.Network;
        output.WriteLine(s.Status.Message);
        Assert.StartsWith("tinyres-ft-", tuned.Backbone.Name);
        Assert.NotNull(tuned.Head);
        Assert.NotSame(before.Head, tuned.Head);
        var last = s.LastTraining!;
        Assert.NotNull(last.FineTune);
        Assert.Equal(tuned.Backbone.Name, last.Backbone);
        Assert.Equal("b1_out", last.FineTune.CutNode); // the entry of the last two blocks
        Assert.Equal(3, tuned.Head!.Classes);

        // The frozen part (stem, b1) is bit for bit the backbone's; the trained blocks moved.
        var original = TeachKit.TinyResNet().Graph;
        var fineTuned = tuned.Backbone.Load().Graph;
        int frozen = 0, moved = 0;
        foreach (var n in original.Nodes.Where(n => n.Layer is { Parameters.Count: > 0 }))
            for (int k = 0; k < n.Layer!.Parameters.Count; k++)
            {
                bool same = n.Layer.Parameters[k].Value.Data.AsSpan().SequenceEqual(fineTuned[n.Name].Layer!.Parameters[k].Value.Data);
                if (n.Name.StartsWith("stem", StringComparison.Ordinal) || n.Name.StartsWith("b1", StringComparison.Ordinal)) { Assert.True(same, $"{n.Name} is frozen"); frozen++; }
                else if (!same) moved++;
            }
        output.WriteLine($"{frozen} frozen tensors unchanged, {moved} trained tensors moved");
        Assert.True(moved >= 8, $"only {moved} tensors of b2, b3 changed");

        // New frames of class 1, then the automatic head training (a key released): on the fine-tuned backbone.
        Record(s, 1, 6, seed: 1, from: 24);
        s.Retrain();
        Assert.True(s.WaitForTraining(Timeout), $"training did not finish: {s.Status}");
        var retrained = s.LastTraining!;
        Assert.Null(retrained.FineTune);
        Assert.Equal(tuned.Backbone.Name, retrained.Backbone);
        Assert.Equal(tuned.Backbone.Name, s.Network.Backbone.Name);
        Assert.NotSame(tuned.Head, s.Network.Head);

        // S writes the whole network; with it the fine-tuned backbone's feature cache, whose every entry (from the cached
        // activations through the trained blocks, or computed for the frames recorded since) equals a whole forward.
        string saved = _dir["data/teach.onnx"];
        s.Save(saved);
        s.RequestSave(saved); // through the trainer, which then keeps the fine-tuned features on disk
        TeachKit.WaitUntil(() => File.Exists(s.Network.Backbone.CacheFile(s.Dataset.Directory)), Timeout, () => $"the feature cache ({s.Status})");
        var cache = FeatureCache.Load(s.Network.Backbone.CacheFile(s.Dataset.Directory), s.Network.Backbone.Name, 32);
        using var extractor = new FeatureExtractor(s.Network.Backbone.Load());
        var expected = new float[32];
        var got = new float[32];
        double worst = 0;
        foreach (var sample in s.Dataset.Samples())
        {
            Assert.True(cache.TryGet(sample.Key, got), $"no features for {sample}");
            using var frame = Cv2.ImRead(sample.Path);
            extractor.Extract(frame, expected);
            for (int i = 0; i < 32; i++) worst = Math.Max(worst, Math.Abs(got[i] - expected[i]) / (Math.Abs(expected[i]) + 1e-3));
        }
        output.WriteLine($"{s.Dataset.SampleCount} frames: features from the cache vs a whole forward, worst relative difference {worst:E1}");
        Assert.True(worst < 1e-4, $"cached features differ from the fine-tuned backbone's: {worst:E2}");

        // The saved file: the fine-tuned network as one ONNX, the same outputs in ONNX Runtime, and reopened it names the
        // same backbone (a digest of the weights survives the round trip, so its features cache is found again).
        var model = Model.Load(saved);
        Assert.Equal("b1_out", model.Metadata[FineTuneResult.CutKey]);
        Assert.Equal("tinyres", model.Metadata[TeachModel.BackboneKey]);
        Assert.Equal(s.Network.Backbone.Name, BackboneSource.For(model, saved).Name);
        using var ort = BackboneKit.OpenOrt(saved);
        using var prep = new FramePreprocessor(model.Preprocessing!);
        var input = prep.CreateInput();
        foreach (var sample in s.Dataset.Samples().Take(4))
        {
            using var frame = Cv2.ImRead(sample.Path);
            prep.Process(frame, input);
            var parity = BackboneKit.Compare(model.Graph.Forward(input), BackboneKit.RunOrt(ort, input));
            Assert.True(parity.MaxAbs <= 1e-4 * parity.Scale, $"{sample}: {parity}");
        }
    }

    [Fact]
    public void A_head_training_asked_for_during_a_fine_tuning_waits_for_it_and_trains_on_its_backbone()
    {
        // Enough frames and epochs that the fine-tuning is still running when the key is "released".
        using var s = Open(_dir["data"], blocks: 1, epochs: 30);
        Record(s, 2, 40);
        TeachKit.Train(s, Timeout);
        int trainings = s.Trainings;
        s.StartFineTuning();
        TeachKit.WaitUntil(() => s.Status is { Phase: TeachPhase.Training, Epoch: >= 1 }, Timeout, () => $"the fine-tuning epochs ({s.Status})");
        s.Retrain();
        Assert.True(s.WaitForTraining(Timeout), $"did not finish: {s.Status}");
        Assert.False(s.Status.IsError, s.Status.Message);
        Assert.Equal(1, s.FineTunings); // not cancelled by the head request
        Assert.Equal(trainings + 2, s.Trainings); // then the head
        Assert.Null(s.LastTraining!.FineTune);
        Assert.StartsWith("tinyres-ft-", s.LastTraining.Backbone);
        Assert.Equal(s.LastTraining.Backbone, s.Network.Backbone.Name);

        // A second T supersedes a running one: one more fine-tuning finishes, not two.
        s.StartFineTuning();
        TeachKit.WaitUntil(() => s.Status is { Phase: TeachPhase.Training, Epoch: >= 1 }, Timeout, () => $"the fine-tuning epochs ({s.Status})");
        s.StartFineTuning();
        Assert.True(s.WaitForTraining(Timeout), $"did not finish: {s.Status}");
        Assert.Equal(2, s.FineTunings);
    }
}
