// FrameSources: turns a --source string into a FrameSource: "synthetic", a camera index, an image folder or image file,
// a video file, or a URL/pipeline for OpenCV.
namespace CameraCnn.Vision;

public static class FrameSources
{
    public const string Synthetic = "synthetic";

    /// <summary>What --source accepts, for help texts and error messages.</summary>
    public const string Help = "a camera index (0, 1, ...), a video file, an image folder or image, a URL/pipeline string, or 'synthetic'";

    /// <summary>
    /// Resolves <paramref name="source"/>: "synthetic"; digits: a camera index; an existing folder: its images; an
    /// existing image file: that one image; another existing file: a video; a string with "://" or a GStreamer-style
    /// "!": a stream. Nothing is opened yet. <paramref name="request"/> applies to cameras and the synthetic pattern
    /// (its frame rate also sets the nominal rate of folders).
    /// </summary>
    /// <exception cref="FrameSourceException">Nothing by that name exists.</exception>
    public static FrameSource Create(string source, CaptureRequest? request = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        request ??= CaptureRequest.Default;
        string s = source.Trim();
        if (s.Length == 0) throw new FrameSourceException($"--source is empty (give {Help})");
        if (string.Equals(s, Synthetic, StringComparison.OrdinalIgnoreCase)) return new SyntheticSource(request);
        if (s.All(char.IsAsciiDigit))
        {
            if (!int.TryParse(s, out int index) || index > 1023) throw new FrameSourceException($"camera index {s} is out of range");
            return new CameraSource(index, request);
        }
        if (Directory.Exists(s)) return new ImageFolderSource(s, request.Fps ?? 30);
        if (File.Exists(s)) return ImageFolderSource.IsImagePath(s) ? new ImageFolderSource(s, request.Fps ?? 30) : VideoSource.FromFile(s);
        if (s.Contains("://", StringComparison.Ordinal) || s.Contains('!')) return VideoSource.FromUrl(s);
        throw new FrameSourceException($"source not found: '{source}' (give {Help})");
    }
}
