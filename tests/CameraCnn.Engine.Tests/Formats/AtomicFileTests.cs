// Tests for AtomicFile: replace-or-nothing semantics, temp-file cleanup and error messages.
using CameraCnn.Engine.IO;

namespace CameraCnn.Engine.Tests.Formats;

public sealed class AtomicFileTests
{
    [Fact]
    public void Write_creates_file()
    {
        using var dir = new TempDir();
        string path = dir["model.onnx"];
        AtomicFile.Write(path, s => s.Write([1, 2, 3]));
        Assert.Equal([1, 2, 3], File.ReadAllBytes(path));
        Assert.Equal(["model.onnx"], dir.Entries());
    }

    [Fact]
    public void Write_replaces_existing_file()
    {
        using var dir = new TempDir();
        string path = dir["a.bin"];
        File.WriteAllBytes(path, [9, 9, 9, 9, 9, 9]);
        AtomicFile.WriteAllBytes(path, [4, 5]);
        Assert.Equal([4, 5], File.ReadAllBytes(path));
        Assert.Equal(["a.bin"], dir.Entries());
    }

    [Fact]
    public void Write_all_bytes_accepts_empty_content()
    {
        using var dir = new TempDir();
        string path = dir["empty"];
        AtomicFile.WriteAllBytes(path, ReadOnlySpan<byte>.Empty);
        Assert.Empty(File.ReadAllBytes(path));
    }

    [Fact]
    public void Existing_file_survives_writer_that_throws_midway()
    {
        using var dir = new TempDir();
        string path = dir["model.onnx"];
        File.WriteAllText(path, "old content");

        var e = Assert.Throws<IOException>(() => AtomicFile.Write(path, s =>
        {
            s.Write(new byte[100_000]);
            s.Flush();
            throw new InvalidOperationException("serializer blew up");
        }));

        Assert.Equal("old content", File.ReadAllText(path));
        Assert.Equal(["model.onnx"], dir.Entries());
        Assert.StartsWith($"cannot write {path}: ", e.Message);
        Assert.Contains("serializer blew up", e.Message);
        Assert.IsType<InvalidOperationException>(e.InnerException);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Failed_write_of_new_file_leaves_nothing_behind()
    {
        using var dir = new TempDir();
        string path = dir["new.npy"];
        Assert.Throws<IOException>(() => AtomicFile.Write(path, _ => throw new IOException("disk full")));
        Assert.False(File.Exists(path));
        Assert.Empty(dir.Entries());
    }

    [Fact]
    public void Missing_directory_gives_clear_IO_exception()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "no", "such", "dir", "model.onnx");
        var e = Assert.Throws<IOException>(() => AtomicFile.WriteAllBytes(path, [1]));
        Assert.StartsWith($"cannot write {path}: ", e.Message);
        Assert.Contains("does not exist", e.Message);
        Assert.Empty(dir.Entries());
    }

    [Fact]
    public void Path_that_is_a_directory_gives_IO_exception()
    {
        using var dir = new TempDir();
        string path = dir["sub"];
        Directory.CreateDirectory(path);
        var e = Assert.Throws<IOException>(() => AtomicFile.WriteAllBytes(path, [1]));
        Assert.Contains("directory", e.Message);
        Assert.True(Directory.Exists(path));
        Assert.Equal(["sub"], dir.Entries());
    }

    [Fact]
    public void Path_ending_in_separator_is_rejected()
    {
        using var dir = new TempDir();
        string path = dir.Path + Path.DirectorySeparatorChar;
        Assert.Throws<IOException>(() => AtomicFile.WriteAllBytes(path, [1]));
    }

    [Fact]
    public void Writer_sees_a_writable_stream()
    {
        using var dir = new TempDir();
        string path = dir["x"];
        AtomicFile.Write(path, s =>
        {
            Assert.True(s.CanWrite);
            using var w = new StreamWriter(s, leaveOpen: true);
            w.Write("hello");
        });
        Assert.Equal("hello", File.ReadAllText(path));
    }
}
