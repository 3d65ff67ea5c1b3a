// SpecialFiles: what the hostile-input tests need beyond plain files, always made inside the test's own temp folder and
// undone afterwards (never the real /dev): a FIFO (mkfifo), a null character device node (mknod c 1 3, root only), a
// small tmpfs that fills up (a full disk) and a read-only folder (a tmpfs remounted read-only as root, since root
// ignores chmod; chmod a-w when not root). Linked into each test project that needs it; a test whose tool is not
// permitted here is skipped with the reason (see NeedsFactAttribute).
using System.Diagnostics;

namespace CameraCnn.Tests.Shared;

/// <summary>What a test needs from the machine.</summary>
public enum Need
{
    /// <summary>mkfifo (any Linux).</summary>
    Fifo,
    /// <summary>mknod of a character device in a temp folder (root with CAP_MKNOD).</summary>
    DeviceNode,
    /// <summary>mount -t tmpfs (root with CAP_SYS_ADMIN, outside a locked-down container).</summary>
    Mount,
    /// <summary>A folder where creating a file really fails: a read-only mount as root, chmod otherwise.</summary>
    ReadOnlyFolder,
}

/// <summary>A fact skipped, with the reason, where the machine cannot give what it needs.</summary>
public sealed class NeedsFactAttribute : Xunit.FactAttribute
{
    public NeedsFactAttribute(params Need[] needs)
    {
        foreach (var need in needs)
            if (SpecialFiles.Unavailable(need) is { } why)
            {
                Skip = why;
                return;
            }
    }
}

public static class SpecialFiles
{
    public static bool IsRoot => OperatingSystem.IsLinux() && Environment.UserName == "root";

    /// <summary>Null when <paramref name="need"/> works here, else why not (the skip reason).</summary>
    public static string? Unavailable(Need need) => need switch
    {
        Need.Fifo => OperatingSystem.IsLinux() ? null : "needs Linux (mkfifo)",
        Need.DeviceNode => DeviceProbe.Value,
        Need.Mount => MountProbe.Value,
        Need.ReadOnlyFolder => !OperatingSystem.IsLinux() ? "needs Linux" : IsRoot ? MountProbe.Value : null,
        _ => "unknown need",
    };

    private static readonly Lazy<string?> DeviceProbe = new(() =>
    {
        if (!OperatingSystem.IsLinux()) return "needs Linux (mknod)";
        string dir = Directory.CreateTempSubdirectory("camcnn-probe-").FullName;
        try { return TryMakeNullDevice(Path.Combine(dir, "null")) ? null : "mknod of a character device is not permitted here (not root, or no CAP_MKNOD)"; }
        finally { Directory.Delete(dir, true); }
    });

    private static readonly Lazy<string?> MountProbe = new(() =>
    {
        if (!OperatingSystem.IsLinux()) return "needs Linux (mount -t tmpfs)";
        if (!IsRoot) return "mounting a tmpfs needs root";
        string dir = Directory.CreateTempSubdirectory("camcnn-probe-").FullName;
        try
        {
            var (code, output) = Sh("mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", dir);
            if (code != 0) return $"mount -t tmpfs is not permitted here ({output.Trim()})";
            Sh("umount", dir);
            return null;
        }
        finally { Directory.Delete(dir, true); }
    });

    /// <summary>Makes a FIFO (named pipe) at <paramref name="path"/>.</summary>
    public static void MakeFifo(string path)
    {
        var (code, output) = Sh("mkfifo", path);
        if (code != 0) throw new InvalidOperationException($"mkfifo {path} failed: {output}");
    }

    /// <summary>Makes a character device node like /dev/null (1, 3) at <paramref name="path"/>; false when not permitted.</summary>
    public static bool TryMakeNullDevice(string path) => Sh("mknod", path, "c", "1", "3").Code == 0;

    /// <summary>True when <paramref name="path"/> is (still) a FIFO / a character device, as `stat` sees it.</summary>
    public static string TypeOf(string path) => Sh("stat", "-c", "%F", path).Output.Trim();

    /// <summary>
    /// Mounts a tmpfs of <paramref name="kilobytes"/> on the (existing) folder <paramref name="dir"/>; disposing unmounts
    /// it. Files written before <see cref="Mount.MakeReadOnly"/> stay readable afterwards.
    /// </summary>
    public static Mount MountTmpfs(string dir, int kilobytes)
    {
        var (code, output) = Sh("mount", "-t", "tmpfs", "-o", $"size={kilobytes}k,mode=0777", "tmpfs", dir);
        if (code != 0) throw new InvalidOperationException($"mount tmpfs on {dir} failed: {output}");
        return new Mount(dir);
    }

    /// <summary>
    /// Makes <paramref name="dir"/> a folder where no file can be created (existing files stay readable): as root a tmpfs
    /// holding <paramref name="files"/>, remounted read-only; otherwise the folder with the files, made read-only by chmod.
    /// </summary>
    public static IDisposable ReadOnlyFolder(string dir, IReadOnlyDictionary<string, byte[]> files)
    {
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("read-only folders are made on Linux");
        if (IsRoot)
        {
            var mount = MountTmpfs(dir, 4096);
            foreach (var (name, bytes) in files) File.WriteAllBytes(Path.Combine(dir, name), bytes);
            mount.MakeReadOnly();
            return mount;
        }
        foreach (var (name, bytes) in files) File.WriteAllBytes(Path.Combine(dir, name), bytes);
        File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        return new Undo(() =>
        {
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        });
    }

    /// <summary>Writes a filler file into <paramref name="dir"/> until the disk is full: no byte more fits afterwards.</summary>
    public static void FillUp(string dir, string name = "filler")
    {
        try
        {
            using var filler = new FileStream(Path.Combine(dir, name), FileMode.CreateNew);
            var block = new byte[4096];
            while (true) filler.Write(block);
        }
        catch (IOException) { /* full: the point */ }
    }

    /// <summary>A tmpfs mounted by a test; unmounted (lazily, so an open file cannot keep it) on dispose.</summary>
    public sealed class Mount(string dir) : IDisposable
    {
        public string Directory => dir;

        public void MakeReadOnly()
        {
            var (code, output) = Sh("mount", "-o", "remount,ro", dir);
            if (code != 0) throw new InvalidOperationException($"remount read-only of {dir} failed: {output}");
        }

        public void Dispose() => Sh("umount", "-l", dir);
    }

    private sealed class Undo(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }

    /// <summary>Runs a program (no shell) and returns its exit code and combined output.</summary>
    public static (int Code, string Output) Sh(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) psi.ArgumentList.Add(a);
        try
        {
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            string stderr = p.StandardError.ReadToEnd();
            p.WaitForExit();
            return (p.ExitCode, stdout.Result + stderr);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, $"{program}: {e.Message}");
        }
    }
}
