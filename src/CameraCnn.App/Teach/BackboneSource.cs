// BackboneSource: which network teach mode computes features with (--backbone): its name, which also tags the feature
// cache, and how to load a fresh instance of it (one for the trainer thread's extractor, one per saved model, one for the
// live network, since a graph's layers belong to one graph and keep per-call scratch). A backbone fine-tuned in a session
// (or read from a fine-tuned teach file) is a source of its own, named by a digest of its weights, so features computed
// through one set of weights never mix with another's.
using System.Security.Cryptography;
using System.Runtime.InteropServices;
using CameraCnn.App.Cli;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Teach;

namespace CameraCnn.App.Teach;

/// <summary>A named backbone that can be loaded any number of times.</summary>
/// <param name="Name">Stored in the feature cache's file name; equal names mean equal features.</param>
/// <param name="Load">Loads a new instance: the backbone alone (a teach model's head is cut off).</param>
public sealed record BackboneSource(string Name, Func<Model> Load)
{
    private readonly string? _family;

    /// <summary>
    /// The backbone it was made from, written to saved models (<see cref="TeachModel.BackboneKey"/>): the name itself,
    /// or for a fine-tuned backbone the one it was fine-tuned from ("resnet18").
    /// </summary>
    public string Family
    {
        get => _family ?? Name;
        init => _family = value;
    }

    /// <summary>The blocks fine-tuned in this session over <see cref="Family"/>'s instance (null: as loaded); their cut and count go into saved models.</summary>
    public FineTuneResult? Tuning { get; init; }

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
    /// The backbone a loaded model implies: for a fine-tuned teach model its own backbone (named by its family and a
    /// digest of its weights: the features of its fine-tuned blocks are not the family's); for another teach model the
    /// one it names in its metadata (so a model saved by teach mode keeps extending the same data set); else
    /// <paramref name="modelArgument"/> itself.
    /// </summary>
    public static BackboneSource For(Model model, string modelArgument)
    {
        model.Metadata.TryGetValue(TeachModel.BackboneKey, out var name);
        if (TeachModel.IsTeachModel(model) && model.Metadata.ContainsKey(FineTuneResult.CutKey))
        {
            string family = Sanitize(name ?? "backbone");
            return Resolve(modelArgument) with { Name = TunedName(family, Digest(model)), Family = family };
        }
        if (name is ModelCatalog.ResNet18) return Resolve(name);
        return Resolve(modelArgument);
    }

    /// <summary>
    /// This backbone with the blocks of <paramref name="result"/> fine-tuned: it loads this one and writes the trained
    /// weights over it. <paramref name="tuned"/> is the fine-tuned network itself (its weights name the result).
    /// </summary>
    public BackboneSource Tuned(FineTuneResult result, Model tuned)
    {
        ArgumentNullException.ThrowIfNull(result);
        var load = Load;
        return new BackboneSource(TunedName(Family, Digest(tuned)), () =>
        {
            var m = load();
            result.Apply(m.Graph);
            return m;
        }) { Family = Family, Tuning = result };
    }

    /// <summary>
    /// Backbone + <paramref name="head"/> as one teach model (a fresh instance: the caller owns it), with the cut and
    /// block count of a fine-tuning run in the metadata when this backbone is one.
    /// </summary>
    public Model Compose(ClassifierHead head, float? threshold)
    {
        var model = TeachModel.Compose(Load(), head, Family, threshold);
        if (Tuning is { } t)
        {
            model.Metadata[FineTuneResult.CutKey] = t.CutNode;
            model.Metadata[FineTuneResult.BlocksKey] = t.Blocks.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        return model;
    }

    /// <summary>The feature cache file of this backbone inside a data folder (hidden, so no data set reader lists it).</summary>
    public string CacheFile(string dataDirectory) => Path.Combine(dataDirectory, $".camcnn-features-{Sanitize(Name)}.bin");

    private static string TunedName(string family, string digest) => $"{family}-ft-{digest}";

    /// <summary>
    /// 12 hex digits of the SHA-256 of every parameter (running statistics included) of the model's nodes up to its
    /// feature node, with their names: equal for the same weights in memory and after an ONNX round trip.
    /// </summary>
    public static string Digest(Model model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var feature = TeachModel.FeatureNode(model);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var n in model.Graph.Nodes)
        {
            if (n.Index > feature.Index || n.Layer is not { } layer) continue;
            foreach (var p in layer.Parameters)
            {
                sha.AppendData(System.Text.Encoding.UTF8.GetBytes($"{n.Name}.{p.Name}:"));
                sha.AppendData(MemoryMarshal.AsBytes(p.Value.Data.AsSpan()));
            }
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset().AsSpan(0, 6));
    }

    private static string Sanitize(string s)
    {
        var chars = s.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_').ToArray();
        return chars.Length == 0 ? "backbone" : new string(chars);
    }
}
