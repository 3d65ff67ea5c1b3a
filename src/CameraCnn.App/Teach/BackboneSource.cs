// BackboneSource: which network teach mode computes features with (--backbone): its name, which also tags the feature
// cache, and how to load a fresh instance of it (one for the trainer thread's extractor, one per saved model, since a
// graph's layers belong to one graph and keep per-call scratch).
using CameraCnn.App.Cli;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Teach;

namespace CameraCnn.App.Teach;

/// <summary>A named backbone that can be loaded any number of times.</summary>
/// <param name="Name">Stored in saved models (<see cref="TeachModel.BackboneKey"/>) and in the feature cache's file name.</param>
/// <param name="Load">Loads a new instance: the backbone alone (a teach model's head is cut off).</param>
public sealed record BackboneSource(string Name, Func<Model> Load)
{
    /// <summary>
    /// A shipped model name ("resnet18") or an ONNX path. A path gets a name from its file name and size, so the
    /// features of a different file never mix with cached ones. Nothing is loaded yet.
    /// </summary>
    /// <exception cref="CliException">Neither a shipped name nor an existing file.</exception>
    public static BackboneSource Resolve(string nameOrPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(nameOrPath);
        Func<Model> load = () => TeachModel.ExtractBackbone(ModelCatalog.Load(nameOrPath));
        if (File.Exists(nameOrPath))
        {
            var info = new FileInfo(nameOrPath);
            return new BackboneSource($"{Sanitize(Path.GetFileNameWithoutExtension(info.Name))}-{info.Length}", load);
        }
        if (nameOrPath is ModelCatalog.ResNet18 or ModelCatalog.ResNet18Backbone)
            return new BackboneSource(nameOrPath, load);
        throw new CliException($"backbone not found: {nameOrPath} (give {ModelCatalog.ResNet18} or an .onnx path)");
    }

    /// <summary>
    /// The backbone a loaded model implies: the one a teach model names in its metadata (so a model saved by teach mode
    /// keeps extending the same data set), else <paramref name="modelArgument"/> itself.
    /// </summary>
    public static BackboneSource For(Model model, string modelArgument)
    {
        if (model.Metadata.TryGetValue(TeachModel.BackboneKey, out var name) && name is ModelCatalog.ResNet18)
            return Resolve(name);
        return Resolve(modelArgument);
    }

    /// <summary>The feature cache file of this backbone inside a data folder (hidden, so no data set reader lists it).</summary>
    public string CacheFile(string dataDirectory) => Path.Combine(dataDirectory, $".camcnn-features-{Sanitize(Name)}.bin");

    private static string Sanitize(string s)
    {
        var chars = s.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_').ToArray();
        return chars.Length == 0 ? "backbone" : new string(chars);
    }
}
