// FileKind: what a path names (regular file, directory, symbolic link, device, FIFO, socket), read with statx(2) on
// Linux, so writers and readers can refuse a path that is not a regular file before opening it: opening a FIFO blocks
// until someone writes, a device never ends, and a rename over either replaces it. It opens nothing and writes nothing.
using System.Runtime.InteropServices;

namespace CameraCnn.Engine.IO;

/// <summary>The type of a file-system entry.</summary>
public enum PathKind
{
    Missing,
    File,
    Directory,
    Symlink,
    CharacterDevice,
    BlockDevice,
    Fifo,
    Socket,
    /// <summary>It exists but its type could not be told (e.g. a folder on the way cannot be searched).</summary>
    Unknown,
}

/// <summary>Tells what a path is without opening it.</summary>
public static partial class FileKind
{
    /// <summary>
    /// The kind of <paramref name="path"/>; with <paramref name="followLinks"/> a symbolic link is followed to what it
    /// names (a dangling link is then <see cref="PathKind.Missing"/>).
    /// </summary>
    public static PathKind Of(string path, bool followLinks = true)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (path.Length == 0 || path.Contains('\0')) return PathKind.Missing; // no such name can exist; the C call would cut it short
        if (OperatingSystem.IsLinux() && TryStatx(path, followLinks, out var kind)) return kind;
        return Managed(path, followLinks);
    }

    /// <summary>"a FIFO (named pipe)", "a character device"...: the kind as the tail of a sentence.</summary>
    public static string Describe(PathKind kind) => kind switch
    {
        PathKind.File => "a regular file",
        PathKind.Directory => "a directory",
        PathKind.Symlink => "a symbolic link",
        PathKind.CharacterDevice => "a character device",
        PathKind.BlockDevice => "a block device",
        PathKind.Fifo => "a FIFO (named pipe)",
        PathKind.Socket => "a socket",
        PathKind.Missing => "missing",
        _ => "not a regular file",
    };

    /// <summary>
    /// For readers: fails when <paramref name="path"/> exists but is not a regular file (a FIFO, device or socket would
    /// block or never end; a directory cannot be read as a file). A missing path passes: the caller reports that.
    /// </summary>
    /// <exception cref="IOException">One line naming the path and what it is.</exception>
    public static void EnsureReadableFile(string path)
    {
        var kind = Of(path);
        if (kind is PathKind.File or PathKind.Missing or PathKind.Unknown) return;
        throw new IOException($"{path} is {Describe(kind)}, not a regular file");
    }

    // struct statx (linux/stat.h) has the same layout on every architecture: stx_mode is a __u16 at byte 28.
    private const int AtFdCwd = -100, AtSymlinkNoFollow = 0x100, StatxType = 0x1, StatxSize = 256, ModeOffset = 28;
    private const int ENOENT = 2, ENOTDIR = 20, ENAMETOOLONG = 36, ELOOP = 40;
    private static bool _noStatx;

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    private static unsafe bool TryStatx(string path, bool followLinks, out PathKind kind)
    {
        kind = PathKind.Unknown;
        if (_noStatx) return false;
        byte* buffer = stackalloc byte[StatxSize];
        int rc;
        try
        {
            rc = Statx(AtFdCwd, path, followLinks ? 0 : AtSymlinkNoFollow, StatxType, buffer);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            _noStatx = true; // an old C library: the managed approximation below
            return false;
        }
        if (rc != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            kind = errno is ENOENT or ENOTDIR or ENAMETOOLONG ? PathKind.Missing : errno == ELOOP ? PathKind.Symlink : PathKind.Unknown;
            return true;
        }
        int mode = *(ushort*)(buffer + ModeOffset) & 0xF000; // S_IFMT
        kind = mode switch
        {
            0x8000 => PathKind.File,
            0x4000 => PathKind.Directory,
            0xA000 => PathKind.Symlink,
            0x2000 => PathKind.CharacterDevice,
            0x6000 => PathKind.BlockDevice,
            0x1000 => PathKind.Fifo,
            0xC000 => PathKind.Socket,
            _ => PathKind.Unknown,
        };
        return true;
    }

    /// <summary>Without statx: links and directories are told apart, devices only where the OS flags them (Windows).</summary>
    private static PathKind Managed(string path, bool followLinks)
    {
        try
        {
            var info = new FileInfo(path);
            if (!followLinks && info.LinkTarget is not null) return PathKind.Symlink;
            if (Directory.Exists(path)) return PathKind.Directory;
            if (!File.Exists(path)) return PathKind.Missing;
            return (File.GetAttributes(path) & FileAttributes.Device) != 0 ? PathKind.CharacterDevice : PathKind.File;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return PathKind.Unknown;
        }
    }
}
