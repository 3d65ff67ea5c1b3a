// ImageFolder: loads a "one sub-folder per class" image data set from disk into an in-memory Dataset via OpenCV.
using CameraCnn.Engine;
using CameraCnn.Engine.Data;
using CameraCnn.Engine.IO;

namespace CameraCnn.Vision;

/// <summary>The outcome of <see cref="ImageFolder.Load"/>: the data set plus what could not be used.</summary>
/// <param name="Dataset">The decoded images [N, C, H, W] in [0, 1] with their labels and class names.</param>
/// <param name="Skipped">How many image files could not be read or decoded (equals <c>SkippedFiles.Count</c>).</param>
/// <param name="SkippedFiles">Paths of the image files that were skipped, in load order.</param>
/// <param name="EmptyClasses">Class names that ended up with no images (empty or missing folder, or all files skipped).</param>
public sealed record ImageFolderResult(
    Dataset Dataset,
    int Skipped,
    IReadOnlyList<string> SkippedFiles,
    IReadOnlyList<string> EmptyClasses)
{
    /// <summary>The skipped files that could not be opened for lack of read permission (a subset of <see cref="SkippedFiles"/>).</summary>
    public IReadOnlyList<string> DeniedFiles { get; init; } = [];

    /// <summary>Image files in folders below the class folders: not loaded (a class is one folder of images), counted.</summary>
    public IReadOnlyList<string> NestedFiles { get; init; } = [];
}

/// <summary>Where the train and test images of a data folder are: the one layout rule of every command that reads one.</summary>
/// <param name="Train">The folder of class folders to train on: DIR/train when DIR has train/ and test/, else DIR.</param>
/// <param name="Test">DIR/test in that case, else null (the caller splits Train itself).</param>
public sealed record ImageFolderLayout(string Train, string? Test)
{
    /// <summary>
    /// A folder with both train/ and test/ sub-folders is a split data set: classes live in each; any other folder holds
    /// the classes itself. `camcnn train`, `train --backbone` and teach mode all read a folder this way.
    /// </summary>
    public static ImageFolderLayout Of(string directory)
    {
        string train = Path.Combine(directory, "train"), test = Path.Combine(directory, "test");
        return Directory.Exists(train) && Directory.Exists(test) ? new(train, test) : new(directory, null);
    }

    public bool IsSplit => Test is not null;
}

/// <summary>
/// Loads an ImageFolder-style data set: <c>root/&lt;class&gt;/&lt;image&gt;</c>, class names taken from the folder names.
/// </summary>
public static class ImageFolder
{
    /// <summary>File extensions (case-insensitive) treated as images; every other file is ignored silently.</summary>
    public static IReadOnlyList<string> Extensions { get; } = [".png", ".jpg", ".jpeg", ".bmp"];

    // The default options skip hidden entries: dot-folders such as .ipynb_checkpoints or .git are not classes, and
    // macOS "._name.jpg" resource forks are not images. IgnoreInaccessible off: a folder we may not read is an error
    // that names the folder, not a class that silently has no images.
    private static readonly EnumerationOptions Listing = new() { RecurseSubdirectories = false, IgnoreInaccessible = false };
    private static readonly EnumerationOptions Nested = new() { RecurseSubdirectories = true, IgnoreInaccessible = true, MaxRecursionDepth = 8 };

    /// <summary>True for a file name with one of the <see cref="Extensions"/>.</summary>
    public static bool IsImageFile(string path)
    {
        string ext = Path.GetExtension(path);
        foreach (string e in Extensions)
            if (string.Equals(ext, e, StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }

    /// <summary>Entries <see cref="NestedImages"/> looks at per class folder: `--data /` must not scan the whole disk.</summary>
    public const int MaxNestedEntries = 10_000;

    /// <summary>
    /// The image files inside the sub-folders of <paramref name="classDirectory"/> (any depth up to 8, hidden ones
    /// skipped, at most <see cref="MaxNestedEntries"/> entries looked at): images a class folder holds where no reader
    /// looks, to be counted and reported rather than lost silently.
    /// </summary>
    public static IReadOnlyList<string> NestedImages(string classDirectory)
    {
        var found = new List<string>();
        try
        {
            var entries = Directory.EnumerateDirectories(classDirectory, "*", Listing).ToArray()
                .SelectMany(sub => Directory.EnumerateFileSystemEntries(sub, "*", Nested)).Take(MaxNestedEntries);
            found.AddRange(entries.Where(e => IsImageFile(e) && File.Exists(e)));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* what was found so far */ }
        found.Sort(StringComparer.Ordinal);
        return found;
    }

    /// <summary>Lists a folder's entries; a permission error becomes one line that names the folder and says so.</summary>
    /// <exception cref="UnauthorizedAccessException">The folder cannot be read (permission denied).</exception>
    public static string[] ListEntries(string directory, bool folders, string what)
    {
        try
        {
            return (folders ? Directory.EnumerateDirectories(directory, "*", Listing) : Directory.EnumerateFiles(directory, "*", Listing)).ToArray();
        }
        catch (UnauthorizedAccessException e)
        {
            throw new UnauthorizedAccessException($"permission denied: cannot read {what} {directory}", e);
        }
    }

    /// <summary>
    /// Loads every image directly inside each class sub-folder of <paramref name="directory"/>, resized to
    /// <paramref name="height"/> x <paramref name="width"/>. Images are [N, 1, H, W] when <paramref name="grayscale"/>,
    /// else [N, 3, H, W] in RGB order, values in [0, 1]. Classes are the sub-folder names sorted ordinally, or
    /// <paramref name="classNames"/> when given (e.g. a trained model's labels), in which case every folder must be one
    /// of them. Samples are ordered by class, then by file name (ordinal). Files that cannot be read or decoded are
    /// skipped and listed in the result. <paramref name="progress"/> receives the number of image files processed so
    /// far (possibly from worker threads). <paramref name="resize"/> is a model's resize mode ("stretch", "crop" or
    /// "letterbox", as <see cref="FramePreprocessor"/> applies it to frames).
    /// </summary>
    /// <exception cref="DirectoryNotFoundException"><paramref name="directory"/> does not exist.</exception>
    /// <exception cref="InvalidDataException">No class sub-folders, a folder not in <paramref name="classNames"/>,
    /// no readable image at all, or a data set too large for one tensor.</exception>
    public static ImageFolderResult Load(
        string directory, int height, int width, bool grayscale,
        IReadOnlyList<string>? classNames = null, IProgress<int>? progress = null, string resize = "stretch")
    {
        ArgumentNullException.ThrowIfNull(directory);
        ImageFile.CheckSize(height, width);
        _ = FramePreprocessor.ComputeGeometry(resize, 1, 1, width, height); // an unknown mode fails here, not per file
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"image folder not found: {directory}");

        string[] folders = ListEntries(directory, folders: true, "image folder")
            .Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToArray();
        if (folders.Length == 0)
            throw new InvalidDataException($"no class sub-folders in {directory} (expected one folder of images per class)");

        string[] classes = classNames is null ? folders : CheckClassNames(classNames);
        var classIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < classes.Length; i++) classIndex[classes[i]] = i;
        string[] unknown = folders.Where(f => !classIndex.ContainsKey(f)).ToArray();
        if (unknown.Length > 0)
            throw new InvalidDataException(
                $"folders in {directory} that are not among the {classes.Length} known classes: {string.Join(", ", unknown)}");

        // Class order, not folder order, decides sample order, so a given classNames list yields label-sorted samples.
        var files = new List<(string Path, int Label)>();
        var nested = new List<string>();
        foreach (string folder in folders.OrderBy(f => classIndex[f]))
        {
            int label = classIndex[folder];
            string classDirectory = Path.Combine(directory, folder);
            files.AddRange(ListEntries(classDirectory, folders: false, "class folder")
                .Where(IsImageFile).Order(StringComparer.Ordinal).Select(p => (p, label)));
            nested.AddRange(NestedImages(classDirectory));
        }
        if (files.Count == 0)
            throw new InvalidDataException(
                $"no image files ({string.Join(", ", Extensions)}) in any class folder of {directory}" +
                (nested.Count > 0 ? $"; {nested.Count} image(s) are in folders below the class folders, e.g. {nested[0]}, which are not read" : ""));

        int channels = grayscale ? 1 : 3;
        // In long: a huge size must end in the message below, not in an overflow.
        long sampleLength = (long)channels * height * width;
        long total = files.Count * sampleLength;
        if (total > Tensor.MaxElements)
            throw new InvalidDataException(
                $"{files.Count} image(s) of {channels}x{height}x{width} exceed the {Tensor.MaxElements}-element tensor limit; use a smaller size or fewer images");
        int sample = (int)sampleLength;

        // Decode straight into the final buffer (one slot per file) in parallel; decoding dominates load time and
        // slots keep the order deterministic. Failed slots are squeezed out afterwards.
        var data = new float[total];
        var ok = new Outcome[files.Count];
        int processed = 0;
        Parallel.For(0, files.Count, i =>
        {
            ok[i] = TryLoad(files[i].Path, height, width, grayscale, data.AsSpan(i * sample, sample), resize);
            int done = Interlocked.Increment(ref processed);
            progress?.Report(done);
        });

        var labels = new List<int>(files.Count);
        var skipped = new List<string>();
        var denied = new List<string>();
        for (int i = 0; i < files.Count; i++)
        {
            if (ok[i] != Outcome.Loaded)
            {
                skipped.Add(files[i].Path);
                if (ok[i] == Outcome.Denied) denied.Add(files[i].Path);
                continue;
            }
            if (labels.Count != i)
                Array.Copy(data, (long)i * sample, data, (long)labels.Count * sample, sample);
            labels.Add(files[i].Label);
        }
        if (labels.Count == 0)
            throw denied.Count == files.Count
                ? new UnauthorizedAccessException($"permission denied: cannot read any of the {files.Count} image file(s) in {directory}, e.g. {denied[0]}")
                : new InvalidDataException($"no readable images in {directory}: all {files.Count} image files failed to decode" +
                                           (denied.Count > 0 ? $" ({denied.Count} without read permission)" : ""));
        if (labels.Count != files.Count) Array.Resize(ref data, labels.Count * sample);

        var counts = new int[classes.Length];
        foreach (int l in labels) counts[l]++;
        string[] empty = classes.Where((_, i) => counts[i] == 0).ToArray();

        var images = new Tensor([labels.Count, channels, height, width], data);
        var dataset = new Dataset(images, labels.ToArray(), (string[])classes.Clone());
        return new ImageFolderResult(dataset, skipped.Count, skipped, empty) { DeniedFiles = denied, NestedFiles = nested };
    }

    private enum Outcome : byte { Failed, Loaded, Denied }

    private static Outcome TryLoad(string path, int height, int width, bool grayscale, Span<float> chw, string resize)
    {
        // A FIFO or device named x.png would block the read or never end: only regular files are opened.
        if (FileKind.Of(path) is not (PathKind.File or PathKind.Unknown)) return Outcome.Failed;
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (UnauthorizedAccessException)
        {
            return Outcome.Denied;
        }
        catch (IOException)
        {
            // One unreadable file (vanished mid-load, >2 GB) should not sink a whole data set.
            return Outcome.Failed;
        }
        return ImageFile.TryDecodeInto(bytes, height, width, grayscale, chw, resize) ? Outcome.Loaded : Outcome.Failed;
    }

    private static string[] CheckClassNames(IReadOnlyList<string> classNames)
    {
        if (classNames.Count == 0) throw new ArgumentException("class name list is empty", nameof(classNames));
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string name in classNames)
            if (!seen.Add(name)) throw new ArgumentException($"duplicate class name: {name}", nameof(classNames));
        return classNames.ToArray();
    }
}
