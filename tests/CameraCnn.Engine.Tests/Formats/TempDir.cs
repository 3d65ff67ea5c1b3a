// TempDir: a throwaway directory per test, deleted on dispose, for file-format tests.
namespace CameraCnn.Engine.Tests.Formats;

/// <summary>A fresh temporary directory that is removed (with its contents) when disposed.</summary>
internal sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("camcnn-formats-").FullName;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string[] Entries() => Directory.GetFileSystemEntries(Path).Select(System.IO.Path.GetFileName).ToArray()!;

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { /* a leftover temp dir must not fail the test */ }
    }
}
