// DataSets: resolves --data (a name like fashion-mnist, an IDX directory or an ImageFolder) into train/test sets.
using CameraCnn.Engine.Data;
using CameraCnn.Vision;

namespace CameraCnn.App.Cli;

/// <summary>What --data resolved to: the splits and how their images were shaped.</summary>
public sealed record LoadedData(Dataset Train, Dataset Test, string Description, bool Grayscale);

public static class DataSets
{
    /// <summary>
    /// Loads --data. ImageFolders are read by <see cref="ImageFolderLayout"/> (train/ and test/ when both exist); those
    /// without are split 80/20 with the seed. Their images are
    /// resized with <paramref name="resize"/> (a model's Preprocessing.Resize: "stretch", "crop" or "letterbox").
    /// </summary>
    public static LoadedData Load(string data, int? inputSize, bool grayscale, int? limit, int seed,
        IReadOnlyList<string>? classNames = null, string resize = "stretch")
    {
        if (data == "fashion-mnist")
        {
            string dir = FashionMnist.FindDirectory() ?? throw new CliException(FashionMnist.MissingMessage);
            return FromIdx(dir, limit);
        }
        if (File.Exists(data)) throw new CliException($"--data {data} is a file; expected fashion-mnist, an IDX directory or an image folder");
        if (!Directory.Exists(data))
            throw new CliException($"data set not found: '{data}' (use fashion-mnist, an IDX directory or an image folder)");
        if (FashionMnist.HasFiles(data))
            return FromIdx(data, limit);
        if (FashionMnist.MissingFiles(data) is { Count: > 0 } missing)
            throw new CliException($"{data} holds IDX files but not {string.Join(", ", missing)} (the .gz name or the same name gunzipped)");
        int size = inputSize ?? 64;
        var layout = ImageFolderLayout.Of(data);
        if (layout.Test is { } testDir)
        {
            var tr = LoadFolder(layout.Train, size, grayscale, classNames, resize);
            var te = LoadFolder(testDir, size, grayscale, classNames ?? tr.ClassNames, resize);
            return new(Limit(tr, limit), Limit(te, limit), $"image folder {data} (train/test)", grayscale);
        }
        var all = LoadFolder(data, size, grayscale, classNames, resize);
        var (a, b) = Split(all, 0.2, seed);
        return new(Limit(a, limit), Limit(b, limit), $"image folder {data} (80/20 split, seed {seed})", grayscale);
    }

    /// <summary>An IDX directory in the Fashion-MNIST layout (the four gzip files); --limit caps both splits.</summary>
    private static LoadedData FromIdx(string dir, int? limit)
    {
        var (train, test) = FashionMnist.Load(dir, limit, limit);
        return new(train, test, $"IDX {dir}", true);
    }

    private static Dataset LoadFolder(string dir, int size, bool grayscale, IReadOnlyList<string>? classNames, string resize)
    {
        var r = ImageFolder.Load(dir, size, size, grayscale, classNames, resize: resize);
        if (r.Skipped > 0)
            Console.Error.WriteLine($"camcnn: warning: skipped {r.Skipped} unreadable file(s) in {dir}, e.g. {r.SkippedFiles[0]}" +
                                    (r.DeniedFiles.Count > 0 ? $"; {r.DeniedFiles.Count} of them: permission denied, e.g. {r.DeniedFiles[0]}" : ""));
        if (r.NestedFiles.Count > 0)
            Console.Error.WriteLine($"camcnn: warning: ignored {r.NestedFiles.Count} image(s) in folders below the class folders of {dir}, " +
                                    $"e.g. {r.NestedFiles[0]} (a class is one folder of images)");
        if (r.EmptyClasses.Count > 0)
            Console.Error.WriteLine($"camcnn: warning: class(es) without images: {string.Join(", ", r.EmptyClasses)}");
        return r.Dataset;
    }

    /// <summary>
    /// --limit for an image folder: n samples spread evenly over the set (its order is class by class, so the first n
    /// could all be one class).
    /// </summary>
    private static Dataset Limit(Dataset d, int? limit) =>
        limit is { } n && n < d.Count ? d.Subset(Enumerable.Range(0, n).Select(i => (int)((long)i * d.Count / n)).ToArray()) : d;

    /// <summary>Seeded random split: the first part gets 1 - fraction of the samples.</summary>
    public static (Dataset, Dataset) Split(Dataset all, double fraction, int seed)
    {
        int[] order = Enumerable.Range(0, all.Count).ToArray();
        new Random(seed).Shuffle(order);
        int held = (int)Math.Round(all.Count * fraction);
        if (all.Count >= 2) held = Math.Clamp(held, 1, all.Count - 1);
        return (all.Subset(order.AsSpan(held)), all.Subset(order.AsSpan(0, held)));
    }
}
