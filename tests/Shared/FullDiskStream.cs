// FullDiskStream: a temp-file stream that fails its writes as a full disk does, for the teach data set and session
// tests (linked in from tests/Shared).
namespace CameraCnn.Tests;

/// <summary>A temp-file stream that fails its writes as a full disk does (it creates the file first, as a real open would).</summary>
public sealed class FullDiskStream(string path) : Stream
{
    private readonly FileStream _inner = new(path, FileMode.CreateNew);
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => 0;
    public override long Position { get => 0; set { } }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new IOException($"No space left on device : '{_inner.Name}'");
    public override void Write(ReadOnlySpan<byte> buffer) => throw new IOException($"No space left on device : '{_inner.Name}'");

    protected override void Dispose(bool disposing)
    {
        if (disposing) _inner.Dispose();
        base.Dispose(disposing);
    }
}
