// Idx: readers for the MNIST-style IDX format (raw or gzipped), plus Fashion-MNIST discovery and loading.
using System.Buffers.Binary;
using System.IO.Compression;
using CameraCnn.Engine.IO;

namespace CameraCnn.Engine.Data;

/// <summary>
/// Reads unsigned-byte IDX files as used by MNIST and Fashion-MNIST: images (magic 0x00000803) and
/// labels (magic 0x00000801), gzip-compressed or raw. Malformed input raises
/// <see cref="InvalidDataException"/> with a one-line message that starts with the file name.
/// </summary>
public static class Idx
{
    private const int ImagesMagic = 0x00000803;
    private const int LabelsMagic = 0x00000801;

    /// <summary>Reads up to <paramref name="limit"/> images as a [N, 1, H, W] tensor of byte/255 values.</summary>
    /// <exception cref="InvalidDataException">The file is not a valid unsigned-byte IDX image file.</exception>
    public static Tensor ReadImages(string path, int? limit = null) => ReadImagesCore(path, limit).Images;

    /// <summary>Reads up to <paramref name="limit"/> labels (0-255) from an IDX label file.</summary>
    /// <exception cref="InvalidDataException">The file is not a valid unsigned-byte IDX label file.</exception>
    public static int[] ReadLabels(string path, int? limit = null) => ReadLabelsCore(path, limit).Labels;

    /// <summary>
    /// Loads an image file and a label file as a <see cref="Dataset"/>. The files must hold the same number of
    /// samples (checked against their headers, even when <paramref name="limit"/> reads only a prefix).
    /// </summary>
    /// <exception cref="InvalidDataException">A file is malformed, the counts differ, or a label is out of range.</exception>
    public static Dataset Load(string imagesPath, string labelsPath, string[] classNames, int? limit = null)
    {
        ArgumentNullException.ThrowIfNull(classNames);
        var (images, imageCount) = ReadImagesCore(imagesPath, limit);
        var (labels, labelCount) = ReadLabelsCore(labelsPath, limit);
        if (imageCount != labelCount)
            throw new InvalidDataException(
                $"{Path.GetFileName(imagesPath)} has {imageCount} images but {Path.GetFileName(labelsPath)} has {labelCount} labels");
        for (int i = 0; i < labels.Length; i++)
            if (labels[i] >= classNames.Length)
                throw Bad(labelsPath, $"label {labels[i]} at index {i} is outside the {classNames.Length} classes");
        return new Dataset(images, labels, classNames);
    }

    /// <summary>Rows and columns of the images in an IDX image file, from its header alone.</summary>
    /// <exception cref="InvalidDataException">The file is not a valid unsigned-byte IDX image file.</exception>
    public static (int Rows, int Cols) ImageShape(string path)
    {
        using var stream = Open(path);
        int[] dims = ReadHeader(stream, path, ImagesMagic, "image", 3);
        return (dims[1], dims[2]);
    }

    private static (Tensor Images, int Count) ReadImagesCore(string path, int? limit)
    {
        CheckLimit(limit);
        using var stream = Open(path);
        int[] dims = ReadHeader(stream, path, ImagesMagic, "image", 3);
        int count = dims[0], rows = dims[1], cols = dims[2];
        int take = Math.Min(count, limit ?? count);
        int pixels = rows * cols;   // cannot overflow: ReadHeader bounds the product of all dims

        var images = new Tensor(take, 1, rows, cols);
        byte[] bytes = ReadData(stream, path, (long)take * pixels, "image");
        float[] data = images.Data;
        for (int i = 0; i < bytes.Length; i++) data[i] = bytes[i] / 255f;
        return (images, count);
    }

    private static (int[] Labels, int Count) ReadLabelsCore(string path, int? limit)
    {
        CheckLimit(limit);
        using var stream = Open(path);
        int count = ReadHeader(stream, path, LabelsMagic, "label", 1)[0];
        int take = Math.Min(count, limit ?? count);
        byte[] bytes = ReadData(stream, path, take, "label");
        var labels = new int[take];
        for (int i = 0; i < take; i++) labels[i] = bytes[i];
        return (labels, count);
    }

    private static void CheckLimit(int? limit)
    {
        if (limit is < 0) throw new ArgumentOutOfRangeException(nameof(limit), limit, "limit must not be negative");
    }

    private static Stream Open(string path)
    {
        FileKind.EnsureReadableFile(path); // a FIFO under an IDX name would block the open
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        try
        {
            // Sniff rather than trust the extension: people gunzip files and keep the name, or vice versa.
            Span<byte> sniff = stackalloc byte[2];
            int n = file.ReadAtLeast(sniff, 2, throwOnEndOfStream: false);
            file.Position = 0;
            if (n == 2 && sniff[0] == 0x1f && sniff[1] == 0x8b)
                return new BufferedStream(new GZipStream(file, CompressionMode.Decompress), 1 << 16);
            return file;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static int[] ReadHeader(Stream stream, string path, int expectedMagic, string kind, int rank)
    {
        Span<byte> head = stackalloc byte[4 + 4 * rank];
        int got = Read(stream, path, head);
        if (got < 4)
            throw Bad(path, $"truncated: expected a {head.Length}-byte IDX header, got {got} bytes");

        int magic = BinaryPrimitives.ReadInt32BigEndian(head);
        if (magic != expectedMagic)
        {
            string detail = (magic >>> 16) != 0
                ? "not an IDX file"
                : head[2] != 0x08
                    ? $"element type 0x{head[2]:x2} is not unsigned byte (0x08)"
                    : $"has {head[3]} dimensions, expected {rank}";
            throw Bad(path, $"bad magic 0x{(uint)magic:x8}, expected 0x{expectedMagic:x8} for an IDX {kind} file ({detail})");
        }
        if (got < head.Length)
            throw Bad(path, $"truncated: expected a {head.Length}-byte IDX header, got {got} bytes");

        var dims = new int[rank];
        long elements = 1;
        for (int i = 0; i < rank; i++)
        {
            dims[i] = BinaryPrimitives.ReadInt32BigEndian(head[(4 + 4 * i)..]);
            if (dims[i] <= 0)
                throw Bad(path, $"dimension {i} is {dims[i]}; IDX dimensions must be positive");
            elements *= dims[i];
            // The data becomes a float tensor, so the engine's tensor limit is the sane bound (well under 2^31).
            if (elements > Tensor.MaxElements)
                throw Bad(path, $"implausible size {string.Join("x", dims[..(i + 1)])}: more than {Tensor.MaxElements} elements");
        }
        return dims;
    }

    private static byte[] ReadData(Stream stream, string path, long expected, string kind)
    {
        // Raw files can be checked up front, so a lying header never triggers a huge allocation.
        if (stream.CanSeek && stream.Length - stream.Position < expected)
            throw Bad(path, $"truncated: expected {expected} bytes of {kind} data, got {stream.Length - stream.Position}");

        // Gzip hides the real size; grow towards `expected` so a lying header costs only what the file holds.
        var buffer = new byte[stream.CanSeek ? expected : Math.Min(expected, 1 << 22)];
        long total = 0;
        while (total < expected)
        {
            if (total == buffer.Length)
                Array.Resize(ref buffer, (int)Math.Min(expected, (long)buffer.Length * 2));
            int got = Read(stream, path, buffer.AsSpan((int)total, buffer.Length - (int)total));
            if (got == 0)
                throw Bad(path, $"truncated: expected {expected} bytes of {kind} data, got {total}");
            total += got;
        }
        return buffer;
    }

    // Reads until the span is full or the stream ends; gzip corruption surfaces here as InvalidDataException.
    private static int Read(Stream stream, string path, Span<byte> buffer)
    {
        try
        {
            return stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        }
        catch (InvalidDataException e)
        {
            throw Bad(path, $"corrupt gzip data: {e.Message}");
        }
    }

    private static InvalidDataException Bad(string path, string message) =>
        new($"{Path.GetFileName(path)}: {message.ReplaceLineEndings(" ")}");
}

/// <summary>Locates and loads the Fashion-MNIST dataset (28x28 grey clothing images, 10 classes).</summary>
public static class FashionMnist
{
    /// <summary>Where the Debian package dataset-fashion-mnist installs the files.</summary>
    public const string DefaultDirectory = "/usr/share/datasets/fashion-mnist";

    /// <summary>Environment variable that, when set, names a directory to try before <see cref="DefaultDirectory"/>.</summary>
    public const string EnvironmentVariable = "CAMCNN_FASHION_MNIST";

    /// <summary>The message to show when <see cref="FindDirectory"/> returns null.</summary>
    public const string MissingMessage =
        "Fashion-MNIST not found in /usr/share/datasets/fashion-mnist: install it with 'sudo apt-get install dataset-fashion-mnist' or pass --data DIR";

    public const string TrainImagesFile = "train-images-idx3-ubyte.gz";
    public const string TrainLabelsFile = "train-labels-idx1-ubyte.gz";
    public const string TestImagesFile = "t10k-images-idx3-ubyte.gz";
    public const string TestLabelsFile = "t10k-labels-idx1-ubyte.gz";

    private static readonly string[] Names =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    private static readonly string[] Files = [TrainImagesFile, TrainLabelsFile, TestImagesFile, TestLabelsFile];

    /// <summary>The ten class names in label order (a fresh copy each call, so callers cannot corrupt it).</summary>
    public static string[] ClassNames => (string[])Names.Clone();

    /// <summary>
    /// The first of $CAMCNN_FASHION_MNIST and <see cref="DefaultDirectory"/> that holds all four files, or null.
    /// </summary>
    public static string? FindDirectory()
    {
        string? env = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(env) && HasFiles(env)) return env;
        return HasFiles(DefaultDirectory) ? DefaultDirectory : null;
    }

    /// <summary>
    /// The path of one of the four files in <paramref name="dir"/>: under its usual .gz name, or gunzipped under the
    /// same name without ".gz" (the reader sniffs the content, so either name may hold either form). Null when neither
    /// is there.
    /// </summary>
    public static string? FindFile(string dir, string gzName)
    {
        string gz = Path.Combine(dir, gzName), raw = Path.Combine(dir, Path.GetFileNameWithoutExtension(gzName));
        return File.Exists(gz) ? gz : File.Exists(raw) ? raw : null;
    }

    /// <summary>True when <paramref name="dir"/> holds all four Fashion-MNIST files (gzip or raw, see <see cref="FindFile"/>).</summary>
    public static bool HasFiles(string dir) => Files.All(f => FindFile(dir, f) is not null);

    /// <summary>The files of the four that <paramref name="dir"/> lacks (empty when it has none or all of them: not an IDX folder, or a complete one).</summary>
    public static IReadOnlyList<string> MissingFiles(string dir)
    {
        var missing = Files.Where(f => FindFile(dir, f) is null).ToArray();
        return missing.Length == Files.Length ? [] : missing;
    }

    /// <summary>Loads the training and test sets from <paramref name="dir"/>, optionally only their first samples.</summary>
    /// <exception cref="FileNotFoundException">One of the four files is missing.</exception>
    /// <exception cref="InvalidDataException">A file is malformed, or the test images differ in size from the training images.</exception>
    public static (Dataset Train, Dataset Test) Load(string dir, int? trainLimit = null, int? testLimit = null)
    {
        string Find(string f) => FindFile(dir, f) ?? throw new FileNotFoundException($"Fashion-MNIST file {Path.Combine(dir, f)} not found (nor gunzipped without .gz)", Path.Combine(dir, f));
        string trainImages = Find(TrainImagesFile), trainLabels = Find(TrainLabelsFile), testImages = Find(TestImagesFile), testLabels = Find(TestLabelsFile);
        // Both headers first: a test set of another image size fails now, not after every epoch.
        var trainShape = Idx.ImageShape(trainImages);
        var testShape = Idx.ImageShape(testImages);
        if (trainShape != testShape)
            throw new InvalidDataException($"{Path.GetFileName(testImages)} holds {testShape.Rows}x{testShape.Cols} images but {Path.GetFileName(trainImages)} holds {trainShape.Rows}x{trainShape.Cols}; a model trains on one size");
        var train = Idx.Load(trainImages, trainLabels, ClassNames, trainLimit);
        var test = Idx.Load(testImages, testLabels, ClassNames, testLimit);
        return (train, test);
    }
}
