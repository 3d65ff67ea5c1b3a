// OutputRuleTests: the one output rule (AtomicFile) against what a hostile user points it at: an existing FIFO or device
// node (refused, left as it was), symbolic links (to a regular file: written through; to a FIFO, nowhere or in a loop:
// refused), a full disk (a 64 KB tmpfs: the old file survives, no temp file left), a read-only folder, and the
// permission bits of a replaced file. The special files are made in the test's temp folder, never in /dev.
using CameraCnn.Engine.IO;
using CameraCnn.Tests.Shared;

namespace CameraCnn.Engine.Tests.Formats;

public sealed class OutputRuleTests
{
    private static readonly byte[] Content = [1, 2, 3, 4, 5];

    [NeedsFact(Need.Fifo)]
    public void An_existing_fifo_is_refused_and_stays_a_fifo()
    {
        using var dir = new TempDir();
        string fifo = dir["stats.json"];
        SpecialFiles.MakeFifo(fifo);
        var e = Assert.Throws<IOException>(() => AtomicFile.WriteAllBytes(fifo, Content));
        Assert.Equal($"cannot write {fifo}: it is a FIFO (named pipe), not a regular file (refusing to replace it)", e.Message);
        Assert.Equal("fifo", SpecialFiles.TypeOf(fifo));
        Assert.Equal(["stats.json"], dir.Entries()); // no temp file left
        Assert.Throws<IOException>(() => AtomicFile.ResolveTarget(fifo)); // the same answer up front
    }

    [NeedsFact(Need.DeviceNode)]
    public void An_existing_device_node_is_refused_and_stays_a_device()
    {
        // `train --out /dev/null` as root used to replace the device with a regular file; here a null device made in
        // the test's own folder stands in for it.
        using var dir = new TempDir();
        string device = dir["null"];
        Assert.True(SpecialFiles.TryMakeNullDevice(device));
        var e = Assert.Throws<IOException>(() => AtomicFile.WriteAllBytes(device, Content));
        Assert.Contains("it is a character device, not a regular file", e.Message);
        Assert.Equal("character special file", SpecialFiles.TypeOf(device));
        Assert.Equal(PathKind.CharacterDevice, FileKind.Of(device));
        Assert.Equal(["null"], dir.Entries());
    }

    [NeedsFact(Need.Fifo)]
    public void A_symlink_to_a_regular_file_is_written_through_and_one_to_a_fifo_refused()
    {
        using var dir = new TempDir();
        string target = dir["real.json"], link = dir["link.json"];
        File.WriteAllText(target, "old");
        File.CreateSymbolicLink(link, target);
        AtomicFile.WriteAllBytes(link, Content);
        Assert.Equal(Content, File.ReadAllBytes(target));
        Assert.Equal(target, new FileInfo(link).LinkTarget); // still a link, to the same file
        Assert.Equal(PathKind.Symlink, FileKind.Of(link, followLinks: false));

        string fifo = dir["pipe"], toFifo = dir["to-pipe.json"];
        SpecialFiles.MakeFifo(fifo);
        File.CreateSymbolicLink(toFifo, fifo);
        var e = Assert.Throws<IOException>(() => AtomicFile.WriteAllBytes(toFifo, Content));
        Assert.Contains($"it is a symbolic link to {fifo}, a FIFO (named pipe), not a regular file", e.Message);
        Assert.Equal(PathKind.Symlink, FileKind.Of(toFifo, followLinks: false));
        Assert.Equal("fifo", SpecialFiles.TypeOf(fifo));
    }

    [Fact]
    public void A_dangling_or_looping_symlink_is_refused()
    {
        using var dir = new TempDir();
        string dangling = dir["dangling.onnx"];
        File.CreateSymbolicLink(dangling, dir["nowhere.onnx"]);
        var e = Assert.Throws<IOException>(() => AtomicFile.WriteAllBytes(dangling, Content));
        Assert.Contains("which does not exist", e.Message);
        Assert.False(File.Exists(dir["nowhere.onnx"]));

        string a = dir["a"], b = dir["b"];
        File.CreateSymbolicLink(a, b);
        File.CreateSymbolicLink(b, a);
        var loop = Assert.Throws<IOException>(() => AtomicFile.WriteAllBytes(a, Content));
        Assert.StartsWith($"cannot write {a}: ", loop.Message);
        Assert.Equal(PathKind.Symlink, FileKind.Of(a, followLinks: false));
    }

    [NeedsFact(Need.Mount)]
    public void A_full_disk_keeps_the_old_file_and_leaves_no_temp_file()
    {
        using var dir = new TempDir();
        string disk = Directory.CreateDirectory(dir["disk"]).FullName;
        using var mount = SpecialFiles.MountTmpfs(disk, 64);
        string path = Path.Combine(disk, "model.onnx");
        File.WriteAllText(path, "the previous model");
        var e = Assert.Throws<IOException>(() => AtomicFile.Write(path, s => s.Write(new byte[200_000])));
        Assert.StartsWith($"cannot write {path}: ", e.Message);
        Assert.Contains("No space left on device", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Equal("the previous model", File.ReadAllText(path));
        Assert.Equal(["model.onnx"], Directory.GetFileSystemEntries(disk).Select(Path.GetFileName));
        AtomicFile.WriteAllBytes(path, Content); // what fits is written
        Assert.Equal(Content, File.ReadAllBytes(path));
    }

    [NeedsFact(Need.ReadOnlyFolder)]
    public void A_read_only_folder_fails_with_one_line_and_keeps_the_old_file()
    {
        using var dir = new TempDir();
        string ro = Directory.CreateDirectory(dir["ro"]).FullName;
        using (SpecialFiles.ReadOnlyFolder(ro, new Dictionary<string, byte[]> { ["out.npy"] = [9, 9] }))
        {
            string path = Path.Combine(ro, "out.npy");
            var e = Assert.Throws<IOException>(() => AtomicFile.WriteAllBytes(path, Content));
            Assert.StartsWith($"cannot write {path}: ", e.Message);
            Assert.True(e.Message.Contains("Read-only file system") || e.Message.Contains("denied"), e.Message);
            Assert.Equal([9, 9], File.ReadAllBytes(path));
            Assert.False(AtomicFile.TryWriteNew(path, s => s.Write(Content))); // taken: nothing attempted
            Assert.Throws<IOException>(() => AtomicFile.TryWriteNew(Path.Combine(ro, "new.npy"), s => s.Write(Content)));
        }
    }

    [Fact]
    public void A_replaced_file_keeps_its_permission_bits()
    {
        if (OperatingSystem.IsWindows()) return;
        using var dir = new TempDir();
        string path = dir["private.onnx"];
        File.WriteAllText(path, "old");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        AtomicFile.WriteAllBytes(path, Content);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
    }

    [Fact]
    public void Write_new_never_replaces_anything()
    {
        using var dir = new TempDir();
        string path = dir["class_000001.png"];
        Assert.True(AtomicFile.TryWriteNew(path, s => s.Write(Content)));
        Assert.False(AtomicFile.TryWriteNew(path, s => s.Write([7])));
        Assert.Equal(Content, File.ReadAllBytes(path));
        string link = dir["class_000002.png"];
        File.CreateSymbolicLink(link, dir["elsewhere"]);
        Assert.False(AtomicFile.TryWriteNew(link, s => s.Write([7]))); // a dangling link is a taken name too
        Assert.False(File.Exists(dir["elsewhere"]));
        Assert.Equal(["class_000001.png", "class_000002.png"], dir.Entries().Order());
    }

    [Fact]
    public void An_empty_path_is_one_line()
    {
        Assert.Equal("cannot write to an empty path", Assert.Throws<IOException>(() => AtomicFile.WriteAllBytes("", Content)).Message);
        Assert.Equal("cannot write to an empty path", Assert.Throws<IOException>(() => AtomicFile.WriteAllBytes("  ", Content)).Message);
    }

    [Fact]
    public void File_kinds_are_told_apart()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["f"], "x");
        Assert.Equal(PathKind.File, FileKind.Of(dir["f"]));
        Assert.Equal(PathKind.Directory, FileKind.Of(dir.Path));
        Assert.Equal(PathKind.Missing, FileKind.Of(dir["missing"]));
        Assert.Equal(PathKind.Missing, FileKind.Of(Path.Combine(dir["f"], "under-a-file")));
        FileKind.EnsureReadableFile(dir["f"]);
        FileKind.EnsureReadableFile(dir["missing"]); // the caller reports a missing file in its own words
        Assert.Contains("is a directory", Assert.Throws<IOException>(() => FileKind.EnsureReadableFile(dir.Path)).Message);
    }
}
