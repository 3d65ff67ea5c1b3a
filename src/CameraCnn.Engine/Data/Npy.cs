// Npy: reads and writes NumPy .npy files (format 1.0/2.0/3.0) as float32 tensors, without needing NumPy.
using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using CameraCnn.Engine.IO;

namespace CameraCnn.Engine.Data;

/// <summary>
/// Reads NumPy .npy arrays of common numeric dtypes into float32 <see cref="Tensor"/>s, and writes
/// tensors as little-endian float32 .npy files. Malformed or truncated files raise
/// <see cref="InvalidDataException"/> with a one-line message that starts with the file name.
/// </summary>
public static class Npy
{
    // Spelled out: a u8 string literal would UTF-8-encode 0x93 as two bytes.
    private static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    // NumPy itself refuses headers over 10 000 bytes by default; a little more slack costs nothing.
    private const int MaxHeaderLength = 1 << 20;

    // Readers that mmap the data want it aligned; NumPy pads the preamble + header to this.
    private const int HeaderAlignment = 64;

    /// <summary>Reads an .npy file into a float32 tensor of the same shape (0-d arrays become rank-0 tensors).</summary>
    /// <exception cref="InvalidDataException">The file is not a valid, supported .npy array.</exception>
    public static Tensor Read(string path)
    {
        FileKind.EnsureReadableFile(path); // a FIFO would block the open, a device never end
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Read(stream, Path.GetFileName(path));
    }

    /// <summary>Reads one .npy array from the current position of <paramref name="stream"/>.</summary>
    /// <exception cref="InvalidDataException">The data is not a valid, supported .npy array.</exception>
    public static Tensor Read(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        string name = stream is FileStream fs ? Path.GetFileName(fs.Name) : "npy data";
        return Read(stream, name);
    }

    /// <summary>Atomically writes <paramref name="tensor"/> to <paramref name="path"/> as a '&lt;f4' .npy file (format 1.0).</summary>
    /// <exception cref="IOException">The file could not be written; any existing file is left as it was.</exception>
    public static void Write(string path, Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        AtomicFile.Write(path, s => Write(s, tensor));
    }

    /// <summary>Writes <paramref name="tensor"/> to <paramref name="stream"/> as a '&lt;f4' .npy array.</summary>
    public static void Write(Stream stream, Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(tensor);

        string shape = tensor.Rank == 1
            ? $"({tensor.Shape[0]},)"   // Python needs the trailing comma to make a 1-tuple
            : "(" + string.Join(", ", tensor.Shape) + ")";
        string dict = $"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}";

        // Version 1.0 has a 16-bit header length; only a shape with thousands of dims needs 2.0.
        int preamble = 10;
        int total = Align(preamble + dict.Length + 1);
        if (total - preamble > ushort.MaxValue)
        {
            preamble = 12;
            total = Align(preamble + dict.Length + 1);
        }
        int headerLength = total - preamble;

        var head = new byte[total];
        Magic.CopyTo(head);
        head[6] = preamble == 10 ? (byte)1 : (byte)2;
        head[7] = 0;
        if (preamble == 10) BinaryPrimitives.WriteUInt16LittleEndian(head.AsSpan(8), (ushort)headerLength);
        else BinaryPrimitives.WriteUInt32LittleEndian(head.AsSpan(8), (uint)headerLength);
        int at = preamble + Encoding.ASCII.GetBytes(dict, head.AsSpan(preamble));
        head.AsSpan(at, total - 1 - at).Fill((byte)' ');
        head[total - 1] = (byte)'\n';
        stream.Write(head);

        WriteFloats(stream, tensor.Data);
    }

    private static int Align(int n) => (n + HeaderAlignment - 1) / HeaderAlignment * HeaderAlignment;

    private static void WriteFloats(Stream stream, float[] data)
    {
        // Chunked so the byte view never exceeds int.MaxValue bytes for huge tensors.
        const int chunk = 1 << 18;
        if (BitConverter.IsLittleEndian)
        {
            for (int i = 0; i < data.Length; i += chunk)
                stream.Write(MemoryMarshal.AsBytes(data.AsSpan(i, Math.Min(chunk, data.Length - i))));
            return;
        }
        var buf = new byte[Math.Min(data.Length, chunk) * 4];
        for (int i = 0; i < data.Length; i += chunk)
        {
            int n = Math.Min(chunk, data.Length - i);
            for (int j = 0; j < n; j++) BinaryPrimitives.WriteSingleLittleEndian(buf.AsSpan(j * 4), data[i + j]);
            stream.Write(buf, 0, n * 4);
        }
    }

    private static Tensor Read(Stream stream, string name)
    {
        Span<byte> pre = stackalloc byte[8];
        int got = stream.ReadAtLeast(pre, 8, throwOnEndOfStream: false);
        if (got < 6 || !pre[..6].SequenceEqual(Magic))
            throw Bad(name, "not an .npy file (missing \\x93NUMPY magic)");
        if (got < 8) throw Bad(name, "truncated: file ends inside the preamble");

        byte major = pre[6], minor = pre[7];
        if (major is < 1 or > 3 || minor != 0)
            throw Bad(name, $"unsupported .npy format version {major}.{minor} (supported: 1.0, 2.0, 3.0)");

        Span<byte> lenBytes = stackalloc byte[4];
        int lenSize = major == 1 ? 2 : 4;
        if (stream.ReadAtLeast(lenBytes[..lenSize], lenSize, throwOnEndOfStream: false) < lenSize)
            throw Bad(name, "truncated: file ends inside the preamble");
        long headerLength = major == 1
            ? BinaryPrimitives.ReadUInt16LittleEndian(lenBytes)
            : BinaryPrimitives.ReadUInt32LittleEndian(lenBytes);
        if (headerLength > MaxHeaderLength)
            throw Bad(name, $"header length {headerLength} is implausibly large");

        var headerBytes = new byte[headerLength];
        int headerGot = stream.ReadAtLeast(headerBytes, headerBytes.Length, throwOnEndOfStream: false);
        if (headerGot < headerBytes.Length)
            throw Bad(name, $"truncated: expected a {headerLength}-byte header, got {headerGot} bytes");

        // Versions 1 and 2 are latin-1; version 3 exists only to allow UTF-8 (for field names).
        string header = major == 3 ? DecodeUtf8(headerBytes, name) : Encoding.Latin1.GetString(headerBytes);
        var (descr, fortran, shape) = ParseHeader(header, name);
        var dtype = ParseDescr(descr, name);

        long count;
        try { count = Tensor.CheckedLength(shape); }
        catch (ShapeException e) { throw Bad(name, e.Message); }

        if (fortran && shape.Count(d => d > 1) > 1)
            throw Bad(name, "Fortran-order (column-major) arrays are not supported; save with np.ascontiguousarray(a)");

        long dataBytes = count * dtype.Size;
        // Check before allocating, so a lying header on a short file cannot demand gigabytes.
        if (stream.CanSeek)
        {
            long remaining = stream.Length - stream.Position;
            if (remaining < dataBytes)
                throw Bad(name, $"truncated: expected {dataBytes} bytes of array data, got {remaining}");
        }

        var data = new float[count];
        ReadData(stream, dtype, data, dataBytes, name);
        return new Tensor(shape, data);
    }

    private static string DecodeUtf8(byte[] bytes, string name)
    {
        try { return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes); }
        catch (DecoderFallbackException) { throw Bad(name, "header is not valid UTF-8"); }
    }

    private readonly record struct DType(char Kind, int Size, bool BigEndian);

    private static DType ParseDescr(string descr, string name)
    {
        if (descr.Length < 3)
            throw Bad(name, $"unsupported dtype '{descr}'");
        char order = descr[0];
        char kind = descr[1];
        if (!int.TryParse(descr.AsSpan(2), NumberStyles.None, CultureInfo.InvariantCulture, out int size))
            throw Bad(name, $"unsupported dtype '{descr}'");

        bool supported = (kind, size) switch
        {
            ('f', 2 or 4 or 8) => true,
            ('i' or 'u', 1 or 2 or 4 or 8) => true,
            ('b', 1) => true,
            _ => false,
        };
        if (!supported)
            throw Bad(name, $"unsupported dtype '{descr}' (supported: float16/32/64, int/uint 8-64, bool)");

        bool big = order switch
        {
            '<' => false,
            '>' => true,
            '|' => false,
            // '=' means the writer's native order; nearly every machine that writes .npy is little-endian.
            '=' => !BitConverter.IsLittleEndian,
            _ => throw Bad(name, $"unsupported dtype '{descr}' (unknown byte order '{order}')"),
        };
        return new DType(kind, size, big && size > 1);
    }

    private static void ReadData(Stream stream, DType dtype, float[] data, long dataBytes, string name)
    {
        int size = dtype.Size;
        int perChunk = Math.Max(1, (1 << 20) / size);
        var buf = new byte[(int)Math.Min(dataBytes, (long)perChunk * size)];
        long bytesRead = 0;
        for (int start = 0; start < data.Length; start += perChunk)
        {
            int n = Math.Min(perChunk, data.Length - start);
            int want = n * size;
            int got = stream.ReadAtLeast(buf.AsSpan(0, want), want, throwOnEndOfStream: false);
            bytesRead += got;
            if (got < want)
                throw Bad(name, $"truncated: expected {dataBytes} bytes of array data, got {bytesRead}");

            Span<byte> bytes = buf.AsSpan(0, want);
            if (dtype.BigEndian != !BitConverter.IsLittleEndian)
            {
                // Normalise to the machine's order so one conversion loop serves both.
                for (int i = 0; i < want; i += size) bytes.Slice(i, size).Reverse();
            }
            Convert(dtype, bytes, data.AsSpan(start, n));
        }
    }

    // Bytes are in machine order here (see ReadData), so MemoryMarshal casts are safe.
    private static void Convert(DType dtype, ReadOnlySpan<byte> src, Span<float> dst)
    {
        switch (dtype.Kind, dtype.Size)
        {
            case ('f', 4): MemoryMarshal.Cast<byte, float>(src).CopyTo(dst); break;
            case ('f', 8): Widen(MemoryMarshal.Cast<byte, double>(src), dst, static v => (float)v); break;
            case ('f', 2): Widen(MemoryMarshal.Cast<byte, Half>(src), dst, static v => (float)v); break;
            case ('i', 1): Widen(MemoryMarshal.Cast<byte, sbyte>(src), dst, static v => v); break;
            case ('i', 2): Widen(MemoryMarshal.Cast<byte, short>(src), dst, static v => v); break;
            case ('i', 4): Widen(MemoryMarshal.Cast<byte, int>(src), dst, static v => v); break;
            case ('i', 8): Widen(MemoryMarshal.Cast<byte, long>(src), dst, static v => v); break;
            case ('u', 1): Widen(src, dst, static v => v); break;
            case ('u', 2): Widen(MemoryMarshal.Cast<byte, ushort>(src), dst, static v => v); break;
            case ('u', 4): Widen(MemoryMarshal.Cast<byte, uint>(src), dst, static v => v); break;
            case ('u', 8): Widen(MemoryMarshal.Cast<byte, ulong>(src), dst, static v => v); break;
            case ('b', 1): Widen(src, dst, static v => v != 0 ? 1f : 0f); break;
            default: throw new InvalidOperationException($"dtype {dtype} passed validation but has no converter");
        }
    }

    private static void Widen<T>(ReadOnlySpan<T> src, Span<float> dst, Func<T, float> convert)
    {
        for (int i = 0; i < src.Length; i++) dst[i] = convert(src[i]);
    }

    private static (string Descr, bool Fortran, int[] Shape) ParseHeader(string header, string name)
    {
        var p = new HeaderParser(header, name);
        var dict = p.ParseDict();

        if (!dict.TryGetValue("descr", out object? descrObj))
            throw Bad(name, "header has no 'descr' key");
        if (descrObj is not string descr)
            throw Bad(name, "structured (record) dtypes are not supported; 'descr' must be a simple type string");

        if (!dict.TryGetValue("fortran_order", out object? fortranObj) || fortranObj is not bool fortran)
            throw Bad(name, "header has no boolean 'fortran_order' key");

        if (!dict.TryGetValue("shape", out object? shapeObj) || shapeObj is not List<long> dims)
            throw Bad(name, "header has no tuple 'shape' key");

        var shape = new int[dims.Count];
        for (int i = 0; i < dims.Count; i++)
        {
            if (dims[i] < 0 || dims[i] > int.MaxValue)
                throw Bad(name, $"shape dimension {dims[i]} is out of range");
            shape[i] = (int)dims[i];
        }
        return (descr, fortran, shape);
    }

    /// <summary>
    /// Parses the Python dict literal NumPy writes: string keys; values that are strings, True/False,
    /// or tuples/lists of ints. Anything richer (structured dtypes) parses as an opaque marker.
    /// </summary>
    private sealed class HeaderParser(string text, string name)
    {
        private int _pos;

        // Stands in for values the reader does not interpret (e.g. a structured descr list).
        private static readonly object Opaque = new();

        public Dictionary<string, object> ParseDict()
        {
            SkipSpace();
            Expect('{');
            var dict = new Dictionary<string, object>(StringComparer.Ordinal);
            while (true)
            {
                SkipSpace();
                if (TryConsume('}')) break;
                string key = ParseString();
                SkipSpace();
                Expect(':');
                SkipSpace();
                if (!dict.TryAdd(key, ParseValue()))
                    throw Error($"duplicate key '{key}'");
                SkipSpace();
                if (TryConsume('}')) break;
                Expect(',');
            }
            SkipSpace();
            if (_pos != text.Length)
                throw Error("unexpected text after the closing '}'");
            return dict;
        }

        private object ParseValue()
        {
            if (_pos >= text.Length) throw Error("header ends where a value was expected");
            char c = text[_pos];
            if (c is '\'' or '"') return ParseString();
            if (c is '(' or '[') return ParseSequence();
            if (TryConsumeWord("True")) return true;
            if (TryConsumeWord("False")) return false;
            throw Error($"unexpected '{Printable(c)}' where a value was expected");
        }

        // Returns List<long> when every item is an integer, otherwise Opaque (e.g. structured dtypes).
        private object ParseSequence()
        {
            char close = text[_pos] == '(' ? ')' : ']';
            _pos++;
            var ints = new List<long>();
            bool allInts = true;
            while (true)
            {
                SkipSpace();
                if (TryConsume(close)) break;
                if (_pos < text.Length && (char.IsAsciiDigit(text[_pos]) || text[_pos] == '-'))
                    ints.Add(ParseInt());
                else
                {
                    ParseNested();
                    allInts = false;
                }
                SkipSpace();
                if (TryConsume(close)) break;
                Expect(',');
            }
            return allInts ? ints : Opaque;
        }

        private void ParseNested()
        {
            if (_pos >= text.Length) throw Error("header ends inside a tuple");
            char c = text[_pos];
            if (c is '\'' or '"') ParseString();
            else if (c is '(' or '[') ParseSequence();
            else if (!TryConsumeWord("True") && !TryConsumeWord("False"))
                throw Error($"unexpected '{Printable(c)}' inside a tuple");
        }

        private long ParseInt()
        {
            int start = _pos;
            if (text[_pos] == '-') _pos++;
            while (_pos < text.Length && char.IsAsciiDigit(text[_pos])) _pos++;
            if (!long.TryParse(text.AsSpan(start, _pos - start), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v))
                throw Error($"invalid integer '{text[start.._pos]}'");
            // Python 2 wrote longs as 3L.
            if (_pos < text.Length && text[_pos] is 'L' or 'l') _pos++;
            return v;
        }

        private string ParseString()
        {
            if (_pos >= text.Length || text[_pos] is not ('\'' or '"'))
                throw Error("expected a quoted string");
            char quote = text[_pos++];
            var sb = new StringBuilder();
            while (true)
            {
                if (_pos >= text.Length) throw Error("unterminated string");
                char c = text[_pos++];
                if (c == quote) return sb.ToString();
                if (c == '\\')
                {
                    if (_pos >= text.Length) throw Error("unterminated string");
                    c = text[_pos++];
                }
                sb.Append(c);
            }
        }

        private bool TryConsumeWord(string word)
        {
            if (string.CompareOrdinal(text, _pos, word, 0, word.Length) != 0) return false;
            int end = _pos + word.Length;
            if (end < text.Length && (char.IsAsciiLetterOrDigit(text[end]) || text[end] == '_')) return false;
            _pos = end;
            return true;
        }

        private void SkipSpace()
        {
            while (_pos < text.Length && char.IsWhiteSpace(text[_pos])) _pos++;
        }

        private bool TryConsume(char c)
        {
            if (_pos < text.Length && text[_pos] == c) { _pos++; return true; }
            return false;
        }

        private void Expect(char c)
        {
            if (TryConsume(c)) return;
            string found = _pos < text.Length ? $"'{Printable(text[_pos])}'" : "the end of the header";
            throw Error($"expected '{c}' but found {found}");
        }

        private static string Printable(char c) => char.IsControl(c) ? $"\\x{(int)c:x2}" : c.ToString();

        private InvalidDataException Error(string what) => Bad(name, $"malformed header at offset {_pos}: {what}");
    }

    private static InvalidDataException Bad(string name, string message) =>
        new($"{name}: {message.ReplaceLineEndings(" ")}");
}
