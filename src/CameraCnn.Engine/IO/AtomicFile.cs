// AtomicFile: the one rule every file the program writes follows (models, .npy, screenshots, stats, recorded frames,
// caches, manifests): write a temp file in the target's folder, flush it to disk, rename it over the target. A target
// that exists and is not a regular file (a device, a FIFO, a socket, a link to one) is refused, never replaced; a
// symbolic link to a regular file is written through (the link stays, its target gets the new content).
namespace CameraCnn.Engine.IO;

/// <summary>
/// Writes files so that readers see either the old content or the complete new content, never a mix, and so that a
/// failed write (full disk, read-only folder, a crash) leaves the previous file as it was and no temp file behind.
/// </summary>
public static class AtomicFile
{
    /// <summary>
    /// Where a write to <paramref name="path"/> lands under the rule: the full path itself, or for a symbolic link to a
    /// regular file that file. Checks everything that can be checked before writing, so a command can call it up front.
    /// </summary>
    /// <exception cref="IOException">The rule refuses the path (one line naming it and why): empty, a directory, a
    /// device, FIFO or socket (or a link to one), a dangling or looping link, or a folder that does not exist.</exception>
    public static string ResolveTarget(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (path.Trim().Length == 0) throw new IOException("cannot write to an empty path");
        if (Path.GetFileName(path).Length == 0) throw new IOException($"cannot write {path}: the path names a directory, not a file");
        string full;
        try { full = Path.GetFullPath(path); }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new IOException($"cannot write {path}: {OneLine(e.Message)}", e);
        }

        string target = full;
        var kind = FileKind.Of(full, followLinks: false);
        if (kind == PathKind.Symlink)
        {
            string? final;
            try { final = File.ResolveLinkTarget(full, returnFinalTarget: true)?.FullName; }
            catch (IOException e) { throw new IOException($"cannot write {path}: a symbolic link that cannot be followed ({OneLine(e.Message)})", e); }
            if (final is null) throw new IOException($"cannot write {path}: a symbolic link that cannot be followed");
            target = final;
            kind = FileKind.Of(final, followLinks: false);
            if (kind == PathKind.Missing)
                throw new IOException($"cannot write {path}: it is a symbolic link to {final}, which does not exist (refusing to create the target)");
            if (kind != PathKind.File)
                throw new IOException($"cannot write {path}: it is a symbolic link to {final}, {FileKind.Describe(kind)}, not a regular file (refusing to replace it)");
        }
        switch (kind)
        {
            case PathKind.File or PathKind.Missing or PathKind.Unknown:
                break;
            case PathKind.Directory:
                throw new IOException($"cannot write {path}: it is a directory");
            default:
                throw new IOException($"cannot write {path}: it is {FileKind.Describe(kind)}, not a regular file (refusing to replace it)");
        }
        string dir = Path.GetDirectoryName(target) ?? ".";
        if (!Directory.Exists(dir))
        {
            // Name the real obstacle: the nearest existing ancestor may be a file ("--out notes.txt/m.onnx").
            string? up = dir;
            while (up is not null && !Directory.Exists(up) && !File.Exists(up)) up = Path.GetDirectoryName(up);
            if (up is not null && File.Exists(up)) throw new IOException($"cannot write {path}: {up} is a file, not a directory");
            throw new IOException($"cannot write {path}: directory {dir} does not exist");
        }
        return target;
    }

    /// <summary>
    /// Writes <paramref name="path"/> by calling <paramref name="write"/> on a temp-file stream, then renames it into
    /// place (see <see cref="ResolveTarget"/> for what is refused). An existing file keeps its permission bits.
    /// </summary>
    /// <exception cref="IOException">Anything went wrong; the message names the file, and any existing file is untouched.</exception>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        string target = ResolveTarget(path);
        string temp = WriteTemp(path, target, write, null);
        try
        {
            if (!OperatingSystem.IsWindows() && File.Exists(target)) File.SetUnixFileMode(temp, File.GetUnixFileMode(target));
            File.Move(temp, target, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
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

    /// <summary>
    /// Writes a new file at <paramref name="path"/> the same way, but never replaces anything: false when the name is
    /// taken (by anything, before or during the write), and then nothing is left behind. For recorders that number
    /// their files and move on to the next number.
    /// </summary>
    /// <param name="openTemp">Opens the temp file (tests inject a stream that fails like a full disk); null: a new file.</param>
    /// <exception cref="IOException">The write failed; nothing is left behind.</exception>
    public static bool TryWriteNew(string path, Action<Stream> write, Func<string, Stream>? openTemp = null)
    {
        ArgumentNullException.ThrowIfNull(write);
        string full = Path.GetFullPath(path);
        if (FileKind.Of(full, followLinks: false) != PathKind.Missing) return false;
        string temp = WriteTemp(path, full, write, openTemp);
        try
        {
            File.Move(temp, full, overwrite: false);
            return true;
        }
        catch (IOException) when (FileKind.Of(full, followLinks: false) != PathKind.Missing)
        {
            TryDelete(temp); // taken between the check and the rename
            return false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temp);
            throw new IOException($"cannot write {path}: {OneLine(e.Message)}", e);
        }
    }

    /// <summary>The content in a hidden temp file next to <paramref name="target"/>, flushed to disk. Returns its path.</summary>
    private static string WriteTemp(string path, string target, Action<Stream> write, Func<string, Stream>? openTemp)
    {
        string dir = Path.GetDirectoryName(target) ?? ".";
        string temp = Path.Combine(dir, $".{Path.GetFileName(target)}.{Path.GetRandomFileName()}.tmp");
        try
        {
            // CreateNew: never clobber a file that happens to share the random name.
            using (var stream = openTemp?.Invoke(temp) ?? new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                // Without this the rename can reach the disk before the data, and a power cut leaves an empty file.
                if (stream is FileStream fs) fs.Flush(flushToDisk: true);
                else stream.Flush();
            }
            return temp;
        }
        catch (Exception e)
        {
            TryDelete(temp);
            throw new IOException($"cannot write {path}: {OneLine(e.Message)}", e);
        }
    }

    private static void TryDelete(string temp)
    {
        try { File.Delete(temp); }
        catch (Exception) { /* the original error matters more than a leftover temp file */ }
    }

    private static string OneLine(string message) =>
        message.ReplaceLineEndings(" ").Trim();
}
