// FeatureCache: backbone features computed once per recorded frame, kept in memory under a caller-chosen key and
// optionally persisted to one binary file, so a reopened data set trains without running the backbone again. Knows
// nothing about images or backbones beyond an identifying string; writes are atomic, a bad file is refused whole.
using System.Text;
using CameraCnn.Engine.IO;

namespace CameraCnn.Engine.Teach;

/// <summary>What <see cref="FeatureCache.Save"/> wrote: entries, file size, and entries left out to keep within the bound.</summary>
public readonly record struct CacheFileReport(int Entries, long Bytes, int LeftOut);

/// <summary>
/// A thread-safe map from a sample key (e.g. file name + size + time, so a changed file misses) to its feature
/// vector of <see cref="Dimension"/> floats, tagged with the backbone that computed them.
/// </summary>
public sealed class FeatureCache : IFeatureStore
{
    private static readonly byte[] Magic = "CCNNFEAT"u8.ToArray();
    private const int Version = 1;
    /// <summary>Bounds a file is checked against before anything is allocated.</summary>
    public const int MaxDimension = 1 << 16, MaxKeyBytes = 4096;
    /// <summary>Default bound on a cache file: 256 MB, some 120 000 ResNet18 feature vectors.</summary>
    public const long DefaultMaxFileBytes = 256L << 20;

    private readonly Dictionary<string, float[]> _entries = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <param name="backbone">identifies the network (and its preprocessing) that produced the features.</param>
    public FeatureCache(string backbone, int dimension)
    {
        ArgumentException.ThrowIfNullOrEmpty(backbone);
        if (dimension <= 0 || dimension > MaxDimension) throw new ArgumentOutOfRangeException(nameof(dimension), $"the dimension must be in [1, {MaxDimension}]");
        Backbone = backbone;
        Dimension = dimension;
    }

    public string Backbone { get; }
    public int Dimension { get; }

    /// <summary>
    /// The largest file <see cref="Save"/> writes. Entries beyond it stay in memory but are not saved (augmented copies
    /// first, then by key order); <see cref="CacheFileReport.LeftOut"/> says how many.
    /// </summary>
    public long MaxFileBytes { get; init; } = DefaultMaxFileBytes;

    public int Count
    {
        get { lock (_lock) return _entries.Count; }
    }

    /// <summary>Stores (a copy of) the features of <paramref name="key"/>, replacing any earlier value.</summary>
    public void Set(string key, ReadOnlySpan<float> features)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (features.Length != Dimension) throw new ArgumentException($"features have {features.Length} values, the cache holds {Dimension}", nameof(features));
        if (Encoding.UTF8.GetByteCount(key) > MaxKeyBytes) throw new ArgumentException($"key longer than {MaxKeyBytes} bytes", nameof(key));
        var copy = features.ToArray();
        lock (_lock) _entries[key] = copy;
    }

    /// <summary>Copies the features of <paramref name="key"/> into <paramref name="destination"/>; false when absent.</summary>
    public bool TryGet(string key, Span<float> destination)
    {
        if (destination.Length != Dimension) throw new ArgumentException($"destination has {destination.Length} values, the cache holds {Dimension}", nameof(destination));
        lock (_lock)
        {
            if (!_entries.TryGetValue(key, out var f)) return false;
            f.CopyTo(destination);
            return true;
        }
    }

    public bool Contains(string key)
    {
        lock (_lock) return _entries.ContainsKey(key);
    }

    public bool Remove(string key)
    {
        lock (_lock) return _entries.Remove(key);
    }

    /// <summary>Drops every entry whose key <paramref name="keep"/> rejects (e.g. frames deleted from disk). Returns how many.</summary>
    public int Prune(Func<string, bool> keep)
    {
        lock (_lock)
        {
            var gone = _entries.Keys.Where(k => !keep(k)).ToArray();
            foreach (var k in gone) _entries.Remove(k);
            return gone.Length;
        }
    }

    /// <summary>
    /// Writes the entries to <paramref name="path"/> atomically (a crash mid-write leaves the previous file), at most
    /// <see cref="MaxFileBytes"/> of them. Format: "CCNNFEAT", int32 version, backbone string, int32 dimension, int32
    /// count, then per entry the key string and dimension float32s (little-endian; strings as BinaryWriter writes them).
    /// </summary>
    /// <exception cref="IOException">The file cannot be written; any previous file is untouched.</exception>
    public CacheFileReport Save(string path)
    {
        KeyValuePair<string, float[]>[] entries;
        lock (_lock) entries = _entries.OrderBy(e => e.Key.Contains('#') ? 1 : 0).ThenBy(e => e.Key, StringComparer.Ordinal).ToArray();
        long bytes = HeaderBytes(), vector = 4L * Dimension;
        int kept = 0;
        while (kept < entries.Length)
        {
            long entry = StringBytes(entries[kept].Key) + vector;
            if (bytes + entry > MaxFileBytes) break;
            bytes += entry;
            kept++;
        }
        var written = entries.AsSpan(0, kept).ToArray();
        Array.Sort(written, (a, b) => StringComparer.Ordinal.Compare(a.Key, b.Key));
        AtomicFile.Write(path, stream =>
        {
            using var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
            w.Write(Magic);
            w.Write(Version);
            w.Write(Backbone);
            w.Write(Dimension);
            w.Write(written.Length);
            foreach (var (key, f) in written)
            {
                w.Write(key);
                foreach (float v in f) w.Write(v);
            }
        });
        return new CacheFileReport(kept, bytes, entries.Length - kept);
    }

    private long HeaderBytes() => Magic.Length + 4 + StringBytes(Backbone) + 4 + 4;

    /// <summary>Bytes BinaryWriter.Write(string) takes: a 7-bit-encoded length, then UTF-8.</summary>
    private static long StringBytes(string s)
    {
        int n = Encoding.UTF8.GetByteCount(s), prefix = 1;
        for (int v = n >> 7; v > 0; v >>= 7) prefix++;
        return prefix + n;
    }

    /// <summary>
    /// Reads a cache file written by <see cref="Save"/>. A missing file gives an empty cache.
    /// </summary>
    /// <exception cref="InvalidDataException">Not a cache file, truncated, inconsistent sizes, or made by another
    /// backbone or dimension (the message says which); nothing of it is used.</exception>
    /// <exception cref="IOException">The file exists but cannot be read.</exception>
    public static FeatureCache Load(string path, string backbone, int dimension)
    {
        var cache = new FeatureCache(backbone, dimension);
        if (!File.Exists(path)) return cache;
        if (!BitConverter.IsLittleEndian) throw new NotSupportedException("feature cache files are little-endian; this machine is not");
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        long length = stream.Length;
        using var r = new BinaryReader(stream, Encoding.UTF8);
        try
        {
            var magic = r.ReadBytes(Magic.Length);
            if (!magic.AsSpan().SequenceEqual(Magic)) throw new InvalidDataException($"{path} is not a camcnn feature cache");
            int version = r.ReadInt32();
            if (version != Version) throw new InvalidDataException($"{path}: feature cache version {version}, expected {Version}");
            string fileBackbone = ReadString(r, path);
            int fileDim = r.ReadInt32();
            if (fileBackbone != backbone || fileDim != dimension)
                throw new InvalidDataException($"{path} holds features of '{fileBackbone}' ({fileDim} values), not of '{backbone}' ({dimension})");
            int count = r.ReadInt32();
            // Every entry takes at least 1 + 4 * dimension bytes: a count the file cannot hold is refused before allocating.
            if (count < 0 || (long)count * (1 + 4L * dimension) > length - stream.Position)
                throw new InvalidDataException($"{path}: {count} entries do not fit in {length} bytes");
            var buffer = new byte[4 * dimension];
            for (int e = 0; e < count; e++)
            {
                string key = ReadString(r, path);
                if (r.Read(buffer, 0, buffer.Length) != buffer.Length) throw new EndOfStreamException();
                var f = new float[dimension];
                Buffer.BlockCopy(buffer, 0, f, 0, buffer.Length);
                foreach (float v in f)
                    if (!float.IsFinite(v)) throw new InvalidDataException($"{path}: entry '{key}' holds a non-finite value");
                cache._entries[key] = f;
            }
            if (stream.Position != length) throw new InvalidDataException($"{path}: {length - stream.Position} bytes after the last entry");
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException($"{path} is truncated");
        }
        return cache;
    }

    private static string ReadString(BinaryReader r, string path)
    {
        // BinaryReader.ReadString trusts the 7-bit length prefix; bound it first so a corrupt file cannot ask for gigabytes.
        long at = r.BaseStream.Position;
        int len = 0, shift = 0;
        byte b;
        do
        {
            b = r.ReadByte();
            len |= (b & 0x7F) << shift;
            shift += 7;
            if (shift > 28) throw new InvalidDataException($"{path}: bad string length");
        } while ((b & 0x80) != 0);
        if (len < 0 || len > MaxKeyBytes) throw new InvalidDataException($"{path}: a {len}-byte string is longer than {MaxKeyBytes}");
        r.BaseStream.Position = at;
        return r.ReadString();
    }
}
