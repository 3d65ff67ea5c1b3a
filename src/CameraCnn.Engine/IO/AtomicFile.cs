// AtomicFile: write-to-temp, fsync, rename — so a crash or error never leaves a half-written file behind.
namespace CameraCnn.Engine.IO;

/// <summary>
/// Writes files so that readers see either the old content or the complete new content, never a mix.
/// The data goes to a hidden temp file in the same directory (a rename is only atomic within one
/// file system), is flushed to disk, and then replaces the target.
/// </summary>
public static class AtomicFile
{
    /// <summary>
    /// Writes <paramref name="path"/> by calling <paramref name="write"/> on a temp-file stream, then renames it into place.
    /// </summary>
    /// <exception cref="IOException">Anything went wrong; the message names the file, and any existing file is untouched.</exception>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);

        string name = Path.GetFileName(path);
        if (name.Length == 0) throw new IOException($"cannot write {path}: the path names a directory, not a file");
        if (Directory.Exists(path)) throw new IOException($"cannot write {path}: it is a directory");

        string fullPath = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(fullPath) ?? ".";
        if (!Directory.Exists(dir)) throw new IOException($"cannot write {path}: directory {dir} does not exist");

        string temp = Path.Combine(dir, $".{name}.{Path.GetRandomFileName()}.tmp");
        try
        {
            // CreateNew: never clobber a file that happens to share the random name.
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                // Without this the rename can reach the disk before the data, and a power cut leaves an empty file.
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, fullPath, overwrite: true);
        }
        catch (Exception e)
        {
            TryDelete(temp);
            throw new IOException($"cannot write {path}: {OneLine(e.Message)}", e);
        }
    }

    /// <summary>Atomically replaces <paramref name="path"/> with <paramref name="bytes"/>.</summary>
    /// <exception cref="IOException">The write failed; any existing file is untouched.</exception>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        // A span cannot be captured by the lambda, so copy once; files written this way are small.
        byte[] copy = bytes.ToArray();
        Write(path, s => s.Write(copy));
    }

    private static void TryDelete(string temp)
    {
        try { File.Delete(temp); }
        catch (Exception) { /* the original error matters more than a leftover temp file */ }
    }

    private static string OneLine(string message) =>
        message.ReplaceLineEndings(" ").Trim();
}
