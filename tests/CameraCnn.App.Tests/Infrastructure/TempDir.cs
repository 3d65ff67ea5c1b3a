// TempDir: a fresh directory under the system temp folder, deleted (best effort) on Dispose.
namespace CameraCnn.App.Tests.Infrastructure;

public sealed class TempDir : IDisposable
{
    public TempDir(string tag = "camcnn-app-tests")
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"{tag}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    /// <summary>A path inside the directory (sub-directories are not created).</summary>
    public string this[string relative] => System.IO.Path.Combine(Path, relative);

    /// <summary>Creates (if needed) and returns a sub-directory.</summary>
    public string Sub(string relative) => Directory.CreateDirectory(this[relative]).FullName;

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
