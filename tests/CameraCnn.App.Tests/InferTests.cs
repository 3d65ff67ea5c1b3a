// camcnn infer: the scripting contract (.npy in, DIR/<output name>.npy out), on the shared Fashion-MNIST model.
using CameraCnn.App.Commands;
using CameraCnn.App.Tests.Infrastructure;
using CameraCnn.Engine;
using CameraCnn.Engine.Data;
using Xunit.Abstractions;

namespace CameraCnn.App.Tests;

[Collection(TrainingCollection.Name)]
public sealed class InferTests(FashionModelFixture fixture, ITestOutputHelper output)
{
    private static Tensor RandomInput(int n, int seed)
    {
        var x = new Tensor(n, 1, 28, 28);
        var rng = new Random(seed);
        for (int i = 0; i < x.Data.Length; i++) x.Data[i] = (float)(rng.NextDouble() * 4 - 1);
        return x;
    }

    private static void AssertProbabilityRows(Tensor p, int rows)
    {
        Assert.Equal([rows, 10], p.Shape);
        for (int r = 0; r < rows; r++)
        {
            var row = p.Data.AsSpan(r * 10, 10).ToArray();
            Assert.All(row, v => Assert.InRange(v, 0f, 1f));
            Assert.Equal(1.0, row.Sum(v => (double)v), tolerance: 1e-4);
        }
    }

    [Fact]
    public void Infer_with_a_named_input_writes_probabilities_npy()
    {
        string model = fixture.RequireModel();
        using var dir = new TempDir();
        Npy.Write(dir["x.npy"], RandomInput(1, seed: 3));

        var r = Camcnn.Run(["infer", "--model", model, "--input", "input=x.npy", "--output-dir", "out/"], dir.Path);
        output.WriteLine(r.ToString());
        CliAssert.Succeeded(r);
        string result = Path.Combine(dir.Path, "out", "probabilities.npy");
        Assert.True(File.Exists(result), $"no {result}\n{r}");
        AssertProbabilityRows(Npy.Read(result), 1);
        // One line per graph output: "<name> <shape> -> <path>".
        Assert.Equal(["probabilities [1x10] -> " + Path.Combine("out/", "probabilities.npy")], r.StdoutLines);
        Assert.Empty(r.StderrLines);
    }

    [Fact]
    public void Infer_without_the_name_binds_the_single_input_and_keeps_the_batch()
    {
        string model = fixture.RequireModel();
        using var dir = new TempDir();
        var x = RandomInput(3, seed: 4);
        Npy.Write(dir["batch.npy"], x);
        string outDir = Path.Combine(dir.Path, "nested", "out"); // created when missing

        var r = Camcnn.Run(["infer", "--model", model, "--input", dir["batch.npy"], "--output-dir", outDir], workingDirectory: null);
        output.WriteLine(r.ToString());
        CliAssert.Succeeded(r);
        var batch = Npy.Read(Path.Combine(outDir, "probabilities.npy"));
        AssertProbabilityRows(batch, 3);

        // Row i of a batch equals the single-image result for image i (inference mode: no dropout, running BN stats).
        var one = new Tensor(1, 1, 28, 28);
        x.Data.AsSpan(2 * 784, 784).CopyTo(one.Data);
        Npy.Write(dir["one.npy"], one);
        var single = Camcnn.Run(["infer", "--model", model, "--input", "input=one.npy", "--output-dir", "single"], dir.Path);
        CliAssert.Succeeded(single);
        var p = Npy.Read(Path.Combine(dir.Path, "single", "probabilities.npy"));
        for (int k = 0; k < 10; k++) Assert.Equal(batch.Data[20 + k], p.Data[k], 1e-5f);
    }

    [Fact]
    public void Infer_overwrites_an_existing_output()
    {
        string model = fixture.RequireModel();
        using var dir = new TempDir();
        Npy.Write(dir["x.npy"], RandomInput(1, seed: 5));
        Directory.CreateDirectory(dir["out"]);
        File.WriteAllText(Path.Combine(dir["out"], "probabilities.npy"), "stale");

        var r = Camcnn.Run(["infer", "--model", model, "--input", "x.npy", "--output-dir", "out"], dir.Path);
        CliAssert.Succeeded(r);
        AssertProbabilityRows(Npy.Read(Path.Combine(dir["out"], "probabilities.npy")), 1);
    }
}

public sealed class SanitizeFileNameTests
{
    [Theory]
    [InlineData("probabilities", "probabilities")]
    [InlineData("a/b:c", "a_b_c")]
    [InlineData("a\\b", "a_b")]
    [InlineData("..x", "x")]
    [InlineData("x..", "x")]
    [InlineData(".hidden", "hidden")]
    [InlineData("..", "output")]
    [InlineData(".", "output")]
    [InlineData("", "output")]
    [InlineData("a b\tc", "a_b_c")]
    [InlineData("logits.1", "logits.1")]
    [InlineData("Conv_0-out_1", "Conv_0-out_1")]
    [InlineData("../../etc/passwd", "_.._etc_passwd")]
    [InlineData("prob\u00e4", "prob_")]
    [InlineData("x\0y", "x_y")]
    public void Output_names_become_safe_file_names(string name, string expected) =>
        Assert.Equal(expected, InferCommand.SanitizeFileName(name));

    [Theory]
    [InlineData("../x")]
    [InlineData("/abs/path")]
    [InlineData("C:\\dir\\file")]
    [InlineData("....")]
    [InlineData("a/../../b")]
    public void Sanitised_names_stay_inside_the_output_directory(string name)
    {
        string s = InferCommand.SanitizeFileName(name);
        Assert.NotEmpty(s);
        Assert.DoesNotContain('/', s);
        Assert.DoesNotContain('\\', s);
        Assert.False(s.StartsWith('.') || s.EndsWith('.'), s);
        string root = Path.GetFullPath("/tmp/out");
        Assert.Equal(root, Path.GetDirectoryName(Path.GetFullPath(Path.Combine(root, s + ".npy"))));
    }
}
