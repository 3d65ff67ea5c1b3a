// ImageFolderSource: the images of a folder (searched recursively, e.g. an ImageFolder data set) or one image file,
// served as frames in path order. Corrupt images are skipped with a warning and counted, never fatal.
using OpenCvSharp;

namespace CameraCnn.Vision;

/// <summary>
/// Frames from image files (<see cref="ImageFolder.Extensions"/>), ordered by relative path (ordinal). Decoding allocates
/// per image (file bytes and a decoded Mat); this source stands in for a camera in tests and demos, it is not the live path.
/// </summary>
public sealed class ImageFolderSource : FrameSource
{
    private static readonly EnumerationOptions Recursive = new() { RecurseSubdirectories = true, MaxRecursionDepth = 8 };

    /// <summary>Files a folder source looks at before it gives up: `--source /` fails in a second instead of scanning the disk.</summary>
    public const int MaxEntries = 100_000;

    private string[] _files = [];
    private string[] _names = [];
    private bool[] _bad = [];
    private int _next;
    private readonly double _fps;

    /// <param name="path">A folder, or a single image file.</param>
    /// <param name="fps">The nominal rate reported as <see cref="FrameSource.Fps"/> (used when the capture thread paces files).</param>
    public ImageFolderSource(string path, double fps = 30)
    {
        ArgumentNullException.ThrowIfNull(path);
        Location = path;
        _fps = fps;
    }

    public string Location { get; }
    public int Count => _files.Length;

    public override string Description => File.Exists(Location) ? $"image {Location}" : $"image folder {Location}";
    public override bool IsLive => false;
    public override bool CanRewind => true;

    public override void Open()
    {
        if (File.Exists(Location))
        {
            _files = [Location];
            _names = [Path.GetFileName(Location)];
        }
        else if (Directory.Exists(Location))
        {
            try
            {
                int seen = 0;
                _names = Directory.EnumerateFiles(Location, "*", Recursive)
                    .Select(p => ++seen <= MaxEntries ? p : throw new FrameSourceException($"more than {MaxEntries} files under {Location}: give the folder that holds the images"))
                    // A FIFO or device named like an image would block the read or never end.
                    .Where(p => IsImagePath(p) && Engine.IO.FileKind.Of(p) is Engine.IO.PathKind.File or Engine.IO.PathKind.Unknown)
                    .Select(p => Path.GetRelativePath(Location, p)).Order(StringComparer.Ordinal).ToArray();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new FrameSourceException($"cannot list image folder {Location}: {e.Message}", e);
            }
            _files = _names.Select(n => Path.Combine(Location, n)).ToArray();
            if (_files.Length == 0)
                throw new FrameSourceException($"no images ({string.Join(", ", ImageFolder.Extensions)}) in {Location}");
        }
        else
        {
            throw new FrameSourceException($"image folder not found: {Location}");
        }
        _bad = new bool[_files.Length];
        Skipped = 0;
        _next = 0;
        Fps = _fps;
        Position = -1;
    }

    public override FrameRead Read(Mat frame, CancellationToken cancel)
    {
        while (_next < _files.Length)
        {
            int i = _next++;
            if (_bad[i]) continue; // already reported on an earlier pass
            if (TryDecode(_files[i], frame))
            {
                Position = i;
                ItemName = _names[i];
                Width = frame.Cols;
                Height = frame.Rows;
                return FrameRead.Frame;
            }
            _bad[i] = true;
            Skipped++;
            Warn($"skipped unreadable image {_files[i]}");
        }
        return FrameRead.End;
    }

    public override void Rewind()
    {
        if (_files.Length == 0) Open();
        _next = 0;
        Position = -1;
    }

    public override void Close()
    {
        // Nothing is held open between reads.
    }

    /// <summary>Whether the file name has one of <see cref="ImageFolder.Extensions"/>.</summary>
    public static bool IsImagePath(string path) => ImageFolder.IsImageFile(path);

    private static bool TryDecode(string path, Mat frame)
    {
        using var decoded = ImageFile.TryDecodeFile(path);
        if (decoded is null) return false;
        NativeCv.Copy(decoded, frame);
        return true;
    }
}
