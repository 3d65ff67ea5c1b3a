// TeachFolderLock: one writer per teach folder. The holder keeps DIR/.camcnn-teach.lock open exclusively (.NET takes
// an advisory flock for FileShare.None on Unix, a share lock on Windows) and names itself in DIR/.camcnn-teach.owner
// (pid, start time, command). A second session cannot open the lock and says which process has the folder. The OS drops
// the lock when its holder exits, even by kill -9, so a lock left by a dead process is taken over without asking.
using System.Diagnostics;
using System.Text.Json;
using CameraCnn.Engine.IO;

namespace CameraCnn.Vision.Teach;

/// <summary>The teach folder is held by another process; the message names it.</summary>
public sealed class TeachFolderBusyException(string message) : IOException(message);

/// <summary>Exclusive use of a teach folder by this process, until disposed.</summary>
public sealed class TeachFolderLock : IDisposable
{
    public const string LockFileName = ".camcnn-teach.lock", OwnerFileName = ".camcnn-teach.owner";

    private readonly FileStream? _stream;
    private readonly string _ownerPath;
    private bool _disposed;

    private TeachFolderLock(string directory, FileStream? stream)
    {
        Directory = directory;
        _stream = stream;
        _ownerPath = Path.Combine(directory, OwnerFileName);
    }

    /// <summary>The folder (full path).</summary>
    public string Directory { get; }

    /// <summary>
    /// False when the folder cannot be written at all (a read-only disk): there is then nothing to protect, and the
    /// session's own writes fail and say so.
    /// </summary>
    public bool IsHeld => _stream is not null;

    /// <summary>Takes the folder for this process.</summary>
    /// <exception cref="TeachFolderBusyException">Another live process holds it (one line naming the process).</exception>
    public static TeachFolderLock Acquire(string directory) =>
        TryAcquire(directory, out string? holder) ?? throw new TeachFolderBusyException(holder!);

    /// <summary>As <see cref="Acquire"/>, but null (with the reason in <paramref name="busy"/>) when another process holds it.</summary>
    public static TeachFolderLock? TryAcquire(string directory, out string? busy)
    {
        ArgumentNullException.ThrowIfNull(directory);
        string dir = Path.GetFullPath(directory);
        string lockPath = Path.Combine(dir, LockFileName);
        busy = null;
        FileStream stream;
        try
        {
            stream = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1);
        }
        catch (IOException e) when (IsSharingViolation(e))
        {
            busy = $"teach folder {dir} is in use by {Holder(dir) ?? "another process"}; close that session first (two writers would overwrite each other's manifest, model and feature cache)";
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new TeachFolderLock(dir, null); // read-only folder: no writer can exist, nothing to lock
        }
        // With file locking switched off (DOTNET_SYSTEM_IO_DISABLEFILELOCKING) the open always succeeds: the owner file
        // then still tells a live holder from a dead one.
        if (ReadOwner(dir) is { } other && other.Pid != Environment.ProcessId && IsAlive(other))
        {
            stream.Dispose();
            busy = $"teach folder {dir} is in use by {Describe(other)}; close that session first";
            return null;
        }
        var held = new TeachFolderLock(dir, stream);
        held.WriteOwner();
        return held;
    }

    private sealed record Owner(int Pid, long StartedUtcTicks, string Command);

    private void WriteOwner()
    {
        var me = Process.GetCurrentProcess();
        var owner = new Owner(Environment.ProcessId, me.StartTime.ToUniversalTime().Ticks, Environment.CommandLine.Length > 200 ? Environment.CommandLine[..200] : Environment.CommandLine);
        try { AtomicFile.WriteAllBytes(_ownerPath, JsonSerializer.SerializeToUtf8Bytes(owner)); }
        catch (IOException) { /* the lock itself still excludes; only the message for a second session is poorer */ }
    }

    private static Owner? ReadOwner(string dir)
    {
        try
        {
            string path = Path.Combine(dir, OwnerFileName);
            if (FileKind.Of(path) != PathKind.File || new FileInfo(path).Length > 4096) return null;
            return JsonSerializer.Deserialize<Owner>(File.ReadAllText(path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or NotSupportedException) { return null; }
    }

    private static string? Holder(string dir) => ReadOwner(dir) is { } o ? Describe(o) : null;

    private static string Describe(Owner o)
    {
        var started = new DateTime(o.StartedUtcTicks, DateTimeKind.Utc).ToLocalTime();
        return $"process {o.Pid} (since {started:yyyy-MM-dd HH:mm:ss}: {o.Command})";
    }

    /// <summary>The recorded process still runs (same pid and start time: a reused pid is another process).</summary>
    private static bool IsAlive(Owner o)
    {
        try
        {
            using var p = Process.GetProcessById(o.Pid);
            return !p.HasExited && Math.Abs(p.StartTime.ToUniversalTime().Ticks - o.StartedUtcTicks) < TimeSpan.TicksPerSecond;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception or NotSupportedException)
        {
            return false;
        }
    }

    // EWOULDBLOCK (11) from flock on Linux, ERROR_SHARING_VIOLATION on Windows.
    private static bool IsSharingViolation(IOException e) => e.HResult is 11 or 35 or unchecked((int)0x80070020);

    /// <summary>Releases the folder (the owner file goes too).</summary>
    public void Dispose()
    {
        if (_stream is null || _disposed) return;
        _disposed = true;
        try { File.Delete(_ownerPath); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        _stream.Dispose();
    }
}
