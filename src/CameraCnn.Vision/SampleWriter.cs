// SampleWriter: records frames as PNG files into an ImageFolder class directory (DIR/NAME/NAME_000001.png, ...),
// for `camcnn collect` and teach mode. Never overwrites, writes atomically, fails with one clear line.
using System.Globalization;
using System.Text;
using CameraCnn.Engine.IO;
using OpenCvSharp;

namespace CameraCnn.Vision;

/// <summary>
/// Saves frames into <c>dataDirectory/className/</c> as <c>className_NNNNNN.png</c>: a zero-padded counter that
/// continues after the highest number already there, so names are unique and sort in recording order. Each file is
/// written to a hidden temp file in the same directory, flushed, then renamed into place without replacing anything;
/// a name taken meanwhile (another recorder) moves on to the next number. Not thread-safe.
/// </summary>
public sealed class SampleWriter
{
    public const int CounterDigits = 6;
    public const int MaxClassNameLength = 100;

    private readonly Func<string, Stream>? _openTemp;
    private long _next;

    /// <exception cref="ArgumentException">The class name has no usable characters.</exception>
    /// <exception cref="IOException">The class directory cannot be created or listed (the message names it).</exception>
    public SampleWriter(string dataDirectory, string className) : this(dataDirectory, className, null) { }

    /// <param name="openTemp">Opens a new temp file for writing (tests inject failures such as a full disk).</param>
    internal SampleWriter(string dataDirectory, string className, Func<string, Stream>? openTemp)
    {
        ArgumentNullException.ThrowIfNull(dataDirectory);
        ClassName = SanitizeClassName(className);
        ClassDirectory = Path.GetFullPath(Path.Combine(dataDirectory, ClassName));
        _openTemp = openTemp;
        try
        {
            if (File.Exists(dataDirectory)) throw new IOException($"{dataDirectory} is a file, not a directory");
            Directory.CreateDirectory(ClassDirectory);
            _next = HighestNumber(ClassDirectory, ClassName) + 1;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cannot use {ClassDirectory} for samples: {OneLine(e.Message)}", e);
        }
    }

    /// <summary>The sanitised class name (also the folder name).</summary>
    public string ClassName { get; }
    public string ClassDirectory { get; }

    /// <summary>Files saved by this writer.</summary>
    public int Saved { get; private set; }

    /// <summary>The number the next file will get (unless taken meanwhile).</summary>
    public long NextNumber => _next;

    /// <summary>
    /// A class name safe as one folder name: letters, digits, '-', '_' and '.' kept, anything else (path separators,
    /// spaces, control characters) becomes '_'; leading/trailing dots and underscores are removed (no hidden folders,
    /// no ".."), at most <see cref="MaxClassNameLength"/> characters; Windows device names get a trailing '_'.
    /// </summary>
    /// <exception cref="ArgumentException">Nothing usable is left (empty, only dots or symbols).</exception>
    public static string SanitizeClassName(string? name)
    {
        var sb = new StringBuilder();
        foreach (char c in name ?? "")
            sb.Append(char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_');
        string s = sb.ToString().Trim('.', '_');
        if (s.Length > MaxClassNameLength) s = s[..MaxClassNameLength].TrimEnd('.', '_');
        if (s.Length == 0)
            throw new ArgumentException($"class name '{name}' has no letters or digits; give a name such as 'cat' or 'thumbs_up'");
        string stem = s.Split('.')[0].ToUpperInvariant();
        if (stem is "CON" or "PRN" or "AUX" or "NUL" || stem.Length == 4 && (stem.StartsWith("COM") || stem.StartsWith("LPT")) && char.IsAsciiDigit(stem[3]))
            s += "_";
        return s;
    }

    /// <summary>The file name number <paramref name="number"/> gets: NAME_000042.png.</summary>
    public string FileName(long number) => $"{ClassName}_{number.ToString("D" + CounterDigits, CultureInfo.InvariantCulture)}.png";

    /// <summary>Encodes <paramref name="image"/> as PNG and saves it under the next free number. Returns the full path.</summary>
    /// <exception cref="IOException">The disk is full, read-only, or the file cannot be written; nothing partial is left behind.</exception>
    public string Save(Mat image)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (image.Empty()) throw new ArgumentException("cannot save an empty frame", nameof(image));
        if (!Cv2.ImEncode(".png", image, out byte[] png)) throw new IOException($"OpenCV could not encode a {image.Type()} frame as PNG");

        for (int race = 0; race < 1000; race++)
        {
            string final = Path.Combine(ClassDirectory, FileName(_next));
            // The output rule's create-only form: temp file, flush, rename without replacing; a taken name moves on.
            if (!AtomicFile.TryWriteNew(final, s => s.Write(png), _openTemp))
            {
                _next++;
                continue;
            }
            _next++;
            Saved++;
            return final;
        }
        throw new IOException($"cannot find a free file name in {ClassDirectory}");
    }

    /// <summary>The highest NNN of the files NAME_NNN.png in <paramref name="directory"/> (0 when there are none).</summary>
    public static long HighestNumber(string directory, string className)
    {
        long max = 0;
        string prefix = className + "_";
        foreach (string path in Directory.EnumerateFiles(directory, prefix + "*.png"))
        {
            string name = Path.GetFileName(path);
            if (!name.StartsWith(prefix, StringComparison.Ordinal) || !name.EndsWith(".png", StringComparison.Ordinal)) continue;
            string digits = name[prefix.Length..^4];
            if (digits.Length > 0 && digits.All(char.IsAsciiDigit)
                && long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long n) && n > max)
                max = n;
        }
        return max;
    }

    private static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();
}
