// SolidImage: images of one colour written with OpenCV, for the image-file, folder and source tests.
using OpenCvSharp;

namespace CameraCnn.Vision.Tests;

/// <summary>Writes one-colour images; colours are in OpenCV's channel order (BGR).</summary>
public static class SolidImage
{
    public static readonly Scalar Red = new(0, 0, 255);
    public static readonly Scalar Green = new(0, 255, 0);
    public static readonly Scalar Blue = new(255, 0, 0);

    /// <summary>Writes a <paramref name="height"/> x <paramref name="width"/> image of one colour and returns its path.</summary>
    public static string Write(string path, int height, int width, Scalar bgr)
    {
        using var mat = new Mat(height, width, MatType.CV_8UC3, bgr);
        if (!Cv2.ImWrite(path, mat)) throw new IOException($"OpenCV could not write {path}");
        return path;
    }
}
