// Bad input of every kind must end in a non-zero exit code and one "camcnn: error: ..." line (or System.CommandLine's
// own message for malformed command lines), never a stack trace. These need no trained model, so they run in
// parallel with the training collection.
using System.IO.Compression;
using CameraCnn.App.Tests.Infrastructure;
using CameraCnn.Engine.Data;
using Xunit.Abstractions;

namespace CameraCnn.App.Tests;

public sealed class BadInputTests(ITestOutputHelper output) : CliTest(output)
{
    [Fact]
    public void Missing_data_set()
    {
        var r = Run("train", "--data", "/nonexistent", "--out", "m.onnx");
        CliAssert.Error(r, "data set not found", "/nonexistent");
        Assert.False(File.Exists(Dir["m.onnx"]));
    }

    [Fact]
    public void Missing_data_set_for_eval_is_reported_after_the_model_check()
    {
        // The model is checked first, so a missing model wins over a missing data set.
        var r = Run("eval", "--model", "missing.onnx", "--data", "/nonexistent");
        CliAssert.Error(r, "model not found", "missing.onnx");
    }

    [Fact]
    public void Directory_with_neither_idx_files_nor_class_folders()
    {
        // FashionMnist.FindDirectory falls back from $CAMCNN_FASHION_MNIST to the installed package, so "not
        // installed" cannot be provoked on a machine that has it; an empty directory is the nearest case.
        string empty = Dir.Sub("empty");
        File.WriteAllText(Path.Combine(empty, "readme.txt"), "not a data set");
        var r = Run("train", "--data", empty, "--out", "m.onnx");
        CliAssert.Error(r, "no class sub-folders", empty);
    }

    [Fact]
    public void Image_folder_whose_class_folders_hold_no_images()
    {
        string data = Dir.Sub("noimages");
        Directory.CreateDirectory(Path.Combine(data, "a"));
        Directory.CreateDirectory(Path.Combine(data, "b"));
        File.WriteAllText(Path.Combine(data, "a", "notes.txt"), "x");
        var r = Run("train", "--data", data, "--out", "m.onnx");
        CliAssert.Error(r, "no image files");
    }

    [Fact]
    public void Image_folder_with_only_undecodable_images()
    {
        string data = Dir.Sub("garbage");
        foreach (string c in new[] { "a", "b" })
        {
            Directory.CreateDirectory(Path.Combine(data, c));
            File.WriteAllBytes(Path.Combine(data, c, "1.png"), TestData.RandomBytes(500, c[0]));
        }
        var r = Run("train", "--data", data, "--out", "m.onnx");
        CliAssert.Error(r, "no readable images");
    }

    [Fact]
    public void Image_folder_with_one_class()
    {
        string data = Dir.Sub("oneclass");
        TestData.WriteShapesFolder(data, 3, 16, seed: 1);
        Directory.Delete(Path.Combine(data, "circles"), true);
        Directory.Delete(Path.Combine(data, "rectangles"), true);
        var r = Run("train", "--data", data, "--input-size", "16", "--out", "m.onnx");
        CliAssert.Error(r, "at least 2 classes");
    }

    /// <summary>A copy of the Fashion-MNIST directory whose train-images file is replaced by <paramref name="trainImages"/>.</summary>
    private string CorruptFashionCopy(string name, byte[] trainImages)
    {
        string src = TestData.FashionMnistDirectory;
        string dst = Dir.Sub(name);
        foreach (string f in new[] { FashionMnist.TrainLabelsFile, FashionMnist.TestImagesFile, FashionMnist.TestLabelsFile })
            File.Copy(Path.Combine(src, f), Path.Combine(dst, f));
        File.WriteAllBytes(Path.Combine(dst, FashionMnist.TrainImagesFile), trainImages);
        return dst;
    }

    internal static byte[] Gzip(byte[] raw)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest)) gz.Write(raw);
        return ms.ToArray();
    }

    private static byte[] OriginalTrainImages(int bytes)
    {
        using var f = File.OpenRead(Path.Combine(TestData.FashionMnistDirectory, FashionMnist.TrainImagesFile));
        var b = new byte[bytes];
        f.ReadExactly(b);
        return b;
    }

    public static TheoryData<string, string> CorruptIdxCases => new()
    {
        { "truncated-gzip", "truncated" },      // the first 4000 bytes of the real file
        { "flipped-gzip", "train-images" },     // the real file with garbage in the middle of the deflate stream
        { "not-gzip-not-idx", "not an IDX file" },
        { "labels-magic", "bad magic" },        // an IDX label header where images are expected
        { "lying-header", "truncated" },        // claims 60000x28x28, holds 10 images
        { "empty", "truncated" },
    };

    [Theory]
    [MemberData(nameof(CorruptIdxCases))]
    public void Corrupt_idx_file(string kind, string mention)
    {
        byte[] bytes = kind switch
        {
            "truncated-gzip" => OriginalTrainImages(4000),
            "flipped-gzip" => Flip(OriginalTrainImages(200_000)),
            "not-gzip-not-idx" => TestData.RandomBytes(5000, 1).Select((b, i) => i < 2 ? (byte)0x7f : b).ToArray(),
            "labels-magic" => Gzip([0, 0, 8, 1, 0, 0, 0, 10, .. new byte[10]]),
            "lying-header" => Gzip([0, 0, 8, 3, 0, 0, 0xea, 0x60, 0, 0, 0, 28, 0, 0, 0, 28, .. new byte[10 * 784]]),
            _ => [],
        };
        string dir = CorruptFashionCopy(kind, bytes);
        var r = Run("train", "--data", dir, "--out", "m.onnx", "--epochs", "1");
        CliAssert.Error(r, FashionMnist.TrainImagesFile, mention);
        Assert.False(File.Exists(Dir["m.onnx"]));

        static byte[] Flip(byte[] b)
        {
            for (int i = 1000; i < 1400; i++) b[i] ^= 0x5a;
            return b;
        }
    }

    [Fact]
    public void Corrupt_fashion_mnist_named_by_the_environment_variable()
    {
        // $CAMCNN_FASHION_MNIST wins over the installed package when it holds the four files.
        string dir = CorruptFashionCopy("env", OriginalTrainImages(4000));
        var r = Camcnn.Run(["train", "--data", "fashion-mnist", "--out", "m.onnx", "--limit", "100"], Dir.Path,
            new Dictionary<string, string?> { [FashionMnist.EnvironmentVariable] = dir });
        Output.WriteLine(r.ToString());
        CliAssert.Error(r, FashionMnist.TrainImagesFile, "truncated");
    }

    [Fact]
    public void Unknown_architecture_is_a_parse_error_listing_the_choices()
    {
        var r = Run("train", "--data", "fashion-mnist", "--arch", "foo", "--out", "m.onnx");
        CliAssert.ParseError(r, "foo", "lenet", "small-resnet");
    }

    [Fact]
    public void Unknown_option_is_a_parse_error()
    {
        var r = Run("train", "--data", "fashion-mnist", "--out", "m.onnx", "--bogus");
        CliAssert.ParseError(r, "--bogus");
    }

    [Fact]
    public void A_mistyped_option_gets_one_line_with_the_likely_one_and_no_type_names()
    {
        var r = Run("train", "--data", "fashion-mnist", "--out", "m.onnx", "--epoch", "3");
        CliAssert.ParseError(r, "'--epoch'", "did you mean --epochs?", "camcnn train --help");
        Assert.Equal(Program.UsageError, r.ExitCode);
        var n = Run("train", "--data", "fashion-mnist", "--out", "m.onnx", "--lr", "fast");
        CliAssert.ParseError(n, "'fast'", "--lr", "(a number)");
        Assert.DoesNotContain("System.", n.Stderr);
    }

    [Fact]
    public void Missing_required_option_is_a_parse_error()
    {
        var r = Run("train", "--data", "fashion-mnist");
        CliAssert.ParseError(r, "--out");
    }

    [Fact]
    public void Unknown_subcommand_is_a_parse_error()
    {
        var r = Run("fly", "--to", "moon");
        CliAssert.ParseError(r, "fly");
    }

    [Fact]
    public void Non_numeric_value_is_a_parse_error()
    {
        var r = Run("train", "--data", "fashion-mnist", "--out", "m.onnx", "--epochs", "many");
        CliAssert.ParseError(r, "many");
    }

    [Theory]
    [InlineData("--epochs", "0", "--epochs")]
    [InlineData("--batch", "0", "--batch")]
    [InlineData("--lr", "-1", "--lr")]
    [InlineData("--lr", "NaN", "--lr")]
    [InlineData("--val-fraction", "1", "--val-fraction")]
    [InlineData("--limit", "0", "--limit")]    // used to train on nothing and fail saving NaN normalisation as JSON
    [InlineData("--limit", "-5", "--limit")]
    public void Out_of_range_training_options(string option, string value, string mention)
    {
        var r = Run("train", "--data", "fashion-mnist", "--out", "m.onnx", option, value);
        CliAssert.OutOfRange(r, mention);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-1")]
    public void Out_of_range_eval_limit(string limit)
    {
        var r = Run("eval", "--model", "missing.onnx", "--data", "fashion-mnist", "--limit", limit);
        CliAssert.OutOfRange(r, "--limit must be at least 1");
    }

    [Fact]
    public void Out_in_a_missing_directory()
    {
        var r = Run("train", "--data", "fashion-mnist", "--out", "/nonexistent-dir/m.onnx");
        CliAssert.Error(r, "/nonexistent-dir", "does not exist");
    }

    [Fact]
    public void Out_pointing_to_a_directory()
    {
        string d = Dir.Sub("adir");
        var r = Run("train", "--data", "fashion-mnist", "--out", d);
        CliAssert.Error(r, "is a directory");
        Assert.True(Directory.Exists(d));
    }

    [Fact]
    public void Out_under_a_file_instead_of_a_directory()
    {
        File.WriteAllText(Dir["afile"], "x");
        var r = Run("train", "--data", "fashion-mnist", "--out", "afile/m.onnx");
        CliAssert.Error(r, "afile", "is a file, not a directory");
        // Deeper below the file, the message still names the file that is in the way.
        var deeper = Run("train", "--data", "fashion-mnist", "--out", Path.Combine(Dir["afile"], "sub", "m.onnx"));
        CliAssert.Error(deeper, Dir["afile"], "is a file, not a directory");
    }

    public static TheoryData<string, string> CorruptModels => new()
    {
        { "random", "not a valid ONNX model" },
        { "empty", "not a valid ONNX model" },
        { "text", "not a valid ONNX model" },
        { "missing", "model not found" },
    };

    private string WriteModel(string kind)
    {
        string path = Dir[$"{kind}.onnx"];
        switch (kind)
        {
            case "random": File.WriteAllBytes(path, TestData.RandomBytes(4096, 42)); break;
            case "empty": File.WriteAllBytes(path, []); break;
            case "text": File.WriteAllText(path, "this is not a model\n"); break;
        }
        return path;
    }

    [Theory]
    [MemberData(nameof(CorruptModels))]
    public void Corrupt_model_for_eval(string kind, string mention)
    {
        var r = Run("eval", "--model", WriteModel(kind), "--data", "fashion-mnist", "--limit", "10");
        CliAssert.Error(r, mention);
    }

    [Theory]
    [MemberData(nameof(CorruptModels))]
    public void Corrupt_model_for_infer(string kind, string mention)
    {
        Npy.Write(Dir["x.npy"], new CameraCnn.Engine.Tensor(1, 1, 28, 28));
        var r = Run("infer", "--model", WriteModel(kind), "--input", "x.npy", "--output-dir", "out");
        CliAssert.Error(r, mention);
        Assert.False(Directory.Exists(Dir["out"]), "no output directory for a failed run");
    }

    [Theory]
    [MemberData(nameof(CorruptModels))]
    public void Corrupt_model_for_predict(string kind, string mention)
    {
        TestData.WriteGrayPng(Dir["x.png"], new byte[28 * 28], 28, 28);
        var r = Run("predict", "--model", WriteModel(kind), "--image", "x.png");
        CliAssert.Error(r, mention);
    }
}
