// ActivationCache: a backbone's activations at a fine-tuning cut, one vector per sample key, in one file per backbone
// and cut next to the feature cache, so the frozen part runs once per frame and every epoch (and every later run) reads
// the result. Memory-bounded: entries are read from the file unless the wanted set fits a budget. New entries go to a
// new file that replaces the old one atomically on Commit; a failed write (a full disk) leaves the old file as it was.
// Knows nothing about images or networks beyond the identifying strings.
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace CameraCnn.Engine.Teach;

/// <summary>Where computed vectors go: a <see cref="FeatureCache"/> or an <see cref="ActivationCache"/>.</summary>
public interface IFeatureStore
{
    /// <summary>Values per vector.</summary>
    int Dimension { get; }
    bool Contains(string key);
    /// <summary>Stores (a copy of) the vector of <paramref name="key"/>.</summary>
    void Set(string key, ReadOnlySpan<float> values);
}

/// <summary>
/// Activation vectors of <see cref="Dimension"/> floats keyed by sample (the teach data set's keys), tagged with the
/// backbone and the cut node that produced them. Thread-safe. Dispose it: an uncommitted new file is deleted then.
/// </summary>
public sealed class ActivationCache : IFeatureStore, IDisposable
{
    private static readonly byte[] Magic = "CCNNACTV"u8.ToArray();
    private const int Version = 1;
    /// <summary>Bounds a file is checked against before anything is allocated.</summary>
    public const int MaxKeyBytes = 4096, MaxDimension = 1 << 24;

    private readonly Lock _lock = new();
    // Where each entry's values are: in the committed file (_file) or in the new file being written (_pending).
    private readonly Dictionary<string, (bool Pending, long Offset)> _index = new(StringComparer.Ordinal);
    private FileStream? _file, _pending;
    private string? _pendingPath;
    private long _pendingCount, _countOffset;
    private bool _dropped; // entries of the old file were left out (prune) or the old file was unusable
    private Dictionary<string, float[]>? _memory;

    private ActivationCache(string? path, string backbone, string cut, int[] shape)
    {
        ArgumentException.ThrowIfNullOrEmpty(backbone);
        ArgumentException.ThrowIfNullOrEmpty(cut);
        ArgumentNullException.ThrowIfNull(shape);
        long d = Tensor.CheckedLength(shape);
        if (shape.Length == 0 || d <= 0 || d > MaxDimension) throw new ArgumentOutOfRangeException(nameof(shape), $"activations of {Tensor.Format(shape)} per sample are not cacheable");
        if (!BitConverter.IsLittleEndian) throw new NotSupportedException("activation cache files are little-endian; this machine is not");
        Path = path;
        Backbone = backbone;
        Cut = cut;
        Shape = (int[])shape.Clone();
        Dimension = (int)d;
    }

    /// <summary>The file this cache commits to; null for a cache that is never saved (its entries live in a temp file).</summary>
    public string? Path { get; }
    public string Backbone { get; }
    /// <summary>Name of the cut node.</summary>
    public string Cut { get; }
    /// <summary>Shape of one sample's activations (no batch), e.g. [512, 7, 7].</summary>
    public int[] Shape { get; }
    public int Dimension { get; }
    /// <summary>Bytes one entry's values take.</summary>
    public long EntryBytes => 4L * Dimension;

    public int Count
    {
        get { lock (_lock) return _index.Count; }
    }

    /// <summary>True when the entries asked for by <see cref="HoldInMemory"/> are in memory (else they are read from disk).</summary>
    public bool InMemory
    {
        get { lock (_lock) return _memory is not null; }
    }

    /// <summary>The cache file's name for a backbone and a cut, inside a data folder (hidden, as the feature cache's).</summary>
    public static string FileName(string backbone, string cut) => $".camcnn-activations-{Sanitize(backbone)}-{Sanitize(cut)}.bin";

    private static string Sanitize(string s)
    {
        var chars = s.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_').ToArray();
        return chars.Length == 0 ? "x" : new string(chars);
    }

    /// <summary>An empty cache that commits to <paramref name="path"/> (replacing whatever is there), or never (null).</summary>
    public static ActivationCache Create(string? path, string backbone, string cut, int[] shape)
    {
        var cache = new ActivationCache(path, backbone, cut, shape);
        cache._dropped = path is not null && File.Exists(path);
        return cache;
    }

    /// <summary>
    /// Opens the cache file at <paramref name="path"/>, reading only its keys (the values stay on disk). A missing file
    /// gives an empty cache.
    /// </summary>
    /// <exception cref="InvalidDataException">Not a cache file, truncated, or made for another backbone, cut or shape
    /// (the message says which); nothing of it is used.</exception>
    /// <exception cref="IOException">The file exists but cannot be read.</exception>
    public static ActivationCache Open(string path, string backbone, string cut, int[] shape)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var cache = new ActivationCache(path, backbone, cut, shape);
        if (!File.Exists(path)) return cache;
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        try
        {
            cache.ReadIndex(file, path);
            cache._file = file;
            return cache;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private void ReadIndex(FileStream file, string path)
    {
        long length = file.Length;
        using var r = new BinaryReader(file, Encoding.UTF8, leaveOpen: true);
        try
        {
            if (!r.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic)) throw new InvalidDataException($"{path} is not a camcnn activation cache");
            int version = r.ReadInt32();
            if (version != Version) throw new InvalidDataException($"{path} is activation cache version {version}, this program reads {Version}");
            string backbone = ReadString(r, path), cut = ReadString(r, path);
            int rank = r.ReadInt32();
            if (rank is < 1 or > 8) throw new InvalidDataException($"{path}: bad rank {rank}");
            var shape = new int[rank];
            for (int i = 0; i < rank; i++) shape[i] = r.ReadInt32();
            if (backbone != Backbone || cut != Cut || !shape.AsSpan().SequenceEqual(Shape))
                throw new InvalidDataException($"{path} holds activations of backbone '{backbone}' at '{cut}' {Tensor.Format(shape)}, " +
                                               $"not of '{Backbone}' at '{Cut}' {Tensor.Format(Shape)}");
            long count = r.ReadInt64();
            if (count < 0 || count > length / Math.Max(1, EntryBytes)) throw new InvalidDataException($"{path}: bad entry count {count}");
            for (long e = 0; e < count; e++)
            {
                string key = ReadString(r, path);
                long at = file.Position;
                if (at + EntryBytes > length) throw new InvalidDataException($"{path} is truncated");
                if (!_index.TryAdd(key, (false, at))) throw new InvalidDataException($"{path}: key '{key}' appears twice");
                file.Position = at + EntryBytes;
            }
            if (file.Position != length) throw new InvalidDataException($"{path} has {length - file.Position} bytes after its last entry");
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException($"{path} is truncated");
        }
    }

    private static string ReadString(BinaryReader r, string path)
    {
        int len = r.ReadInt32();
        if (len < 0 || len > MaxKeyBytes) throw new InvalidDataException($"{path}: a {len}-byte string is longer than {MaxKeyBytes}");
        var bytes = r.ReadBytes(len);
        if (bytes.Length != len) throw new EndOfStreamException();
        return Encoding.UTF8.GetString(bytes);
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write(bytes.Length);
        w.Write(bytes);
    }

    public bool Contains(string key)
    {
        lock (_lock) return _index.ContainsKey(key);
    }

    /// <summary>
    /// Appends the activations of <paramref name="key"/> to the new file (created on the first call, beside
    /// <see cref="Path"/> or in the temp folder). They are readable at once and kept on <see cref="Commit"/>.
    /// </summary>
    /// <exception cref="IOException">The write failed (e.g. the disk is full); the old file is untouched.</exception>
    public void Set(string key, ReadOnlySpan<float> values)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (values.Length != Dimension) throw new ArgumentException($"activations have {values.Length} values, the cache holds {Dimension}", nameof(values));
        if (Encoding.UTF8.GetByteCount(key) > MaxKeyBytes) throw new ArgumentException($"key longer than {MaxKeyBytes} bytes", nameof(key));
        lock (_lock)
        {
            var w = Pending();
            var keyBytes = Encoding.UTF8.GetBytes(key);
            w.Write(BitConverter.GetBytes(keyBytes.Length));
            w.Write(keyBytes);
            long at = w.Position;
            w.Write(MemoryMarshal.AsBytes(values));
            _index[key] = (true, at);
            _pendingCount++;
            if (_memory is not null && _memory.ContainsKey(key)) _memory[key] = values.ToArray();
        }
    }

    /// <summary>The new file, created with its header on first use.</summary>
    private FileStream Pending()
    {
        if (_pending is not null) return _pending;
        string dir = Path is null ? System.IO.Path.GetTempPath() : System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(Path)) ?? ".";
        string name = Path is null ? "camcnn-activations" : System.IO.Path.GetFileName(Path);
        string temp = System.IO.Path.Combine(dir, $".{name}.{System.IO.Path.GetRandomFileName()}.tmp");
        var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read, 1 << 16);
        try
        {
            using var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
            w.Write(Magic);
            w.Write(Version);
            WriteString(w, Backbone);
            WriteString(w, Cut);
            w.Write(Shape.Length);
            foreach (int d in Shape) w.Write(d);
            _countOffset = stream.Position;
            w.Write(0L);
        }
        catch
        {
            stream.Dispose();
            TryDelete(temp);
            throw;
        }
        _pending = stream;
        _pendingPath = temp;
        return stream;
    }

    /// <summary>
    /// Reads the activations of <paramref name="key"/> into <paramref name="destination"/>: from memory when
    /// <see cref="HoldInMemory"/> took them in, else from the file. False when the key is absent.
    /// </summary>
    public bool TryRead(string key, Span<float> destination)
    {
        if (destination.Length != Dimension) throw new ArgumentException($"destination has {destination.Length} values, the cache holds {Dimension}", nameof(destination));
        lock (_lock)
        {
            if (_memory is not null && _memory.TryGetValue(key, out var held))
            {
                held.CopyTo(destination);
                return true;
            }
            if (!_index.TryGetValue(key, out var entry)) return false;
            var stream = entry.Pending ? _pending! : _file!;
            if (entry.Pending) stream.Flush();
            ReadAt(stream.SafeFileHandle, entry.Offset, destination);
            return true;
        }
    }

    private static void ReadAt(SafeFileHandle handle, long offset, Span<float> destination)
    {
        var bytes = MemoryMarshal.AsBytes(destination);
        while (bytes.Length > 0)
        {
            int n = RandomAccess.Read(handle, bytes, offset);
            if (n <= 0) throw new IOException("the activation cache file ended early");
            bytes = bytes[n..];
            offset += n;
        }
    }

    /// <summary>
    /// Holds the entries of <paramref name="keys"/> in memory when they fit in <paramref name="budgetBytes"/> (one read
    /// each, then no disk access); otherwise every read goes to the file. Returns whether they are held.
    /// </summary>
    public bool HoldInMemory(IReadOnlyCollection<string> keys, long budgetBytes)
    {
        ArgumentNullException.ThrowIfNull(keys);
        lock (_lock)
        {
            _memory = null;
            if ((long)keys.Count * EntryBytes > budgetBytes) return false;
            var memory = new Dictionary<string, float[]>(keys.Count, StringComparer.Ordinal);
            foreach (string key in keys)
            {
                var values = new float[Dimension];
                if (TryRead(key, values)) memory[key] = values;
            }
            _memory = memory;
            return true;
        }
    }

    /// <summary>
    /// Makes the entries permanent: writes the new file (the entries <see cref="Set"/> since opening, plus those of the
    /// old file that <paramref name="keep"/> accepts; null keeps all), flushes it to disk and renames it over
    /// <see cref="Path"/>. Nothing is written when nothing changed. A cache without a path keeps its temp file.
    /// Returns how many old entries were pruned.
    /// </summary>
    /// <exception cref="IOException">The write failed (e.g. the disk is full); the old file is untouched and the
    /// cache is unusable (dispose it).</exception>
    public int Commit(Func<string, bool>? keep = null)
    {
        lock (_lock)
        {
            if (Path is null) return 0;
            var pruned = _index.Where(e => !e.Value.Pending && keep is not null && !keep(e.Key)).Select(e => e.Key).ToArray();
            if (_pending is null && pruned.Length == 0 && !_dropped) return 0;
            foreach (var key in pruned)
            {
                _index.Remove(key);
                _memory?.Remove(key);
            }
            var w = Pending();
            long count = _pendingCount;
            var buffer = new float[Dimension];
            var moved = new List<(string Key, long Offset)>();
            foreach (var (key, entry) in _index)
            {
                if (entry.Pending) continue;
                ReadAt(_file!.SafeFileHandle, entry.Offset, buffer);
                var keyBytes = Encoding.UTF8.GetBytes(key);
                w.Write(BitConverter.GetBytes(keyBytes.Length));
                w.Write(keyBytes);
                moved.Add((key, w.Position));
                w.Write(MemoryMarshal.AsBytes(buffer.AsSpan()));
                count++;
            }
            w.Position = _countOffset;
            w.Write(BitConverter.GetBytes(count));
            w.Flush(flushToDisk: true);
            w.Position = w.Length;
            _file?.Dispose();
            _file = null;
            File.Move(_pendingPath!, Path, overwrite: true);
            // The renamed file stays open: it is the committed file now.
            _file = _pending;
            _pending = null;
            _pendingPath = null;
            _pendingCount = 0;
            _dropped = false;
            foreach (var key in _index.Keys.ToArray())
                if (_index[key].Pending) _index[key] = (false, _index[key].Offset);
            foreach (var (key, offset) in moved) _index[key] = (false, offset);
            return pruned.Length;
        }
    }

    /// <summary>Closes the files; a new file that was not committed is deleted.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _file?.Dispose();
            _file = null;
            if (_pending is not null)
            {
                try { _pending.Dispose(); } catch (IOException) { /* a full disk can fail the final flush too */ }
                _pending = null;
                TryDelete(_pendingPath!);
            }
            _memory = null;
        }
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* the caller's error matters more */ }
    }

    public override string ToString() => $"activations of '{Backbone}' at '{Cut}' {Tensor.Format(Shape)}: {Count} entries";
}
