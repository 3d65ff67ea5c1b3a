// BackboneParityTests: the shipped ImageNet ResNet18 run by our engine equals ONNX Runtime on the same input, the raw
// backbone and the chained preprocess + backbone model that `--model resnet18` loads, on random tensors and on real
// photos. The bar: max |ours - ort| <= 1e-3 * max |ort|. The measured figures go to the test output (README: Measured).
using CameraCnn.App.Cli;
using CameraCnn.App.Tests.Infrastructure;
using CameraCnn.Engine;
using CameraCnn.Engine.Data;
using CameraCnn.Engine.Models;
using Microsoft.ML.OnnxRuntime;
using Xunit.Abstractions;

namespace CameraCnn.App.Tests.Backbone;

/// <summary>The two ORT sessions and our two models, loaded once for the class (loading parses 64 MB).</summary>
public sealed class BackboneFixture : IDisposable
{
    private readonly Lazy<Model> _chained = new(() => ModelCatalog.Load(ModelCatalog.ResNet18));

    public InferenceSession OrtBackbone { get; } = BackboneKit.OpenOrt(BackboneKit.BackbonePath);
    public InferenceSession OrtPreprocess { get; } = BackboneKit.OpenOrt(BackboneKit.PreprocessPath);
    public Model Backbone { get; } = ModelCatalog.Load(ModelCatalog.ResNet18Backbone);

    /// <summary>Lazy: it needs the preprocessing graph's ops, and a failure should name the test that needs it.</summary>
    public Model Chained => _chained.Value;

    /// <summary>ML.NET's two graphs in sequence, run by ONNX Runtime: the reference for the chained model.</summary>
    public Tensor OrtSequence(Tensor rgb255) => BackboneKit.RunOrt(OrtBackbone, BackboneKit.RunOrt(OrtPreprocess, rgb255));

    public void Dispose()
    {
        OrtBackbone.Dispose();
        OrtPreprocess.Dispose();
    }
}

public sealed class BackboneParityTests(BackboneFixture fx, ITestOutputHelper output) : IClassFixture<BackboneFixture>
{
    public static TheoryData<string> Photos => new() { "dog.jpg", "eagle.jpg", "giraffe.jpg" };

    [Fact]
    public void Shipped_files_are_copied_and_the_app_carries_no_MlNet_or_onnx_runtime()
    {
        Assert.True(new FileInfo(BackboneKit.BackbonePath).Length > 40_000_000);
        Assert.True(new FileInfo(BackboneKit.PreprocessPath).Length > 600_000);
        // PackageDownload fetches the package without referencing it: none of its dependencies reach the app.
        string deps = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "camcnn.deps.json"));
        Assert.DoesNotContain("Microsoft.ML", deps);
        Assert.DoesNotContain("OnnxRuntime", deps);
    }

    [Fact]
    public void Resnet18_name_loads_one_chained_graph_with_MlNet_preprocessing()
    {
        var model = fx.Chained;
        var g = model.Graph;
        Assert.Single(g.Inputs);
        Assert.Equal([1, 3, 224, 224], g.Inputs[0].InputShape!);
        Assert.Single(g.Outputs);
        Assert.Equal("Pooling395_Output_0", g.Output.Name);
        Assert.Equal([1, 512, 1, 1], g.InferShapes([[1, 3, 224, 224]])[g.Output.Name]);
        // One graph: the preprocessing layers come first, the backbone's first convolution reads their output.
        Assert.True(g.Nodes.Count > fx.Backbone.Graph.Nodes.Count + 1);
        Assert.Equal("PreprocessedInput", g["Convolution249_Output_0"].Inputs[0].Name);
        Assert.Empty(model.Labels);
        var pre = model.Preprocessing!;
        Assert.Equal((3, 224, 224, "rgb", 1f, "crop"), (pre.Channels, pre.Height, pre.Width, pre.ColorOrder, pre.Scale, pre.Resize));
        Assert.Equal([0f], pre.Mean);
        Assert.Equal([1f], pre.Std);
        Assert.Equal(ModelCatalog.ResNet18Source, model.Metadata[ModelCatalog.SourceKey]);
    }

    [Fact]
    public void Resnet18_backbone_name_loads_the_raw_file()
    {
        var g = fx.Backbone.Graph;
        Assert.Equal("Input247", Assert.Single(g.Inputs).Name);
        Assert.Equal("Pooling395_Output_0", Assert.Single(g.Outputs).Name);
        Assert.Null(fx.Backbone.Preprocessing); // its input is BGR minus a mean image: no per-channel recipe describes it
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Backbone_equals_ort_on_random_inputs(int seed)
    {
        // The backbone's input is BGR minus a mean image: roughly -130..150.
        var x = BackboneKit.Random(seed, -130f, 150f);
        var ort = BackboneKit.RunOrt(fx.OrtBackbone, x);
        var ours = fx.Backbone.Graph.Forward(x);
        var p = BackboneKit.AssertParity(ours, ort, $"backbone, random seed {seed}");
        output.WriteLine($"backbone, random input seed {seed}: {p}");
    }

    [Theory]
    [MemberData(nameof(Photos))]
    public void Backbone_equals_ort_on_photos(string photo)
    {
        // Both engines get the same backbone input: the photo through ML.NET's preprocessing graph in ORT.
        var prepared = BackboneKit.RunOrt(fx.OrtPreprocess, BackboneKit.LoadPhotoRgb255(BackboneKit.Photo(photo)));
        var ort = BackboneKit.RunOrt(fx.OrtBackbone, prepared);
        var ours = fx.Backbone.Graph.Forward(prepared);
        var p = BackboneKit.AssertParity(ours, ort, $"backbone, {photo}");
        output.WriteLine($"backbone, {photo}: {p}");
    }

    [Theory]
    [MemberData(nameof(Photos))]
    public void Chained_model_equals_ort_running_both_files_on_photos(string photo)
    {
        var rgb = BackboneKit.LoadPhotoRgb255(BackboneKit.Photo(photo));
        var ortPrepared = BackboneKit.RunOrt(fx.OrtPreprocess, rgb);
        var ort = BackboneKit.RunOrt(fx.OrtBackbone, ortPrepared);
        var ours = fx.Chained.Graph.Forward(rgb);
        // The tap at the join: what the backbone part of our graph was fed, against ORT's preprocessing output.
        var join = BackboneKit.AssertParity(fx.Chained.Graph["PreprocessedInput"].Output, ortPrepared, $"resnet18 (chained) join, {photo}");
        var p = BackboneKit.AssertParity(ours, ort, $"resnet18 (chained), {photo}");
        output.WriteLine($"resnet18 chained, {photo}: {p}; at the join (BGR - mean): {join}");
    }

    [Fact]
    public void Chained_model_equals_ort_running_both_files_on_random_pixels()
    {
        var rgb = BackboneKit.Random(3, 0f, 255f);
        var p = BackboneKit.AssertParity(fx.Chained.Graph.Forward(rgb), fx.OrtSequence(rgb), "resnet18 (chained), random pixels");
        output.WriteLine($"resnet18 chained, random pixels: {p}");
    }

    [Fact]
    public void Different_photos_give_different_features()
    {
        // Not a parity check: guards against a chain that ignores its input (e.g. a constant output).
        var a = fx.OrtSequence(BackboneKit.LoadPhotoRgb255(BackboneKit.Photo("dog.jpg")));
        var b = fx.OrtSequence(BackboneKit.LoadPhotoRgb255(BackboneKit.Photo("eagle.jpg")));
        Assert.True(BackboneKit.Compare(a, b).Relative > 0.1);
    }

    [Fact]
    public void Infer_runs_the_chained_model_by_name()
    {
        // One child process: the name resolves next to camcnn.dll, and the scripting contract writes the 512 features.
        using var dir = new TempDir("camcnn-backbone");
        var rgb = BackboneKit.LoadPhotoRgb255(BackboneKit.Photo("giraffe.jpg"));
        Npy.Write(dir["rgb.npy"], rgb);
        var r = Camcnn.Run(["infer", "--model", ModelCatalog.ResNet18, "--input", dir["rgb.npy"], "--output-dir", dir["out"]], null);
        CliAssert.Succeeded(r);
        var features = Npy.Read(Path.Combine(dir["out"], "Pooling395_Output_0.npy"));
        output.WriteLine($"camcnn infer --model resnet18, giraffe.jpg: {BackboneKit.AssertParity(features, fx.OrtSequence(rgb), "infer --model resnet18")}");
    }

    [Fact]
    public void Unknown_model_name_lists_the_shipped_names()
    {
        using var dir = new TempDir("camcnn-backbone");
        Npy.Write(dir["x.npy"], new Tensor(1, 3, 4, 4));
        var r = Camcnn.RunInProcess("infer", "--model", "resnet19", "--input", dir["x.npy"], "--output-dir", dir["out"]);
        CliAssert.Error(r, "model not found: resnet19", ModelCatalog.ResNet18, ModelCatalog.ResNet18Backbone);
    }
}
