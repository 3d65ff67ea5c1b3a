// ExplainCliTests: `camcnn explain` end to end: on the LeNet `camcnn train` wrote (the class predict names, the map at the
// default and a chosen layer, the overlay and the .npy), on a small ResNet with letterbox preprocessing and a wide image;
// --list-layers; and bad input: a class or layer the model does not have, a layer that is not spatial, a backbone
// without a classifier, images that are missing or not images, outputs that cannot be written. One line each, nothing
// written. (The teach model on ResNet18 is in GradCamLocalisationTests.)
using CameraCnn.App.Tests.Infrastructure;
using CameraCnn.Engine.Data;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Training;
using OpenCvSharp;
using Xunit.Abstractions;

namespace CameraCnn.App.Tests.Explain;

public sealed class ExplainCliTests(ITestOutputHelper output) : CliTest(output)
{
    private static readonly string[] Labels = ["cat", "dog", "bird"];

    /// <summary>An untrained, seeded model of an architecture saved as m.onnx: 32 x 32 RGB, three classes.</summary>
    private string SavedModel(string arch, string resize = "stretch")
    {
        var pre = new Preprocessing { Channels = 3, Height = 32, Width = 32, ColorOrder = "rgb", Resize = resize, Scale = 1f / 255f, Mean = [0.5f], Std = [0.25f] };
        var model = Model.Create(arch, pre, Labels);
        Initializer.Initialize(model.Graph, seed: 3);
        model.Save(Dir["m.onnx"]);
        return "m.onnx";
    }

    private string Picture(string name, int width, int height, int seed)
    {
        using var mat = new Mat(height, width, MatType.CV_8UC3);
        Cv2.Randu(mat, Scalar.All(0), Scalar.All(255));
        Cv2.Circle(mat, new Point(width / 3, height / 2), height / 4, new Scalar(20, 40 + seed, 230), -1);
        Assert.True(Cv2.ImWrite(Dir[name], mat));
        return name;
    }

    private static void AssertFraction(double v, string what) => Assert.True(v is >= 0 and <= 1, $"{what} = {v} is not a fraction of the image");

    [Fact]
    public void A_small_resnet_with_letterbox_on_a_wide_image()
    {
        string model = SavedModel("small-resnet", "letterbox");
        string image = Picture("wide.png", 96, 48, 1);
        var r = Run("explain", "--model", model, "--image", image, "--out", "o.png", "--heatmap", "h.npy", "--json");
        CliAssert.Succeeded(r);
        var json = CliAssert.LastLineJson(r);
        Assert.Equal("block3_relu", json.GetProperty("layer").GetString());
        Assert.Equal((8, 8), (json.GetProperty("map_height").GetInt32(), json.GetProperty("map_width").GetInt32()));
        Assert.Contains(json.GetProperty("class").GetString(), Labels);
        if (!json.GetProperty("empty").GetBoolean())
            foreach (string key in new[] { "peak_x", "peak_y", "centroid_x", "centroid_y" }) AssertFraction(CliAssert.Number(json, key, r), key);
        using var overlay = Cv2.ImRead(Dir["o.png"]);
        Assert.Equal(new Size(96, 48), overlay.Size());
        var map = Npy.Read(Dir["h.npy"]);
        Assert.Equal([8, 8], map.Shape);
        Assert.All(map.Data, v => Assert.InRange(v, 0f, 1f));

        var list = Run("explain", "--model", model, "--list-layers");
        CliAssert.Succeeded(list);
        Assert.StartsWith("block3_relu  [64x8x8]", list.StdoutLines[^1]);
        Assert.EndsWith("(default)", list.StdoutLines[^1]);
        Assert.StartsWith("stem  [16x32x32]", list.StdoutLines[0]);
    }

    [Fact]
    public void Class_by_name_or_index_and_a_chosen_layer()
    {
        string model = SavedModel("lenet");
        string image = Picture("x.png", 40, 30, 2);
        var byName = CliAssert.LastLineJson(Run("explain", "--model", model, "--image", image, "--class", "DOG", "--out", "a.png", "--json"));
        var byIndex = CliAssert.LastLineJson(Run("explain", "--model", model, "--image", image, "--class", "1", "--out", "b.png", "--json"));
        Assert.Equal("dog", byName.GetProperty("class").GetString());
        Assert.Equal(1, byIndex.GetProperty("class_index").GetInt32());
        Assert.Equal(byName.GetProperty("peak_x").ToString(), byIndex.GetProperty("peak_x").ToString());
        Assert.Equal(byName.GetProperty("raw_max").ToString(), byIndex.GetProperty("raw_max").ToString());
        var r = Run("explain", "--model", model, "--image", image, "--layer", "conv1_relu", "--out", "c.png", "--json");
        CliAssert.Succeeded(r);
        var json = CliAssert.LastLineJson(r);
        Assert.Equal(("conv1_relu", 32, 32), (json.GetProperty("layer").GetString(), json.GetProperty("map_height").GetInt32(), json.GetProperty("map_width").GetInt32()));
    }

    private void AssertRefused(CliResult r, int exitCode, params string[] mentions)
    {
        CliAssert.FailedCleanly(r, exitCode, false, mentions);
        Assert.False(File.Exists(Dir["o.png"]), "an overlay was written");
    }

    [Fact]
    public void A_class_the_model_does_not_have()
    {
        string model = SavedModel("lenet"), image = Picture("x.png", 32, 32, 3);
        AssertRefused(Run("explain", "--model", model, "--image", image, "--class", "horse", "--out", "o.png"), 2, "--class 'horse'", "cat, dog, bird");
        AssertRefused(Run("explain", "--model", model, "--image", image, "--class", "3", "--out", "o.png"), 2, "--class 3", "out of range", "0..2");
    }

    [Fact]
    public void A_layer_the_model_does_not_have_or_that_is_not_spatial()
    {
        string model = SavedModel("lenet"), image = Picture("x.png", 32, 32, 4);
        AssertRefused(Run("explain", "--model", model, "--image", image, "--layer", "conv9", "--out", "o.png"), 2, "--layer conv9", "no node", "pool2", "--list-layers");
        AssertRefused(Run("explain", "--model", model, "--image", image, "--layer", "fc1", "--out", "o.png"), 2, "--layer fc1", "not spatial");
        AssertRefused(Run("explain", "--model", model, "--image", image, "--layer", "probabilities", "--out", "o.png"), 2, "--layer probabilities");
    }

    [Fact]
    public void A_backbone_without_a_classifier()
    {
        string image = Picture("x.png", 32, 32, 5);
        AssertRefused(Run("explain", "--model", "resnet18", "--image", image, "--out", "o.png"), 1, "resnet18 has no classifier", "camcnn train --backbone");
        AssertRefused(Run("explain", "--model", "resnet18", "--list-layers"), 1, "no classifier");
    }

    [Fact]
    public void Images_that_are_missing_or_not_images()
    {
        string model = SavedModel("lenet");
        AssertRefused(Run("explain", "--model", model, "--image", "nope.png", "--out", "o.png"), 1, "image not found", "nope.png");
        File.WriteAllBytes(Dir["bad.png"], TestData.RandomBytes(3000, 9));
        AssertRefused(Run("explain", "--model", model, "--image", "bad.png", "--out", "o.png"), 1, "cannot decode image", "bad.png");
        Dir.Sub("pics");
        AssertRefused(Run("explain", "--model", model, "--image", "pics", "--out", "o.png"), 1, "pics");
    }

    [Fact]
    public void Outputs_and_options_that_cannot_be_used()
    {
        string model = SavedModel("lenet"), image = Picture("x.png", 32, 32, 6);
        AssertRefused(Run("explain", "--model", model, "--image", image, "--out", "o.jpg"), 2, "--out o.jpg", ".png");
        AssertRefused(Run("explain", "--model", model, "--image", image, "--out", "o.png", "--heatmap", "h.txt"), 2, "--heatmap h.txt", ".npy");
        AssertRefused(Run("explain", "--model", model, "--image", image, "--out", "no/such/dir/o.png"), 1, "does not exist");
        AssertRefused(Run("explain", "--model", model, "--out", "o.png"), 2, "--image is required");
        AssertRefused(Run("explain", "--model", model, "--image", image), 2, "--out is required");
        AssertRefused(Run("explain", "--model", "missing.onnx", "--image", image, "--out", "o.png"), 1, "model not found", "missing.onnx");
        CliAssert.ParseError(Run("explain", "--image", image, "--out", "o.png"), "--model");
    }
}

/// <summary>explain on the LeNet `camcnn train` wrote (the shared training fixture).</summary>
[Collection(TrainingCollection.Name)]
public sealed class ExplainTrainedLeNetTests(FashionModelFixture fixture, ITestOutputHelper output) : CliTest(output)
{
    [Fact]
    public void Explain_names_the_class_predict_names_and_writes_the_overlay_and_the_map()
    {
        string model = fixture.RequireModel();
        var (pixels, _) = TestData.FashionTestImage(0);
        TestData.WriteGrayPng(Dir["x.png"], pixels, 28, 28);
        var predicted = CliAssert.LastLineJson(Run("predict", "--model", model, "--image", "x.png", "--top", "1", "--json"));
        var top = predicted.GetProperty("top")[0];

        var r = Run("explain", "--model", model, "--image", "x.png", "--out", "o.png", "--heatmap", "h.npy", "--json");
        CliAssert.Succeeded(r);
        var json = CliAssert.LastLineJson(r);
        Assert.Equal(top.GetProperty("label").GetString(), json.GetProperty("class").GetString());
        Assert.Equal(top.GetProperty("probability").GetDouble(), CliAssert.Number(json, "probability", r), 4);
        Assert.Equal("pool2", json.GetProperty("layer").GetString());
        Assert.False(json.GetProperty("empty").GetBoolean(), "the predicted class has an empty map");
        foreach (string key in new[] { "peak_x", "peak_y", "centroid_x", "centroid_y" })
            Assert.InRange(CliAssert.Number(json, key, r), 0, 1);
        var map = Npy.Read(Dir["h.npy"]);
        Assert.Equal([7, 7], map.Shape);
        Assert.Equal(1f, map.Data.Max());
        Assert.True(map.Data.Min() >= 0);
        // The peak the JSON gives is the centre of the map's largest cell (a stretched 28 x 28 picture: no crop, no bars).
        int peak = Array.IndexOf(map.Data, 1f);
        Assert.Equal((peak % 7 + 0.5) / 7, CliAssert.Number(json, "peak_x", r), 4);
        Assert.Equal((peak / 7 + 0.5) / 7, CliAssert.Number(json, "peak_y", r), 4);
        using var overlay = Cv2.ImRead(Dir["o.png"]);
        Assert.Equal((28, 28, 3), (overlay.Cols, overlay.Rows, overlay.Channels()));
    }
}
