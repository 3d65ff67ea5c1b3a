// ModelCatalog: resolves --model, which is either a path to an ONNX file or the name of a model shipped with the
// program. The shipped files (models/ next to the binary) are copied from the NuGet package
// Microsoft.ML.DnnImageFeaturizer.ResNet18 at build time (see CameraCnn.App.csproj); nothing is downloaded here.
using CameraCnn.Engine.IO;
using CameraCnn.Engine.Models;

namespace CameraCnn.App.Cli;

public static class ModelCatalog
{
    /// <summary>ImageNet ResNet18 with ML.NET's preprocessing graph in front: RGB 0..255 in, 512 features out.</summary>
    public const string ResNet18 = "resnet18";
    /// <summary>The raw backbone file (input already BGR minus the mean image), e.g. for benchmarks.</summary>
    public const string ResNet18Backbone = "resnet18-backbone";

    public const string ResNet18File = "resnet18.onnx", ResNet18PreprocessFile = "resnet18-preprocess.onnx";

    /// <summary>Where the shipped ResNet18 files come from (stored in the chained model's metadata).</summary>
    public const string ResNet18Source = "Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1 (MIT): ResNetPreprocess.onnx + ResNet18.onnx";

    public const string SourceKey = "camcnn.source";

    /// <summary>Directory of the models shipped with the program.</summary>
    public static string ShippedDirectory => Path.Combine(AppContext.BaseDirectory, "models");

    /// <summary>The shipped model names, for help texts.</summary>
    public static string NamesHelp => $"{ResNet18} (ImageNet ResNet18 features, 224x224 RGB) or {ResNet18Backbone} (the raw backbone)";

    /// <summary>
    /// The input recipe that reproduces ML.NET's DnnFeaturizeImage pipeline in front of <see cref="ResNet18"/>.
    /// ML.NET's sample (docs/samples/.../ImageAnalytics/DnnFeaturizeImage.cs) runs
    /// <c>ResizeImages(imageWidth: 224, imageHeight: 224)</c> with the defaults of ImageResizingEstimator,
    /// <c>ResizingKind.IsoCrop</c> and <c>Anchor.Center</c>: scale the image uniformly until it covers 224x224, then
    /// cut the centre out, which is our "crop". <c>ExtractPixels</c> with its defaults (ColorBits.Rgb, ColorsOrder.ARGB,
    /// not interleaved, scale 1, offset 0) yields planar R, G, B bytes as floats 0..255; the preprocessing graph then
    /// swaps to BGR and subtracts its mean image, inside the model.
    /// </summary>
    public static Preprocessing ResNet18Preprocessing => new()
    {
        Channels = 3,
        Height = 224,
        Width = 224,
        ColorOrder = "rgb",
        Scale = 1f,
        Mean = [0f],
        Std = [1f],
        Resize = "crop",
    };

    /// <summary>Loads an ONNX file by path or a shipped model by name; failures are one-line exceptions.</summary>
    public static Model Load(string nameOrPath)
    {
        if (nameOrPath.Trim().Length == 0) throw new CliException("--model is empty (give an .onnx path or a shipped model name)", CliRunner.UsageError);
        if (Directory.Exists(nameOrPath)) throw new CliException($"--model {nameOrPath} is a directory, expected an .onnx file or a shipped model name");
        if (File.Exists(nameOrPath))
        {
            // A FIFO would block the read, a device never end: only a regular file is opened.
            if (FileKind.Of(nameOrPath) is var kind and not (PathKind.File or PathKind.Unknown))
                throw new CliException($"--model {nameOrPath} is {FileKind.Describe(kind)}, not a regular file");
            return Model.Load(nameOrPath);
        }
        switch (nameOrPath)
        {
            case ResNet18: return LoadResNet18(ShippedDirectory);
            case ResNet18Backbone: return Model.Load(ShippedFile(ShippedDirectory, ResNet18File));
        }
        string shipped = Path.Combine(ShippedDirectory, nameOrPath + ".onnx");
        if (!nameOrPath.Contains('/') && !nameOrPath.Contains('\\') && File.Exists(shipped)) return Model.Load(shipped);
        throw new CliException($"model not found: {nameOrPath} (give an .onnx path or a shipped model name: {NamesHelp})");
    }

    /// <summary>
    /// The preprocessing graph and the backbone from <paramref name="directory"/> chained into one engine graph
    /// (input 'OriginalInput' [1x3x224x224] RGB 0..255, output 'Pooling395_Output_0' [1x512x1x1]), with
    /// <see cref="ResNet18Preprocessing"/> as its metadata and no class labels (it is a feature extractor).
    /// </summary>
    public static Model LoadResNet18(string directory)
    {
        var preprocess = Model.Load(ShippedFile(directory, ResNet18PreprocessFile));
        var backbone = Model.Load(ShippedFile(directory, ResNet18File));
        var graph = GraphChain.Chain(preprocess.Graph, backbone.Graph);
        var metadata = new Dictionary<string, string>(backbone.Metadata) { [SourceKey] = ResNet18Source };
        var pre = ResNet18Preprocessing;
        pre.Validate();
        return new Model(graph, [], pre, metadata);
    }

    private static string ShippedFile(string directory, string file)
    {
        string path = Path.Combine(directory, file);
        if (!File.Exists(path))
            throw new CliException($"shipped model file missing: {path} (the build copies it from the NuGet package Microsoft.ML.DnnImageFeaturizer.ResNet18; run dotnet build)");
        return path;
    }
}
