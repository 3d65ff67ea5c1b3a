// TempDir: a throw-away directory for tests, plus helpers that write solid-colour images into it with OpenCV.
using OpenCvSharp;

namespace CameraCnn.Vision.Tests;

/// <summary>A unique temporary directory deleted on dispose.</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "cameracnn-vision-" + Guid.NewGuid().ToString("N"));

    public TempDir() => Directory.CreateDirectory(Path);

    /// <summary>Creates (if needed) a sub-folder and returns its full path.</summary>
    public string Folder(params string[] parts)
    {
        string p = System.IO.Path.Combine([Path, .. parts]);
        Directory.CreateDirectory(p);
        return p;
    }

    /// <summary>Writes an image of one colour; <paramref name="bgr"/> is in OpenCV's channel order.</summary>
    public static string WriteSolid(string path, int height, int width, Scalar bgr)
    {
        using var mat = new Mat(height, width, MatType.CV_8UC3, bgr);
        if (!Cv2.ImWrite(path, mat)) throw new IOException($"OpenCV could not write {path}");
        return path;
    }

    public static readonly Scalar Red = new(0, 0, 255);
    public static readonly Scalar Green = new(0, 255, 0);
    public static readonly Scalar Blue = new(255, 0, 0);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { } // leftovers in /tmp must not turn a passing test red
    }
}
