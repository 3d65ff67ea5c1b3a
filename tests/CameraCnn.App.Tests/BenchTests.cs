// camcnn bench: the JSON contract of the model and training benches on the shared Fashion-MNIST model (median of whole
// forwards, FMA peak, the CPU and its AVX-512 width, a warm-up that waited for the JIT, every layer's algorithm, 0 bytes
// per steady-state forward) and --no-winograd. Asserts what the output says, never how fast anything was.
using System.Text.Json;
using CameraCnn.App.Tests.Infrastructure;
using Xunit.Abstractions;

namespace CameraCnn.App.Tests;

[Collection(TrainingCollection.Name)]
public sealed class BenchTests(FashionModelFixture fixture, ITestOutputHelper output)
{
    private static readonly string[] Algorithms = ["gemm", "winograd", "direct"];

    private JsonElement Bench(params string[] args)
    {
        var r = Camcnn.Run(["bench", .. args, "--json"], workingDirectory: null, timeout: TimeSpan.FromSeconds(300));
        output.WriteLine(r.ToString());
        CliAssert.Succeeded(r);
        Assert.Contains(r.StderrLines, l => l.StartsWith("bench: warm-up: ", StringComparison.Ordinal));
        return CliAssert.LastLineJson(r);
    }

    private static void AssertCpu(JsonElement json)
    {
        var cpu = json.GetProperty("cpu");
        Assert.False(string.IsNullOrWhiteSpace(cpu.GetProperty("model_name").GetString()));
        Assert.True(cpu.GetProperty("family").GetInt32() >= 0);
        Assert.True(cpu.GetProperty("model").GetInt32() >= 0);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Model_bench_reports_whole_forward_median_peak_cpu_and_each_layers_algorithm(bool noWinograd)
    {
        string model = fixture.RequireModel();
        string[] args = ["--model", model, "--threads", "2", "--iterations", "5"];
        var json = Bench(noWinograd ? [.. args, "--no-winograd"] : args);

        Assert.Equal(2, json.GetProperty("threads").GetInt32());
        Assert.Equal(!noWinograd, json.GetProperty("winograd").GetBoolean());
        Assert.True(json.GetProperty("direct").GetBoolean());
        foreach (string field in new[] { "median_ms", "min_ms", "gflops", "peak_gflops", "peak_gflops_1thread", "layered_median_ms" })
            Assert.True(json.GetProperty(field).GetDouble() > 0, $"{field} should be positive");
        Assert.True(json.GetProperty("min_ms").GetDouble() <= json.GetProperty("median_ms").GetDouble());
        Assert.True(json.GetProperty("warmup_forwards").GetInt32() >= 40, "the warm-up runs past the JIT's 30-call tier-up threshold");
        Assert.Equal(0, json.GetProperty("allocated_bytes_per_forward").GetInt64());
        AssertCpu(json);
        Assert.Contains(json.GetProperty("cpu").GetProperty("avx512").GetString(), new[] { "full", "half", "none" });

        var layers = json.GetProperty("layers").EnumerateArray().ToList();
        Assert.NotEmpty(layers);
        foreach (var layer in layers)
            Assert.Contains(layer.GetProperty("algorithm").GetString(), Algorithms);
        // LeNet's fused graph: two convs (im2col + GEMM; 3x3 on 28x28 and 14x14), two dense layers, the rest direct.
        var convs = layers.Where(l => l.GetProperty("kind").GetString() == "FusedConv2d").ToList();
        Assert.Equal(2, convs.Count);
        if (noWinograd) Assert.All(convs, c => Assert.Equal("gemm", c.GetProperty("algorithm").GetString()));
        Assert.All(layers.Where(l => l.GetProperty("kind").GetString() == "Dense"), d => Assert.Equal("gemm", d.GetProperty("algorithm").GetString()));
        Assert.All(layers.Where(l => l.GetProperty("kind").GetString() == "MaxPool2d"), p => Assert.Equal("direct", p.GetProperty("algorithm").GetString()));
    }

    [Fact]
    public void Train_bench_warms_up_and_reports_the_step_and_its_layers()
    {
        var json = Bench("--train", "lenet", "--threads", "1", "--iterations", "3", "--batch", "16");
        Assert.Equal(16, json.GetProperty("batch").GetInt32());
        Assert.True(json.GetProperty("warmup_steps").GetInt32() >= 40);
        Assert.True(json.GetProperty("median_ms_per_step").GetDouble() > 0);
        Assert.True(json.GetProperty("median_over_min").GetDouble() >= 1);
        AssertCpu(json);
        var layers = json.GetProperty("layers").EnumerateArray().ToList();
        Assert.Equal(["gemm", "gemm"], layers.Where(l => l.GetProperty("kind").GetString() == "Conv2d").Select(l => l.GetProperty("algorithm").GetString()));
        Assert.All(layers, l => Assert.True(l.GetProperty("backward_ms").GetDouble() >= 0));
    }
}
