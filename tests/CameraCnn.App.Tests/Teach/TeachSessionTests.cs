// TeachSessionTests: the object the window drives, with a tiny stand-in backbone so hundreds of frames take seconds:
// record from synthetic videos, train on the session's own thread without blocking the caller while Classify keeps
// answering, the head swapped in atomically, held-out accuracy and the confusion matrix, the "unknown" threshold,
// corrections, rename and delete, one class only, a full disk, a reopened folder that reuses its cached features, and
// a saved model that loads back and runs the same in ONNX Runtime.
using System.Diagnostics;
using CameraCnn.App.Live;
using CameraCnn.App.Teach;
using CameraCnn.App.Tests.Backbone;
using CameraCnn.App.Tests.Infrastructure;
using CameraCnn.Engine;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Teach;
using CameraCnn.Vision.Teach;
using OpenCvSharp;
using Xunit.Abstractions;

namespace CameraCnn.App.Tests.Teach;

public sealed class TeachSessionTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly TempDir _dir = new("camcnn-teach-session");

    public void Dispose() => _dir.Dispose();

    private static TeachSession Open(string data, TeachOptions? options = null) =>
        TeachSession.Open((options ?? new TeachOptions()) with { DataDirectory = data, Backbone = TeachKit.Tiny });

    /// <summary>Records <paramref name="perClass"/> frames of each scene from its MJPG video (seed 1), as holding keys 1..3 would.</summary>
    private void RecordVideos(TeachSession s, int perClass, int seed = 1)
    {
        for (int k = 0; k < TeachKit.SceneNames.Length; k++)
        {
            string video = TeachKit.WriteVideo(_dir[$"{TeachKit.SceneNames[k]}-{seed}.avi"], k, perClass, seed);
            var frames = TeachKit.ReadVideo(video);
            Assert.Equal(perClass, frames.Count);
            foreach (var f in frames)
            {
                // A full queue drops frames (the caller never waits); in a test, wait for room instead.
                TeachKit.WaitUntil(() => s.Record(k, f), Timeout, () => $"room in the record queue ({s.RecordingError})");
                f.Dispose();
            }
        }
        Assert.True(s.Flush(Timeout));
    }

    /// <summary>Held-out frames (another seed: other paths, other noise) through the same backbone, classified by the session.</summary>
    private static float HeldOutAccuracy(TeachSession s, int perClass, int seed)
    {
        using var extractor = new FeatureExtractor(TeachKit.TinyBackbone());
        var features = new float[extractor.Dimension];
        var probabilities = new float[8];
        int right = 0, total = 0;
        for (int k = 0; k < 3; k++)
            for (int t = 0; t < perClass; t++)
            {
                using var frame = TeachKit.RenderFrame(k, t, seed);
                extractor.Extract(frame, features);
                var p = s.Classify(features, probabilities);
                if (p.ClassIndex == k) right++;
                total++;
            }
        return (float)right / total;
    }

    [Fact]
    public void Records_trains_in_the_background_and_swaps_the_head_in_while_classify_keeps_answering()
    {
        using var s = Open(_dir["data"]);
        Assert.True(s.WaitUntilReady(Timeout));
        Assert.Equal(16, s.FeatureDimension);
        Assert.Null(s.CurrentHead);
        Assert.Equal(Prediction.None, s.Classify(new float[16], new float[4]));

        RecordVideos(s, 60);
        Assert.Equal([60, 60, 60], s.Classes.Select(c => c.Count));
        Assert.Equal(["class1", "class2", "class3"], s.Classes.Select(c => c.Name));
        // The test records as fast as it can: frames the queue had no room for were dropped (and retried), never waited for.
        output.WriteLine($"{s.Recorder.SavedCount} frames saved, {s.Recorder.Dropped} offered while the record queue was full");
        var thumb = new Mat();
        Assert.True(s.Recorder.TryCopyThumbnail(1, thumb));
        Assert.Equal(96, thumb.Cols);

        var first = TeachKit.Train(s, Timeout);
        output.WriteLine(s.Status.Message);
        Assert.Equal(180, first.Samples);
        Assert.Equal(36, first.Head.ValSamples); // the newest 20% of each class
        Assert.True(first.Head.ValAccuracy >= 0.95f, s.Status.Message);
        Assert.Equal(3, first.Head.Confusion.GetLength(0));
        Assert.Equal(["class1", "class2", "class3"], s.CurrentHead!.Labels);
        float heldOut = HeldOutAccuracy(s, 20, seed: 2);
        output.WriteLine($"held-out accuracy (other paths and noise): {heldOut:P1}");
        Assert.True(heldOut >= 0.95f, $"held-out accuracy {heldOut:P1}");

        // A long training: StartTraining returns at once and the old head answers throughout; a newer request
        // supersedes it (it stops at its next batch and publishes nothing) and the newer head is swapped in.
        var oldHead = s.CurrentHead;
        long version = s.HeadVersion;
        var clock = Stopwatch.StartNew();
        s.StartTraining(new HeadOptions { Training = HeadOptions.DefaultTraining with { Epochs = 100_000 }, Hidden = 32 });
        double startMs = clock.Elapsed.TotalMilliseconds;
        using var extractor = new FeatureExtractor(TeachKit.TinyBackbone());
        var features = new float[16];
        using (var frame = TeachKit.RenderFrame(2, 5, seed: 3)) extractor.Extract(frame, features);
        var probabilities = new float[3];
        int answeredDuringTraining = 0;
        double worstMs = 0;
        bool superseded = false;
        while (s.IsTraining)
        {
            var t0 = Stopwatch.GetTimestamp();
            var p = s.Classify(features, probabilities);
            worstMs = Math.Max(worstMs, Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            Assert.False(p.IsUnknown && p.Output < 0, "no head while training");
            if (s.Status.Phase == TeachPhase.Training) answeredDuringTraining++;
            if (answeredDuringTraining >= 20 && !superseded)
            {
                Assert.Same(oldHead, s.CurrentHead);
                s.StartTraining(new HeadOptions { Training = HeadOptions.DefaultTraining with { Epochs = 50 }, Hidden = 16 });
                superseded = true;
            }
            Thread.Sleep(1);
        }
        Assert.True(s.WaitForTraining(Timeout));
        output.WriteLine($"StartTraining returned in {startMs:F2} ms; {answeredDuringTraining} Classify calls answered during training, the slowest {worstMs:F3} ms");
        Assert.True(superseded, "the long training ended before it could be superseded");
        Assert.True(startMs < 100, $"StartTraining blocked for {startMs:F0} ms");
        Assert.Equal(version + 1, s.HeadVersion); // the superseded training published nothing
        Assert.NotSame(oldHead, s.CurrentHead);
        Assert.Equal(16, s.CurrentHead!.Hidden);
        Assert.Equal(2, s.Classify(features, probabilities).ClassIndex);
    }

    [Fact]
    public void Threshold_corrections_rename_and_delete_reach_the_live_head()
    {
        using var s = Open(_dir["data"], options: new TeachOptions { Threshold = 0.6f });
        RecordVideos(s, 20);
        TeachKit.Train(s, Timeout);
        using var extractor = new FeatureExtractor(TeachKit.TinyBackbone());
        var features = new float[16];
        using (var frame = TeachKit.RenderFrame(0, 3, seed: 4)) extractor.Extract(frame, features);
        var probabilities = new float[3];

        var p = s.Classify(features, probabilities);
        Assert.Equal(0, p.ClassIndex);
        Assert.Equal("class1", p.Label);
        s.Threshold = 1f; // nothing is that sure: "unknown"
        p = s.Classify(features, probabilities);
        Assert.True(p.IsUnknown);
        Assert.Equal(Prediction.UnknownLabel, p.Label);
        Assert.Equal(-1, p.ClassIndex);
        s.Threshold = 0.6f;

        // R: the live head shows the new name at once, without retraining.
        long version = s.HeadVersion;
        Assert.Equal("red_disc", s.Rename(0, "red disc"));
        Assert.True(s.Flush(Timeout));
        Assert.Equal("red_disc", s.Classify(features, probabilities).Label);
        Assert.True(s.HeadVersion > version);
        Assert.Throws<ArgumentException>(() => s.Rename(1, "RED_DISC"));

        // W then 2: the current frame joins class 2; Backspace takes it back.
        using (var frame = TeachKit.RenderFrame(0, 7, seed: 4)) Assert.True(s.Record(1, frame, features));
        Assert.True(s.Flush(Timeout));
        Assert.Equal(21, s.Dataset.Class(1)!.Count);
        s.DeleteLast();
        Assert.True(s.Flush(Timeout));
        Assert.Equal(20, s.Dataset.Class(1)!.Count);
        Assert.Null(s.RecordingError);
    }

    [Fact]
    public void One_class_only_fails_with_a_message_and_an_empty_class_is_left_out()
    {
        using var s = Open(_dir["data"]);
        using (var f = TeachKit.RenderFrame(0, 0, 1))
            for (int i = 0; i < 5; i++) Assert.True(s.Record(0, f));
        Assert.True(s.Flush(Timeout));
        Assert.True(s.WaitUntilReady(Timeout));
        s.StartTraining();
        Assert.True(s.WaitForTraining(Timeout));
        Assert.True(s.Status.IsError);
        Assert.Contains("at least two classes", s.Status.Message);
        Assert.Null(s.CurrentHead);
        Assert.Throws<InvalidOperationException>(() => s.Save(_dir["m.onnx"]));
        s.RequestSave(_dir["m.onnx"]);
        TeachKit.WaitUntil(() => s.Status.Message.Contains("save failed"), Timeout, () => s.Status.Message);
        Assert.False(File.Exists(_dir["m.onnx"]));

        // A class that exists but has no frames (named, then emptied) is left out; the others train.
        using (var f = TeachKit.RenderFrame(1, 0, 1))
            for (int i = 0; i < 5; i++) Assert.True(s.Record(1, f));
        s.Rename(2, "empty");
        Assert.True(s.Flush(Timeout));
        var r = TeachKit.Train(s, Timeout);
        Assert.Equal(["empty"], r.Head.EmptyClasses);
        Assert.Equal(2, s.CurrentHead!.Classes);
        Assert.Contains("left out", s.Status.Message);
    }

    [Theory]
    [InlineData("full", "No space left on device")]
    [InlineData("read-only", "is denied")] // what opening a file in a read-only folder throws (tests run as root, so chmod cannot show it)
    public void A_full_or_read_only_disk_stops_recording_with_a_message_and_keeps_what_was_saved(string disk, string message)
    {
        using var s = Open(_dir["data"]);
        using var frame = TeachKit.RenderFrame(0, 0, 1);
        for (int i = 0; i < 4; i++) Assert.True(s.Record(0, frame));
        Assert.True(s.Flush(Timeout));
        var saved = s.Dataset.SamplesOf(0).Select(x => x.Path).ToArray();
        s.Dataset.OpenTempFile = disk == "full" ? p => new FullDiskStream(p)
            : p => throw new UnauthorizedAccessException($"Access to the path '{p}' is denied.");
        Assert.True(s.Record(1, frame)); // accepted into the queue, fails on the recorder thread
        Assert.True(s.Flush(Timeout));
        Assert.True(s.IsRecordingStopped);
        Assert.Contains(message, s.RecordingError);
        Assert.Contains("recording stopped", s.RecordingError);
        Assert.False(s.Record(0, frame), "recording must stay stopped until resumed");
        Assert.All(saved, p => Assert.True(File.Exists(p)));
        Assert.Equal(4, s.Dataset.Class(0)!.Count);

        s.Dataset.OpenTempFile = null; // space freed
        s.ResumeRecording();
        Assert.True(s.Record(0, frame));
        Assert.True(s.Flush(Timeout));
        Assert.Equal(5, s.Dataset.Class(0)!.Count);
        Assert.Null(s.RecordingError);
    }

    [Fact]
    public void A_reopened_folder_reuses_cached_features_and_the_saved_model_runs_in_onnx_runtime()
    {
        string data = _dir["data"];
        TeachTrainingResult first;
        using (var s = Open(data))
        {
            RecordVideos(s, 15);
            first = TeachKit.Train(s, Timeout);
            s.Save(_dir["m.onnx"]);
            Assert.Equal(Path.GetFullPath(_dir["m.onnx"]), s.LastSaved);
        }
        Assert.True(File.Exists(TeachKit.Tiny.CacheFile(data)));
        output.WriteLine($"first run: {first.Features.Computed} computed in the background or at T, {first.Features.Cached} cached");

        // The next run: the same folder, extended; only the new frames need the backbone.
        using (var s = Open(data))
        {
            Assert.True(s.WaitUntilReady(Timeout));
            Assert.Equal(45, s.Dataset.SampleCount);
            using (var f = TeachKit.RenderFrame(2, 99, 5)) Assert.True(s.Record(2, f));
            var again = TeachKit.Train(s, Timeout);
            Assert.Equal(46, again.Samples);
            Assert.True(again.Features.Cached >= 45, $"cached {again.Features.Cached}");
            Assert.True(again.Features.Computed <= 1);
        }

        // The saved model: backbone + head in one file, labels and preprocessing in the metadata.
        var model = Model.Load(_dir["m.onnx"]);
        Assert.Equal(["class1", "class2", "class3"], model.Labels);
        Assert.Equal(TeachKit.TinyPreprocessing.ToJson(), model.Preprocessing!.ToJson());
        Assert.True(TeachModel.IsTeachModel(model));
        Assert.Equal("tiny", model.Metadata[TeachModel.BackboneKey]);
        Assert.Equal(0.5f, TeachModel.Threshold(model));
        var head = TeachModel.ReadHead(model)!;
        Assert.Equal(16, head.Dimension);

        using var extractor = new FeatureExtractor(TeachKit.TinyBackbone());
        using var prep = new CameraCnn.Vision.FramePreprocessor(model.Preprocessing!);
        using var ort = BackboneKit.OpenOrt(_dir["m.onnx"]);
        var input = prep.CreateInput();
        var features = new float[16];
        var ours = new float[3];
        for (int k = 0; k < 3; k++)
        {
            using var frame = TeachKit.RenderFrame(k, 11, seed: 6);
            prep.Process(frame, input);
            var reference = BackboneKit.RunOrt(ort, input);
            var engine = model.Graph.Forward(input);
            extractor.Extract(frame, features);
            head.Predict(features, ours);
            for (int c = 0; c < 3; c++)
            {
                Assert.Equal(reference.Data[c], engine.Data[c], 4);
                Assert.Equal(reference.Data[c], ours[c], 4);
            }
            Assert.Equal(k, System.Numerics.Tensors.TensorPrimitives.IndexOfMax(reference.Data.AsSpan(0, 3)));
        }

        // The backbone part of the file is a backbone again, and its head predicts from the start of the next run
        // (--model): teach mode resumes from the saved model, its outputs tied to the folder's classes by name.
        var backbone = TeachModel.ExtractBackbone(Model.Load(_dir["m.onnx"]));
        Assert.False(TeachModel.IsTeachModel(backbone));
        Assert.Equal([1, 16, 1, 1], TeachModel.OutputShape(backbone.Graph));
        using (var s = Open(data, new TeachOptions { InitialHead = head }))
        {
            var p = s.Classify(features, ours);
            Assert.Equal(2, p.ClassIndex); // the last frame above was scene 2
            Assert.Equal("class3", p.Label);
            Assert.True(s.WaitUntilReady(Timeout));
            Assert.Equal([0, 1, 2], s.CurrentHead!.ClassIndices); // kept: its dimension matches the backbone's
        }
    }
}
