// ImageFile: decodes one image file with OpenCV into a [1, C, H, W] tensor in [0, 1] (RGB or grayscale).
using CameraCnn.Engine;
using OpenCvSharp;

namespace CameraCnn.Vision;

/// <summary>Loads single image files into engine tensors, using the same conventions as <see cref="ImageFolder"/>.</summary>
public static class ImageFile
{
    /// <summary>
    /// Decodes <paramref name="path"/> and resizes it to <paramref name="height"/> x <paramref name="width"/>.
    /// Returns [1, 1, H, W] when <paramref name="grayscale"/>, else [1, 3, H, W] in RGB order; values in [0, 1].
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not an image OpenCV can decode.</exception>
    public static Tensor LoadAsTensor(string path, int height, int width, bool grayscale)
    {
        ArgumentNullException.ThrowIfNull(path);
        CheckSize(height, width);
        if (!File.Exists(path)) throw new FileNotFoundException($"image not found: {path}", path);

        var tensor = new Tensor(1, grayscale ? 1 : 3, height, width);
        if (!TryDecodeInto(File.ReadAllBytes(path), height, width, grayscale, tensor.Data))
            throw new InvalidDataException($"cannot decode image: {path}");
        return tensor;
    }

    /// <summary>
    /// Decodes encoded image bytes as 8-bit BGR (or grey with <paramref name="grayscale"/>). Null when OpenCV cannot
    /// decode them: empty, malformed (some codecs throw rather than return an empty Mat) or another pixel type.
    /// </summary>
    public static Mat? TryDecode(byte[] encoded, bool grayscale = false)
    {
        ArgumentNullException.ThrowIfNull(encoded);
        // Decoding from memory rather than Cv2.ImRead keeps "file missing/unreadable" (an IO exception from the
        // caller's read) apart from "not an image" (null here), and avoids OpenCV's platform path handling.
        if (encoded.Length == 0) return null;
        Mat decoded;
        try
        {
            decoded = Cv2.ImDecode(encoded, grayscale ? ImreadModes.Grayscale : ImreadModes.Color);
        }
        catch (OpenCVException)
        {
            return null;
        }
        // Grayscale/Color modes always yield 8-bit 1 or 3 channels; anything else would be misread by the callers.
        if (!decoded.Empty() && decoded.Type() == MatType.CV_8UC(grayscale ? 1 : 3)) return decoded;
        decoded.Dispose();
        return null;
    }

    /// <summary>The file decoded as 8-bit BGR (or grey), or null when it cannot be read or decoded.</summary>
    public static Mat? TryDecodeFile(string path, bool grayscale = false)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        return TryDecode(bytes, grayscale);
    }

    internal static void CheckSize(int height, int width)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
    }

    /// <summary>
    /// Decodes encoded image bytes into <paramref name="chw"/> (C x H x W floats). False when OpenCV cannot decode them.
    /// <paramref name="resize"/> is a <see cref="Engine.Models.Preprocessing.Resize"/> mode: "stretch" (the whole image to
    /// H x W), or "crop" / "letterbox" with the same geometry and interpolation as <see cref="FramePreprocessor"/>.
    /// </summary>
    internal static bool TryDecodeInto(byte[] encoded, int height, int width, bool grayscale, Span<float> chw, string resize = "stretch")
    {
        using var decoded = TryDecode(encoded, grayscale);
        if (decoded is null) return false;
        int channels = grayscale ? 1 : 3;
        if (resize != "stretch")
        {
            CopyWithGeometry(decoded, height, width, channels, resize, chw);
            return true;
        }
        if (decoded.Rows == height && decoded.Cols == width)
        {
            CopyOut(decoded, height, width, channels, chw);
            return true;
        }
        // INTER_AREA averages all source pixels when shrinking (no aliasing); when enlarging it degenerates to
        // nearest-neighbour, so anything not shrinking in both directions uses bilinear.
        bool shrinking = height <= decoded.Rows && width <= decoded.Cols;
        using var resized = new Mat();
        Cv2.Resize(decoded, resized, new Size(width, height), 0, 0, shrinking ? InterpolationFlags.Area : InterpolationFlags.Linear);
        CopyOut(resized, height, width, channels, chw);
        return true;
    }

    /// <summary>A "crop" or "letterbox" resize as <see cref="FramePreprocessor"/> does it: the source rectangle resized onto the target one, black around it.</summary>
    private static void CopyWithGeometry(Mat decoded, int height, int width, int channels, string resize, Span<float> chw)
    {
        var (source, target) = FramePreprocessor.ComputeGeometry(resize, decoded.Cols, decoded.Rows, width, height);
        using var region = new Mat(decoded, source);
        using var canvas = new Mat(height, width, decoded.Type(), Scalar.All(FramePreprocessor.LetterboxPad));
        using (var placed = new Mat(canvas, target))
        {
            if (source.Width == target.Width && source.Height == target.Height) region.CopyTo(placed);
            else
            {
                bool shrinking = target.Width <= source.Width && target.Height <= source.Height;
                Cv2.Resize(region, placed, new Size(target.Width, target.Height), 0, 0, shrinking ? InterpolationFlags.Area : InterpolationFlags.Linear);
            }
        }
        CopyOut(canvas, height, width, channels, chw);
    }

    private static void CopyOut(Mat mat, int height, int width, int channels, Span<float> chw)
    {
        // Decoded and resized Mats own fresh buffers, so they are continuous; a view would need a row-by-row copy.
        if (!mat.IsContinuous()) throw new InvalidOperationException("expected a continuous image buffer from OpenCV");
        Pixels.HwcBytesToChw(mat.AsSpan<byte>(), height, width, channels, swapRb: channels == 3, chw);
    }
}
