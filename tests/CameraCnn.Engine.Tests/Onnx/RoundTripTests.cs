// RoundTripTests: export -> import gives back the same network (bit-identical forward, same parameters and flags),
// the same labels, preprocessing and metadata, a model that trains on, and files written atomically.
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Onnx;
using CameraCnn.Engine.Training;
using static CameraCnn.Engine.Tests.OnnxInterop.OnnxTestKit;

namespace CameraCnn.Engine.Tests.OnnxInterop;

public sealed class RoundTripTests
{
    public static TheoryData<string, int> Architectures => new() { { "lenet", 11 }, { "small-resnet", 22 } };

    private static Model WithExtraMetadata(Model m)
    {
        m.Metadata["camcnn.trained_on"] = "2024-01-02 synthetic";
        m.Metadata["note"] = "multi\nline, ünïcödé, \"quotes\" and {json: [1,2]}";
        m.Metadata["empty"] = "";
        return m;
    }

    private static float[] Forward(Model m, Tensor x) => (float[])m.Graph.Forward(x).Data.Clone();

    private static void AssertSameNetwork(Model expected, Model actual)
    {
        var e = expected.Graph.Nodes.Select(n => (n.Name, n.Layer?.GetType().Name ?? "input")).ToArray();
        var a = actual.Graph.Nodes.Select(n => (n.Name, n.Layer?.GetType().Name ?? "input")).ToArray();
        Assert.Equal(e, a);
        Assert.Equal(expected.Graph.Outputs.Select(o => o.Name), actual.Graph.Outputs.Select(o => o.Name));
        Assert.Equal(expected.Graph.Inputs.Select(i => i.InputShape), actual.Graph.Inputs.Select(i => i.InputShape));
        var ep = expected.Graph.NamedParameters.ToArray();
        var ap = actual.Graph.NamedParameters.ToArray();
        Assert.Equal(ep.Select(p => p.Name), ap.Select(p => p.Name));
        for (int i = 0; i < ep.Length; i++)
        {
            Assert.Equal(ep[i].Parameter.Value.Shape, ap[i].Parameter.Value.Shape);
            Assert.Equal(ep[i].Parameter.Value.Data, ap[i].Parameter.Value.Data); // exact floats
            Assert.Equal(ep[i].Parameter.Trainable, ap[i].Parameter.Trainable);
            Assert.Equal(ep[i].Parameter.Decay, ap[i].Parameter.Decay);
        }
        foreach (var (en, an) in expected.Graph.Nodes.Zip(actual.Graph.Nodes))
            switch (en.Layer)
            {
                case BatchNorm2d b:
                    var ab = Assert.IsType<BatchNorm2d>(an.Layer);
                    Assert.Equal(b.Epsilon, ab.Epsilon);
                    Assert.Equal(b.Momentum, ab.Momentum);
                    break;
                case Conv2d c:
                    var ac = Assert.IsType<Conv2d>(an.Layer);
                    Assert.Equal(c.Window, ac.Window);
                    Assert.Equal(c.Groups, ac.Groups);
                    break;
                case MaxPool2d p:
                    var ap2 = Assert.IsType<MaxPool2d>(an.Layer);
                    Assert.Equal(p.Window, ap2.Window);
                    Assert.Equal(p.CeilMode, ap2.CeilMode);
                    break;
                case Dropout d:
                    Assert.Equal(d.Ratio, Assert.IsType<Dropout>(an.Layer).Ratio);
                    break;
            }
    }

    private static void AssertSameMetadata(Model expected, Model actual)
    {
        Assert.Equal(expected.Labels, actual.Labels);
        Assert.NotNull(actual.Preprocessing);
        Assert.Equal(expected.Preprocessing!.ToJson(), actual.Preprocessing!.ToJson());
        Assert.Equal(expected.Preprocessing.Mean, actual.Preprocessing.Mean);
        Assert.Equal(expected.Preprocessing.Std, actual.Preprocessing.Std);
        Assert.Equal(expected.Preprocessing.Scale, actual.Preprocessing.Scale);
        Assert.Equal(expected.Preprocessing.ColorOrder, actual.Preprocessing.ColorOrder);
        Assert.Equal(expected.Preprocessing.Resize, actual.Preprocessing.Resize);
        Assert.Equal(expected.Metadata.OrderBy(kv => kv.Key), actual.Metadata.OrderBy(kv => kv.Key));
        Assert.Equal(expected.Metadata[Model.ArchKey], actual.Metadata[Model.ArchKey]);
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Export_import_is_exact(string arch, int seed)
    {
        var model = WithExtraMetadata(TrainedLikeModel(arch, seed));
        var x = InputFor(model, 3, seed);
        float[] before = Forward(model, x);

        var loaded = OnnxImporter.FromBytes(OnnxExporter.ToBytes(model));

        AssertSameNetwork(model, loaded);
        AssertSameMetadata(model, loaded);
        Assert.Equal(before, Forward(loaded, x));
        Assert.Equal(model.Logits.Name, loaded.Logits.Name);
        // Exporting the reloaded model reproduces the file byte for byte.
        Assert.Equal(OnnxExporter.ToBytes(model), OnnxExporter.ToBytes(loaded));
    }

    [Fact]
    public void Model_without_labels_or_preprocessing_round_trips()
    {
        var g = new Graph();
        var x = g.AddInput("pixels", -1, 3, 9, 7);
        var y = g.Add(new AvgPool2d(3, 2, 1, ceilMode: true, countIncludePad: true) { Name = "avg" }, g.Add(new Tanh(), x));
        y = g.Add(new LeakyReLU(0.2f), g.Add(new Sigmoid(), y));
        g.MarkOutput(y);
        var model = new Model(g);
        var loaded = OnnxImporter.FromBytes(OnnxExporter.ToBytes(model));
        Assert.Empty(loaded.Labels);
        Assert.Null(loaded.Preprocessing);
        Assert.Empty(loaded.Metadata);
        var avg = Assert.IsType<AvgPool2d>(loaded.Graph["avg"].Layer);
        Assert.True(avg.CeilMode);
        Assert.True(avg.CountIncludePad);
        Assert.Equal(0.2f, Assert.IsType<LeakyReLU>(loaded.Graph.Output.Layer).Alpha);
        var input = RandomTensor(new Random(3), -2, 2, 2, 3, 9, 7);
        Assert.Equal(Forward(model, input), Forward(loaded, input));
    }

    [Fact]
    public void Reloaded_ResNet_trains_in_lockstep_with_the_original()
    {
        // small-resnet has no dropout, so the same SGD steps on the same data keep both copies bit-identical.
        var original = TrainedLikeModel("small-resnet", 5);
        var loaded = OnnxImporter.FromBytes(OnnxExporter.ToBytes(original));
        var rng = new Random(9);
        var x = InputFor(original, 4, 10);
        int[] labels = Enumerable.Range(0, 4).Select(_ => rng.Next(Labels.Length)).ToArray();
        float[] lossA = TrainSteps(original, x, labels, 2), lossB = TrainSteps(loaded, x, labels, 2);
        Assert.Equal(lossA, lossB);
        AssertSameNetwork(original, loaded);
        Assert.Equal(Forward(original, x), Forward(loaded, x));
    }

    [Fact]
    public void Reloaded_LeNet_can_be_trained_further()
    {
        var loaded = OnnxImporter.FromBytes(OnnxExporter.ToBytes(TrainedLikeModel("lenet", 6)));
        Assert.Contains(loaded.Graph.Parameters, p => p.Trainable);
        Assert.Contains(loaded.Graph.Nodes, n => n.Layer is Dropout { Ratio: 0.25f });
        Assert.Equal("logits", loaded.Logits.Name);
        var x = InputFor(loaded, 8, 12);
        int[] labels = [0, 1, 2, 3, 4, 0, 1, 2];
        float[] before = Forward(loaded, x);
        float[] losses = TrainSteps(loaded, x, labels, 8);
        Assert.All(losses, l => Assert.True(float.IsFinite(l)));
        Assert.True(losses[^1] < losses[0], $"loss did not fall: {string.Join(", ", losses)}");
        Assert.NotEqual(before, Forward(loaded, x));
        // Dropout is live in training mode: two training forwards differ, inference stays deterministic.
        var t1 = (float[])loaded.Graph.Forward(x, training: true).Data.Clone();
        var t2 = (float[])loaded.Graph.Forward(x, training: true).Data.Clone();
        Assert.NotEqual(t1, t2);
        Assert.Equal(Forward(loaded, x), Forward(loaded, x));
    }

    /// <summary>SGD with momentum on one batch, training-mode forwards; returns the loss of each step.</summary>
    private static float[] TrainSteps(Model model, Tensor x, int[] labels, int steps)
    {
        var g = model.Graph;
        var sgd = new Sgd(g.Parameters, 0.05f, momentum: 0.9f, weightDecay: 1e-4f);
        var dLogits = new Tensor(0);
        var losses = new float[steps];
        for (int s = 0; s < steps; s++)
        {
            g.Forward(x, training: true);
            sgd.ZeroGrad();
            losses[s] = Loss.SoftmaxCrossEntropy(model.Logits.Output, labels, dLogits, out _);
            g.Backward(model.Logits, dLogits);
            Assert.Contains(g.Parameters.Where(p => p.Trainable), p => p.Grad.Data.Any(v => v != 0));
            sgd.Step();
        }
        return losses;
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Save_then_load(string arch, int seed)
    {
        using var dir = new TempDir();
        var model = WithExtraMetadata(TrainedLikeModel(arch, seed));
        string path = dir["model.onnx"];
        model.Save(path);
        Assert.Equal(["model.onnx"], dir.Entries()); // no temp file left behind
        Assert.Equal(OnnxExporter.ToBytes(model), File.ReadAllBytes(path));
        var loaded = Model.Load(path);
        AssertSameNetwork(model, loaded);
        AssertSameMetadata(model, loaded);
        var x = InputFor(model, 2, seed + 1);
        Assert.Equal(Forward(model, x), Forward(loaded, x));
    }

    [Fact]
    public void Save_over_an_existing_file_replaces_it()
    {
        using var dir = new TempDir();
        string path = dir["m.onnx"];
        var first = TrainedLikeModel("lenet", 1);
        var second = TrainedLikeModel("lenet", 2);
        first.Save(path);
        second.Save(path);
        Assert.Equal(["m.onnx"], dir.Entries());
        Assert.Equal(OnnxExporter.ToBytes(second), File.ReadAllBytes(path));
        var x = InputFor(second, 1, 3);
        Assert.Equal(Forward(second, x), Forward(Model.Load(path), x));
    }

    [Fact]
    public void Save_into_a_missing_directory_throws_IO_exception_and_leaves_nothing()
    {
        using var dir = new TempDir();
        string existing = dir["keep.onnx"];
        var model = TrainedLikeModel("lenet", 3);
        model.Save(existing);
        byte[] kept = File.ReadAllBytes(existing);

        string missingDir = Path.Combine(dir.Path, "no", "such", "dir");
        var e = Assert.Throws<IOException>(() => model.Save(Path.Combine(missingDir, "m.onnx")));
        Assert.Contains("m.onnx", e.Message);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "no")));
        Assert.Equal(["keep.onnx"], dir.Entries());
        Assert.Equal(kept, File.ReadAllBytes(existing));

        // A path naming a directory is refused the same way, and the directory is untouched.
        Directory.CreateDirectory(dir["sub"]);
        Assert.Throws<IOException>(() => model.Save(dir["sub"]));
        Assert.Empty(Directory.GetFileSystemEntries(dir["sub"]));
        Assert.Equal(["keep.onnx", "sub"], dir.Entries().Order());
    }

    [Fact]
    public void Loading_a_missing_file_names_it()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<FileNotFoundException>(() => Model.Load(dir["absent.onnx"]));
        Assert.Contains("absent.onnx", e.Message);
    }

    [Fact]
    public void Loading_a_bad_file_names_the_file()
    {
        using var dir = new TempDir();
        string path = dir["broken.onnx"];
        var bytes = OnnxExporter.ToBytes(TrainedLikeModel("lenet", 4));
        File.WriteAllBytes(path, bytes.AsSpan(0, bytes.Length / 2).ToArray());
        var e = Assert.Throws<InvalidDataException>(() => Model.Load(path));
        Assert.StartsWith("broken.onnx: ", e.Message);
    }
}
