// FusedBackboneParityTests: the shipped ImageNet ResNet18 (CNTK export, from the NuGet cache) run through the FUSED
// inference graph, with Winograd where the fusion's rule picks it (F(4x4) at 56/28/14, F(2x2) at 7) and without it,
// equals ONNX Runtime and our unfused graph within 1e-4 of max |output| (issue 11's bar), on every vector GEMM path
// and 1 and 2 threads. (The App's BackboneParityTests check the unfused graph against ORT on photos.) Skipped, with
// the reason, while the package is not in the cache.
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Onnx;
using CameraCnn.Engine.Optimization;
using CameraCnn.Engine.Tests.Conformance;
using CameraCnn.Engine.Tests.Kernels;
using Microsoft.ML.OnnxRuntime;
using Xunit.Abstractions;

namespace CameraCnn.Engine.Tests.Performance;

/// <summary>A fact that is skipped while the ResNet18 backbone is not in the NuGet cache.</summary>
public sealed class ResNetBackboneTheoryAttribute : TheoryAttribute
{
    public static string Path => System.IO.Path.Combine(ResNetPackage.ModelsDir, "ResNet18Onnx", "ResNet18.onnx");

    public ResNetBackboneTheoryAttribute()
    {
        if (!File.Exists(Path)) Skip = $"{Path} is not in the NuGet cache (it arrives with Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1)";
    }
}

[Collection("Parallelism")]
public sealed class FusedBackboneParityTests(ITestOutputHelper output)
{
    private static readonly Lazy<(Graph Source, float[] X, float[] Ort)> Backbone = new(() =>
    {
        var source = OnnxImporter.Load(ResNetBackboneTheoryAttribute.Path).Graph;
        // The backbone's input is BGR minus a mean image: roughly -130..150.
        var rng = new Random(11);
        var x = new float[3 * 224 * 224];
        for (int i = 0; i < x.Length; i++) x[i] = -130f + 280f * rng.NextSingle();
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        using var session = new InferenceSession(ResNetBackboneTheoryAttribute.Path, options);
        using var input = OrtValue.CreateTensorValueFromMemory(x, [1, 3, 224, 224]);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, [session.InputMetadata.Keys.First()], [input], [session.OutputMetadata.Keys.First()]);
        return (source, x, outputs[0].GetTensorDataAsSpan<float>().ToArray());
    });

    public static TheoryData<GemmPath, int> VectorPathsAndThreads() => KernelSettings.Cross([GemmPath.Avx512, GemmPath.Avx2], 1, 2);

    [ResNetBackboneTheory]
    [MemberData(nameof(VectorPathsAndThreads))]
    public void FusedGraphWithAndWithoutWinogradEqualsOrtAndTheUnfusedGraph(GemmPath path, int threads)
    {
        var (source, xs, ort) = Backbone.Value;
        KernelSettings.Run(path, threads, () =>
        {
            var x = new Tensor([1, 3, 224, 224], (float[])xs.Clone());
            float[] unfused = source.Forward(x).Data.ToArray();
            var winograd = InferenceFusion.Fuse(source);
            var convs = winograd.Nodes.Select(n => n.Layer).OfType<FusedConv2d>().ToList();
            Assert.Equal(15, convs.Count(c => c.Algorithm == "winograd")); // every 3x3 stride-1 conv of ResNet18
            // The 7x7/2 stem and the three 3x3/2 convs, on AVX-512 (the 1x1/2 shortcuts stay on the GEMM).
            Assert.Equal(path == GemmPath.Avx512 ? 4 : 0, convs.Count(c => c.Algorithm == "direct"));
            float[] fused = winograd.Forward(x).Data.ToArray();
            float[] gemm = InferenceFusion.Fuse(source, new FusionOptions { Winograd = false, Direct = false }).Forward(x).Data.ToArray();

            double scale = ort.Max(Math.Abs);
            double Rel(float[] a, float[] b) => a.Zip(b, (p, q) => Math.Abs(p - q)).Max() / scale;
            double wOrt = Rel(fused, ort), wPlain = Rel(fused, unfused), gOrt = Rel(gemm, ort), pOrt = Rel(unfused, ort);
            output.WriteLine($"path={path} threads={threads}: max |y - ORT| / max |ORT| (max |ORT| {scale:F2}): fused Winograd {wOrt:E2}, " +
                $"fused GEMM {gOrt:E2}, unfused {pOrt:E2}; fused Winograd vs unfused {wPlain:E2}");
            Assert.True(wOrt <= 1e-4, $"fused Winograd vs ORT: {wOrt:E2}");
            Assert.True(wPlain <= 1e-4, $"fused Winograd vs unfused: {wPlain:E2}");
            Assert.True(gOrt <= 1e-4, $"fused GEMM vs ORT: {gOrt:E2}");
        }, forceParallel: false);
    }
}
