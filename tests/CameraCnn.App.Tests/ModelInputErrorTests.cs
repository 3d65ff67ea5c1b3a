// Bad input next to a good model: a truncated copy of the real model, bad .npy inputs, bad images, bad data for eval.
using CameraCnn.App.Tests.Infrastructure;
using CameraCnn.Engine;
using CameraCnn.Engine.Data;
using Xunit.Abstractions;

namespace CameraCnn.App.Tests;

[Collection(TrainingCollection.Name)]
public sealed class ModelInputErrorTests(FashionModelFixture fixture, ITestOutputHelper output) : CliTest(output)
{
    /// <summary>The real model cut to <paramref name="keep"/> bytes (negative: that many bytes short of the end).</summary>
    private string TruncatedModel(int keep)
    {
        byte[] bytes = File.ReadAllBytes(fixture.RequireModel());
        int n = keep >= 0 ? keep : bytes.Length + keep;
        string path = Dir[$"truncated-{n}.onnx"];
        File.WriteAllBytes(path, bytes[..n]);
        return path;
    }

    private string GoodInput(int n = 1)
    {
        Npy.Write(Dir["x.npy"], new Tensor(n, 1, 28, 28));
        return "x.npy";
    }

    [Theory]
    [InlineData(100)]
    [InlineData(400_000)]
    [InlineData(-1)]   // only the last byte missing: inside the metadata
    public void Truncated_model_for_eval_infer_and_predict(int keep)
    {
        string model = TruncatedModel(keep);
        TestData.WriteGrayPng(Dir["x.png"], new byte[28 * 28], 28, 28);
        CliAssert.Error(Run("eval", "--model", model, "--data", "fashion-mnist", "--limit", "10"), Path.GetFileName(model));
        CliAssert.Error(Run("infer", "--model", model, "--input", GoodInput(), "--output-dir", "out"), Path.GetFileName(model));
        CliAssert.Error(Run("predict", "--model", model, "--image", "x.png"), Path.GetFileName(model));
    }

    [Fact]
    public void Infer_with_a_missing_input_file()
    {
        var r = Run("infer", "--model", fixture.RequireModel(), "--input", "input=missing.npy", "--output-dir", "out");
        CliAssert.Error(r, "input file not found", "missing.npy");
        Assert.False(Directory.Exists(Dir["out"]));
    }

    [Fact]
    public void Infer_with_a_wrong_input_name_lists_the_real_one()
    {
        var r = Run("infer", "--model", fixture.RequireModel(), "--input", $"image={GoodInput()}", "--output-dir", "out");
        CliAssert.Error(r, "no input 'image'", "input[Nx1x28x28]");
    }

    [Fact]
    public void Infer_with_the_same_input_twice_uses_the_last()
    {
        // Not an error: the later binding wins, like repeated flags elsewhere.
        Npy.Write(Dir["a.npy"], new Tensor(2, 1, 28, 28));
        Npy.Write(Dir["b.npy"], new Tensor(1, 1, 28, 28));
        var r = Run("infer", "--model", fixture.RequireModel(), "--input", "input=a.npy", "input=b.npy", "--output-dir", "out");
        CliAssert.Succeeded(r);
        Assert.Equal([1, 10], Npy.Read(Path.Combine(Dir["out"], "probabilities.npy")).Shape);
    }

    public static TheoryData<string, string> BadNpy => new()
    {
        { "not-npy", "x.npy" },
        { "truncated", "truncated" },
        { "wrong-channels", "" },
        { "wrong-size", "" },
        { "wrong-rank", "" },
        { "string-dtype", "unsupported dtype" },
    };

    [Theory]
    [MemberData(nameof(BadNpy))]
    public void Infer_with_a_bad_npy(string kind, string mention)
    {
        string path = Dir["x.npy"];
        switch (kind)
        {
            case "not-npy": File.WriteAllBytes(path, TestData.RandomBytes(100, 5)); break;
            case "truncated":
                Npy.Write(path, new Tensor(1, 1, 28, 28));
                File.WriteAllBytes(path, File.ReadAllBytes(path)[..500]);
                break;
            case "wrong-channels": Npy.Write(path, new Tensor(1, 3, 28, 28)); break;
            case "wrong-size": Npy.Write(path, new Tensor(1, 1, 32, 32)); break;
            case "wrong-rank": Npy.Write(path, new Tensor(28, 28)); break;
            case "string-dtype":
                File.WriteAllBytes(path, [.. NpyHeader("{'descr': '<U4', 'fortran_order': False, 'shape': (1,), }"), .. new byte[16]]);
                break;
        }
        var r = Run("infer", "--model", fixture.RequireModel(), "--input", "x.npy", "--output-dir", "out");
        CliAssert.Error(r, mention);
        Assert.False(Directory.Exists(Dir["out"]));
    }

    private static byte[] NpyHeader(string dict)
    {
        string header = dict.PadRight(118) + "\n"; // 10-byte preamble + 118 = 128, aligned like NumPy does
        return [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, (byte)header.Length, 0,
            .. System.Text.Encoding.ASCII.GetBytes(header)];
    }

    [Fact]
    public void Predict_with_a_corrupt_image()
    {
        File.WriteAllBytes(Dir["x.png"], TestData.RandomBytes(2000, 8));
        var r = Run("predict", "--model", fixture.RequireModel(), "--image", "x.png");
        CliAssert.Error(r, "cannot decode image", "x.png");
    }

    [Fact]
    public void Predict_with_an_empty_image()
    {
        File.WriteAllBytes(Dir["x.jpg"], []);
        var r = Run("predict", "--model", fixture.RequireModel(), "--image", "x.jpg");
        CliAssert.Error(r, "x.jpg");
    }

    [Fact]
    public void Predict_with_a_missing_image()
    {
        var r = Run("predict", "--model", fixture.RequireModel(), "--image", "nope.png");
        CliAssert.Error(r, "image not found", "nope.png");
    }

    [Fact]
    public void Predict_with_a_directory_as_image()
    {
        Dir.Sub("pics");
        var r = Run("predict", "--model", fixture.RequireModel(), "--image", "pics");
        CliAssert.Error(r, "pics");
    }

    [Fact]
    public void Predict_with_top_zero()
    {
        TestData.WriteGrayPng(Dir["x.png"], new byte[28 * 28], 28, 28);
        CliAssert.OutOfRange(Run("predict", "--model", fixture.RequireModel(), "--image", "x.png", "--top", "0"), "--top");
    }

    [Fact]
    public void Eval_with_a_missing_data_set()
    {
        var r = Run("eval", "--model", fixture.RequireModel(), "--data", "/nonexistent");
        CliAssert.Error(r, "data set not found", "/nonexistent");
    }

    [Fact]
    public void Eval_on_an_image_folder_with_foreign_classes()
    {
        // The model's classes are the Fashion-MNIST names; folders "circles" etc. are not among them.
        string data = Dir.Sub("shapes");
        TestData.WriteShapesFolder(data, 2, 28, seed: 3);
        var r = Run("eval", "--model", fixture.RequireModel(), "--data", data, "--all");
        CliAssert.Error(r, "not among the 10 known classes");
    }

    [Fact]
    public void Infer_with_an_output_dir_that_is_a_file()
    {
        File.WriteAllText(Dir["out"], "a file");
        var r = Run("infer", "--model", fixture.RequireModel(), "--input", GoodInput(), "--output-dir", "out");
        CliAssert.Error(r, "out");
        Assert.Equal("a file", File.ReadAllText(Dir["out"]));
    }

    [Fact]
    public void Model_given_as_a_directory()
    {
        Dir.Sub("m.onnx");
        CliAssert.Error(Run("infer", "--model", "m.onnx", "--input", GoodInput(), "--output-dir", "out"), "m.onnx");
    }
}
