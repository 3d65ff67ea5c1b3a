// TempDir: a fresh directory under the system temp folder for one test, deleted (best effort) on Dispose. The one
// TempDir of every test project (linked in from tests/Shared).
namespace CameraCnn.Tests;

/// <summary>A unique temporary directory, removed with its contents when disposed.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir(string tag = "camcnn-tests")
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"{tag}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    /// <summary>A path inside the directory (sub-directories are not created).</summary>
    public string this[string relative] => System.IO.Path.Combine(Path, relative);

    /// <summary>Creates (if needed) and returns a sub-directory, e.g. Sub("data", "cats").</summary>
    public string Sub(params string[] parts) => Directory.CreateDirectory(System.IO.Path.Combine([Path, .. parts])).FullName;

    /// <summary>The names of what the directory holds (files and folders, not recursive).</summary>
    public string[] Entries() => Directory.GetFileSystemEntries(Path).Select(System.IO.Path.GetFileName).ToArray()!;

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* a leftover temp dir must not fail the test */ }
    }
}
