// ImageOutput: writes a picture (a Mat) as an image file by the program's one output rule (Engine's AtomicFile):
// encoded in memory first, then temp file + rename, so a full disk or a crash leaves the previous file whole and an
// existing device or FIFO is refused, not replaced. For screenshots; recorded frames go through SampleWriter.
using CameraCnn.Engine.IO;
using OpenCvSharp;

namespace CameraCnn.Vision;

/// <summary>Saves images atomically, the format chosen by the file name's extension.</summary>
public static class ImageOutput
{
    /// <summary>The extensions <see cref="Write"/> accepts (case-insensitive).</summary>
    public static IReadOnlyList<string> Extensions { get; } = [".png", ".jpg", ".jpeg", ".bmp"];

    /// <summary>Encodes <paramref name="image"/> by the extension of <paramref name="path"/> and writes it atomically.</summary>
    /// <exception cref="IOException">An unsupported extension, an image OpenCV cannot encode, or the write failed (one line;
    /// any previous file is untouched).</exception>
    public static void Write(string path, Mat image)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(image);
        string ext = Path.GetExtension(path).ToLowerInvariant();
        if (!Extensions.Contains(ext)) throw new IOException($"cannot write {path}: use a .png, .jpg or .bmp file name");
        byte[] encoded;
        try
        {
            if (image.Empty() || !Cv2.ImEncode(ext, image, out encoded))
                throw new IOException($"cannot write {path}: OpenCV could not encode a {image.Type()} image as {ext}");
        }
        catch (OpenCVException e)
        {
            throw new IOException($"cannot write {path}: OpenCV could not encode the image ({e.Message.ReplaceLineEndings(" ").Trim()})", e);
        }
        AtomicFile.WriteAllBytes(path, encoded);
    }
}
