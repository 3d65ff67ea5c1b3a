// OutputPath: checks that a file can be written where the user asked, before any long work starts.
namespace CameraCnn.App.Cli;

public static class OutputPath
{
    /// <summary>Fails with one line when the directory is missing or not writable, or the path is a directory.</summary>
    public static string EnsureWritable(string path, string option)
    {
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new CliException($"{option} {path} is a directory, expected a file path");
        string dir = Path.GetDirectoryName(full) ?? ".";
        if (!Directory.Exists(dir))
        {
            // Name the real obstacle: the nearest existing ancestor may be a file ("--out notes.txt/m.onnx").
            string? up = dir;
            while (up is not null && !Directory.Exists(up) && !File.Exists(up)) up = Path.GetDirectoryName(up);
            if (up is not null && File.Exists(up)) throw new CliException($"cannot write {option} {path}: {up} is a file, not a directory");
            throw new CliException($"cannot write {option} {path}: directory {dir} does not exist");
        }
        string probe = Path.Combine(dir, $".camcnn-write-test-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            using (File.Create(probe, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"cannot write {option} {path}: {e.Message}");
        }
        return full;
    }
}
