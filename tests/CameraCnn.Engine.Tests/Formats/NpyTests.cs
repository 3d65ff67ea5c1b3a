// Tests for Npy: round trips, hand-built files of other dtypes/versions, and malformed input.
using System.Buffers.Binary;
using System.Text;
using CameraCnn.Engine.Data;

namespace CameraCnn.Engine.Tests.Formats;

public sealed class NpyTests
{
    /// <summary>Builds an .npy file the way NumPy does: preamble, dict padded to 64 bytes ending in '\n', data.</summary>
    private static byte[] BuildNpy(string dict, byte[] data, int major = 1)
    {
        int preamble = major == 1 ? 10 : 12;
        int total = (preamble + dict.Length + 1 + 63) / 64 * 64;
        var ms = new MemoryStream();
        ms.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)major, 0]);
        var len = new byte[preamble - 8];
        if (major == 1) BinaryPrimitives.WriteUInt16LittleEndian(len, (ushort)(total - preamble));
        else BinaryPrimitives.WriteUInt32LittleEndian(len, (uint)(total - preamble));
        ms.Write(len);
        ms.Write(Encoding.UTF8.GetBytes(dict.PadRight(total - preamble - 1) + "\n"));
        ms.Write(data);
        return ms.ToArray();
    }

    private static string Header(string descr, string shape, bool fortran = false) =>
        $"{{'descr': '{descr}', 'fortran_order': {(fortran ? "True" : "False")}, 'shape': {shape}, }}";

    private static Tensor ReadBytes(byte[] bytes) => Npy.Read(new MemoryStream(bytes));

    public static TheoryData<int[]> Shapes => new()
    {
        Array.Empty<int>(), new[] { 1 }, new[] { 7 }, new[] { 0 }, new[] { 3, 0, 2 }, new[] { 2, 3, 5 },
        new[] { 1, 1, 1, 1, 1 }, new[] { 2, 1, 3, 4 }, new[] { 65 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Round_trips_shapes(int[] shape)
    {
        using var dir = new TempDir();
        var t = new Tensor(shape);
        for (int i = 0; i < t.Length; i++) t[i] = i * 0.5f - 3.25f;
        if (t.Length > 0) t[0] = float.NaN;

        string path = dir["t.npy"];
        Npy.Write(path, t);
        var back = Npy.Read(path);

        Assert.Equal(shape, back.Shape);
        Assert.Equal(t.Data, back.Data);
        Assert.Equal(["t.npy"], dir.Entries());
    }

    [Fact]
    public void Zero_dimensional_array_is_rank_zero_with_one_element()
    {
        var t = new Tensor(Array.Empty<int>());
        t[0] = 42.5f;
        var ms = new MemoryStream();
        Npy.Write(ms, t);
        var back = ReadBytes(ms.ToArray());
        Assert.Equal(0, back.Rank);
        Assert.Equal([42.5f], back.Data);
        Assert.Contains("'shape': (),", Encoding.ASCII.GetString(ms.ToArray()));
    }

    [Theory]
    [InlineData(new[] { 5 }, "'shape': (5,), }")]
    [InlineData(new[] { 2, 3 }, "'shape': (2, 3), }")]
    public void Written_header_follows_numpy_layout(int[] shape, string expectedShape)
    {
        var ms = new MemoryStream();
        Npy.Write(ms, new Tensor(shape));
        byte[] bytes = ms.ToArray();

        Assert.Equal([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0], bytes[..8]);
        int headerLength = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8));
        Assert.Equal(0, (10 + headerLength) % 64);
        string header = Encoding.ASCII.GetString(bytes, 10, headerLength);
        Assert.EndsWith("\n", header);
        Assert.StartsWith("{'descr': '<f4', 'fortran_order': False, " + expectedShape, header);
        Assert.Equal(10 + headerLength + 4 * new Tensor(shape).Length, bytes.Length);
    }

    [Fact]
    public void Reads_hand_built_float64_file()
    {
        double[] values = [1.5, -2.25, 1e-3, 65504.0, double.NegativeInfinity, 0];
        var data = new byte[values.Length * 8];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteDoubleLittleEndian(data.AsSpan(i * 8), values[i]);

        var t = ReadBytes(BuildNpy(Header("<f8", "(2, 3)"), data));

        Assert.Equal([2, 3], t.Shape);
        Assert.Equal(values.Select(v => (float)v), t.Data);
    }

    [Fact]
    public void Reads_hand_built_int64_file_in_format2()
    {
        long[] values = [0, -1, 255, 1L << 40, long.MinValue];
        var data = new byte[values.Length * 8];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(i * 8), values[i]);

        var t = ReadBytes(BuildNpy(Header("<i8", "(5,)"), data, major: 2));

        Assert.Equal([5], t.Shape);
        Assert.Equal(values.Select(v => (float)v), t.Data);
    }

    [Fact]
    public void Reads_format3_with_utf8_header()
    {
        var t = ReadBytes(BuildNpy(Header("|u1", "(3,)"), [0, 128, 255], major: 3));
        Assert.Equal([0f, 128f, 255f], t.Data);
    }

    [Theory]
    [InlineData("<f2", new byte[] { 0x00, 0x3C, 0x00, 0xC0 }, new[] { 1f, -2f })]
    [InlineData("<i4", new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 7, 0, 0, 0 }, new[] { -1f, 7f })]
    [InlineData("<i2", new byte[] { 0x00, 0x80, 0x10, 0x00 }, new[] { -32768f, 16f })]
    [InlineData("|i1", new byte[] { 0x80, 0x7F }, new[] { -128f, 127f })]
    [InlineData("|u1", new byte[] { 0, 200 }, new[] { 0f, 200f })]
    [InlineData("|b1", new byte[] { 0, 1 }, new[] { 0f, 1f })]
    [InlineData("<u2", new byte[] { 0xFF, 0xFF, 1, 0 }, new[] { 65535f, 1f })]
    [InlineData(">f4", new byte[] { 0x3F, 0x80, 0, 0, 0xC0, 0, 0, 0 }, new[] { 1f, -2f })]
    [InlineData(">i2", new byte[] { 0x01, 0x00, 0xFF, 0xFE }, new[] { 256f, -2f })]
    [InlineData("=f4", new byte[] { 0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0 }, new[] { 1f, -2f })]
    public void ConvertsOtherDtypesToFloat32(string descr, byte[] data, float[] expected)
    {
        var t = ReadBytes(BuildNpy(Header(descr, "(2,)"), data));
        Assert.Equal(expected, t.Data);
    }

    [Fact]
    public void Accepts_double_quotes_and_python2_longs()
    {
        string dict = "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (1L, 2L)}";
        var t = ReadBytes(BuildNpy(dict, new byte[8]));
        Assert.Equal([1, 2], t.Shape);
    }

    [Fact]
    public void Reads_from_non_seekable_stream()
    {
        var ms = new MemoryStream();
        var t = new Tensor(3, 4);
        t[5] = 9f;
        Npy.Write(ms, t);
        var back = Npy.Read(new NonSeekableStream(ms.ToArray()));
        Assert.Equal(t.Data, back.Data);
    }

    [Fact]
    public void Fortran_order_is_refused()
    {
        var e = Assert.Throws<InvalidDataException>(() => ReadBytes(BuildNpy(Header("<f4", "(2, 3)", fortran: true), new byte[24])));
        Assert.Contains("Fortran", e.Message);
    }

    [Fact]
    public void Fortran_order_is_harmless_for_vectors()
    {
        var t = ReadBytes(BuildNpy(Header("<f4", "(1, 3)", fortran: true), new byte[12]));
        Assert.Equal([1, 3], t.Shape);
    }

    [Fact]
    public void Truncated_data_names_the_file()
    {
        using var dir = new TempDir();
        string path = dir["cut.npy"];
        var ms = new MemoryStream();
        Npy.Write(ms, new Tensor(10, 10));
        File.WriteAllBytes(path, ms.ToArray()[..^7]);

        var e = Assert.Throws<InvalidDataException>(() => Npy.Read(path));
        Assert.StartsWith("cut.npy: truncated", e.Message);
        Assert.Contains("expected 400 bytes", e.Message);
        Assert.Contains("got 393", e.Message);
    }

    [Fact]
    public void Truncated_data_on_non_seekable_stream()
    {
        var ms = new MemoryStream();
        Npy.Write(ms, new Tensor(10, 10));
        var e = Assert.Throws<InvalidDataException>(() => Npy.Read(new NonSeekableStream(ms.ToArray()[..^7])));
        Assert.Equal("npy data: truncated: expected 400 bytes of array data, got 393", e.Message);
    }

    [Fact]
    public void Truncated_header()
    {
        byte[] full = BuildNpy(Header("<f4", "(2,)"), new byte[8]);
        var e = Assert.Throws<InvalidDataException>(() => ReadBytes(full[..30]));
        Assert.Contains("truncated", e.Message);
        e = Assert.Throws<InvalidDataException>(() => ReadBytes(full[..9]));
        Assert.Contains("truncated", e.Message);
    }

    [Theory]
    [InlineData("{'descr': '<f4', 'fortran_order': Nope, 'shape': (2,), }")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), ")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (2,) } trailing")]
    [InlineData("{'descr': '<f4', 'fortran_order': False}")]
    [InlineData("{'fortran_order': False, 'shape': (2,)}")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': 'x'}")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x)}")]
    [InlineData("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}")]
    [InlineData("{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}")]
    [InlineData("\u0001\u0002 garbage \u00ff")]
    [InlineData("")]
    public void GarbageHeaderIsInvalidData(string dict)
    {
        using var dir = new TempDir();
        string path = dir["bad.npy"];
        File.WriteAllBytes(path, BuildNpy(dict, new byte[8]));
        var e = Assert.Throws<InvalidDataException>(() => Npy.Read(path));
        Assert.StartsWith("bad.npy: ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [InlineData("<c8", "unsupported dtype")]
    [InlineData("<U3", "unsupported dtype")]
    [InlineData("<f16", "unsupported dtype")]
    [InlineData("?f4", "byte order")]
    public void Unsupported_dtypes_are_refused(string descr, string expected)
    {
        var e = Assert.Throws<InvalidDataException>(() => ReadBytes(BuildNpy(Header(descr, "(1,)"), new byte[16])));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Structured_dtype_is_refused()
    {
        string dict = "{'descr': [('x', '<f4'), ('y', '<f4')], 'fortran_order': False, 'shape': (1,), }";
        var e = Assert.Throws<InvalidDataException>(() => ReadBytes(BuildNpy(dict, new byte[8])));
        Assert.Contains("structured", e.Message);
    }

    [Theory]
    [InlineData("(100000, 100000, 100000)")]
    [InlineData("(-1,)")]
    [InlineData("(99999999999,)")]
    [InlineData("(3000000000, 0)")]
    public void Absurd_shapes_are_invalid_data(string shape)
    {
        var e = Assert.Throws<InvalidDataException>(() => ReadBytes(BuildNpy(Header("<f4", shape), new byte[16])));
        Assert.StartsWith("npy data: ", e.Message);
    }

    [Fact]
    public void Not_an_npy_file()
    {
        using var dir = new TempDir();
        string path = dir["image.png"];
        File.WriteAllBytes(path, [0x89, (byte)'P', (byte)'N', (byte)'G', 0, 0, 0, 0, 0, 0]);
        var e = Assert.Throws<InvalidDataException>(() => Npy.Read(path));
        Assert.StartsWith("image.png: not an .npy file", e.Message);

        File.WriteAllBytes(path, []);
        Assert.Throws<InvalidDataException>(() => Npy.Read(path));
    }

    [Fact]
    public void Unknown_version_is_refused()
    {
        byte[] bytes = BuildNpy(Header("<f4", "(2,)"), new byte[8]);
        bytes[6] = 9;
        var e = Assert.Throws<InvalidDataException>(() => ReadBytes(bytes));
        Assert.Contains("version 9.0", e.Message);
    }

    [Fact]
    public void Huge_header_length_is_refused_without_allocating()
    {
        byte[] bytes = BuildNpy(Header("<f4", "(2,)"), new byte[8], major: 2);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), 0xFFFFFFF0);
        var e = Assert.Throws<InvalidDataException>(() => ReadBytes(bytes));
        Assert.Contains("header length", e.Message);
    }

    [Fact]
    public void Lying_shape_on_short_file_fails_fast()
    {
        // 2^28 floats claimed, 8 bytes present: must report truncation, not allocate a gigabyte first.
        var e = Assert.Throws<InvalidDataException>(() => ReadBytes(BuildNpy(Header("<f4", "(16384, 16384)"), new byte[8])));
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void Write_to_missing_directory_is_IO_exception()
    {
        using var dir = new TempDir();
        Assert.Throws<IOException>(() => Npy.Write(Path.Combine(dir.Path, "missing", "t.npy"), new Tensor(2)));
    }

    /// <summary>A read-only stream that hides its length, like a pipe or a decompressor.</summary>
    private sealed class NonSeekableStream(byte[] bytes) : Stream
    {
        private readonly MemoryStream _inner = new(bytes);
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        // Short reads on purpose: readers must loop.
        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, Math.Min(count, 3));
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
