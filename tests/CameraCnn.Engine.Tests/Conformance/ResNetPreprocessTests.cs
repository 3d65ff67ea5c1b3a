// ResNetPreprocessTests: the preprocessing graph shipped with Microsoft.ML.DnnImageFeaturizer.ResNet18 (CNTK export,
// opset 8: Split with a 'split' attribute, Concat back to BGR, Sub of a constant mean image) imports, runs, and
// matches ONNX Runtime and a naive reference. Skipped, with the reason, only while the package is not in the cache.
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Onnx;
using CameraCnn.Engine.Tests.OnnxInterop;

namespace CameraCnn.Engine.Tests.Conformance;

/// <summary>Where the NuGet cache keeps the ResNet18 featurizer package's models.</summary>
internal static class ResNetPackage
{
    public static string ModelsDir => Path.Combine(
        Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } cache ? cache
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages"),
        "microsoft.ml.dnnimagefeaturizer.resnet18", "0.23.1", "tools", "DnnImageModels");

    public static string Preprocess => Path.Combine(ModelsDir, "ResNetPrepOnnx", "ResNetPreprocess.onnx");
}

/// <summary>A fact that is skipped (with the path in the reason) while the ResNet preprocessing model is not in the NuGet cache.</summary>
public sealed class ResNetPreprocessFactAttribute : FactAttribute
{
    public ResNetPreprocessFactAttribute()
    {
        if (!File.Exists(ResNetPackage.Preprocess))
            Skip = $"{ResNetPackage.Preprocess} is not in the NuGet cache yet (it arrives with the package download of " +
                   "Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1)";
    }
}

public sealed class ResNetPreprocessTests
{
    [ResNetPreprocessFact]
    public void ImportsAsSplitConcatAndConstantSub()
    {
        var graph = OnnxImporter.Load(ResNetPackage.Preprocess).Graph;
        Assert.Equal([1, 3, 224, 224], graph.Inputs.Single().InputShape!);
        var kinds = graph.Nodes.Where(n => n.Layer is not null).Select(n => n.Layer!.GetType().Name).ToArray();
        Assert.Equal(["SplitPart", "SplitPart", "SplitPart", "Concat", "Constant", "Elementwise"], kinds);
        Assert.Equal("PreprocessedInput", graph.Output.Name);
    }

    [ResNetPreprocessFact]
    public void SteadyStateForwardAllocatesNothing()
    {
        // The live app runs this graph on every frame.
        var graph = OnnxImporter.Load(ResNetPackage.Preprocess).Graph;
        var x = OnnxTestKit.RandomTensor(new Random(3), 0f, 255f, 1, 3, 224, 224);
        Tensor[] inputs = [x];
        graph.Forward(inputs);
        graph.Forward(inputs);
        long before = GC.GetAllocatedBytesForCurrentThread();
        graph.Forward(inputs);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [ResNetPreprocessFact]
    public void MatchesOnnxRuntimeAndTheNaiveBgrMinusMean()
    {
        byte[] bytes = File.ReadAllBytes(ResNetPackage.Preprocess);
        var graph = OnnxImporter.FromBytes(bytes).Graph;
        var x = OnnxTestKit.RandomTensor(new Random(224), 0f, 255f, 1, 3, 224, 224);
        Tensor y = graph.Forward(x);

        var ort = OnnxTestKit.RunOrt(bytes, x).Single().Value;
        Assert.Equal([1L, 3, 224, 224], ort.Shape);
        // Channel copies and one float subtraction per element: bit-identical to ONNX Runtime.
        Assert.Equal(0, OnnxTestKit.MaxAbsDiff(y.Data, ort.Data, out _));

        var mean = ((Constant)graph.Nodes.Single(n => n.Layer is Constant).Layer!).Value.Value;
        const int plane = 224 * 224;
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < plane; i++)
                Assert.Equal(x.Data[(2 - c) * plane + i] - mean.Data[c * plane + i], y.Data[c * plane + i]);
        // The mean image is a real one (pixel means around 100-125), not zeros that would hide a missing Sub.
        Assert.InRange(mean.Data.Average(), 90, 140);
    }
}
