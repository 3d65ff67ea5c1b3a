// OutputPath: checks that a file can be written where the user asked, before any long work starts: the output rule
// (Engine's AtomicFile: no devices, FIFOs or dangling links replaced) and a probe that the folder takes new files.
using CameraCnn.Engine.IO;

namespace CameraCnn.App.Cli;

public static class OutputPath
{
    /// <summary>
    /// Fails with one line when the path is empty, a directory, a device, FIFO or socket (or a link to one), its folder
    /// is missing or not writable. Returns the full path (a symbolic link to a regular file is written through later).
    /// </summary>
    public static string EnsureWritable(string path, string option)
    {
        if (path.Trim().Length == 0) throw new CliException($"{option} is empty, expected a file path", CliRunner.UsageError);
        string target;
        try
        {
            target = AtomicFile.ResolveTarget(path);
        }
        catch (IOException e)
        {
            string detail = e.Message.StartsWith($"cannot write {path}: ", StringComparison.Ordinal) ? e.Message[$"cannot write {path}: ".Length..] : e.Message;
            throw new CliException(detail == "it is a directory"
                ? $"{option} {path} is a directory, expected a file path"
                : $"cannot write {option} {path}: {detail}");
        }
        string dir = Path.GetDirectoryName(target) ?? ".";
        string probe = Path.Combine(dir, $".camcnn-write-test-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            using (File.Create(probe, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"cannot write {option} {path}: {e.Message}");
        }
        return Path.GetFullPath(path);
    }
}
