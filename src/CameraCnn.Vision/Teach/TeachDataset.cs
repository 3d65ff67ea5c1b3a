// TeachDataset: teach mode's recorded frames on disk: an ImageFolder (DIR/<class>/<class>_NNNNNN.png) reopened and
// extended run after run, with a small manifest (DIR/.camcnn-teach.json) that pins each class to its number key so a
// rename or a new class never reorders them. Add, delete-last, rename and counts; every write is atomic and a failed
// one leaves what was saved before. It computes no features and trains nothing.
using System.Text.Json;
using System.Text.Json.Serialization;
using CameraCnn.Engine.IO;
using OpenCvSharp;

namespace CameraCnn.Vision.Teach;

/// <summary>One class of a <see cref="TeachDataset"/>: its number (key 1 is index 0), name (= folder name) and sample count.</summary>
public sealed record TeachClass(int Index, string Name, int Count, string Directory);

/// <summary>One recorded frame on disk.</summary>
public sealed class TeachSample
{
    internal TeachSample(int classIndex, string path, string key)
    {
        ClassIndex = classIndex;
        Path = path;
        Key = key;
    }

    public int ClassIndex { get; }
    /// <summary>Full path; changes when the class is renamed (the folder moves).</summary>
    public string Path { get; internal set; }
    /// <summary>
    /// Identifies the file's content for feature caches: file name, size and last-write time. A rename of the class
    /// folder keeps it; a file replaced by another gets a new key.
    /// </summary>
    public string Key { get; }

    public override string ToString() => System.IO.Path.GetFileName(Path);
}

/// <summary>
/// The on-disk data set of teach mode. Classes are numbered 0, 1, ... (key k records into class k - 1) by the
/// manifest; folders without an entry (e.g. made by <c>camcnn collect</c>) take the free numbers in name order.
/// Hidden files and folders are ignored; other files that are not images (.png, .jpg, .jpeg, .bmp) are skipped and
/// counted in <see cref="ForeignFiles"/>. Whether an image decodes is found out when its features are computed.
/// Thread-safe (one lock); file writes happen on the caller's thread, so call the writing methods off the render
/// thread (<see cref="TeachRecorder"/> does).
/// </summary>
public sealed class TeachDataset
{
    public const string ManifestFileName = ".camcnn-teach.json";
    /// <summary>Highest class number + 1 the manifest may use.</summary>
    public const int MaxClasses = 1000;

    private sealed class ClassState(int index, string name, string directory)
    {
        public int Index = index;
        public string Name = name;
        public string Directory = directory;
        public readonly List<TeachSample> Samples = [];
        public SampleWriter? Writer;
    }

    private readonly Lock _lock = new();
    private readonly SortedDictionary<int, ClassState> _classes = new();
    private readonly List<TeachSample> _recent = []; // recorded by this instance, newest last (DeleteLast)
    private readonly List<string> _warnings = [];
    private readonly List<string> _foreign = [];
    private int _version, _nested;

    private TeachDataset(string directory, string? testDirectory)
    {
        Directory = directory;
        TestDirectory = testDirectory;
    }

    /// <summary>The data set's root folder (full path): the folder opened, or its train/ (see <see cref="TestDirectory"/>).</summary>
    public string Directory { get; }

    /// <summary>
    /// The held-out test/ folder when the folder opened has train/ and test/ sub-folders (<see cref="ImageFolderLayout"/>,
    /// the rule `camcnn train` reads folders by): the classes and recordings are then those of train/. Else null.
    /// </summary>
    public string? TestDirectory { get; }

    /// <summary>Image files in folders below the class folders: not samples (a class is one folder of images), counted.</summary>
    public int NestedImages
    {
        get { lock (_lock) return _nested; }
    }

    /// <summary>Test hook: opens the temp file a sample is written to (e.g. a stream that fails like a full disk).</summary>
    internal Func<string, Stream>? OpenTempFile { get; set; }

    /// <summary>Problems met while opening (an unreadable manifest, folders it could not list), one line each.</summary>
    public IReadOnlyList<string> Warnings
    {
        get { lock (_lock) return _warnings.ToArray(); }
    }

    /// <summary>Files in class folders that are not images, skipped.</summary>
    public int ForeignFiles
    {
        get { lock (_lock) return _foreign.Count; }
    }

    public IReadOnlyList<string> ForeignFilePaths
    {
        get { lock (_lock) return _foreign.ToArray(); }
    }

    /// <summary>Goes up by one with every change (sample added or deleted, class added or renamed).</summary>
    public int Version
    {
        get { lock (_lock) return _version; }
    }

    /// <summary>The default data folder of teach mode: LocalApplicationData/camcnn/teach.</summary>
    public static string DefaultDirectory =>
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify), "camcnn", "teach");

    /// <summary>
    /// Opens (and, with <paramref name="create"/>, creates) the data folder and lists its classes and samples. Nothing
    /// is written to an existing folder until something changes.
    /// </summary>
    /// <exception cref="IOException">The folder is a file, cannot be created or cannot be listed (one line naming it).</exception>
    /// <exception cref="DirectoryNotFoundException">It does not exist and <paramref name="create"/> is false.</exception>
    public static TeachDataset Open(string directory, bool create = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        string full = Path.GetFullPath(directory);
        if (File.Exists(full)) throw new IOException($"teach data folder {directory} is a file, not a folder");
        if (!System.IO.Directory.Exists(full))
        {
            if (!create) throw new DirectoryNotFoundException($"data folder not found: {directory}");
            try { System.IO.Directory.CreateDirectory(full); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new IOException($"cannot create teach data folder {directory}: {OneLine(e.Message)}", e);
            }
        }
        var layout = ImageFolderLayout.Of(full);
        var ds = new TeachDataset(Path.GetFullPath(layout.Train), layout.Test is null ? null : Path.GetFullPath(layout.Test));
        try
        {
            ds.Scan();
        }
        catch (UnauthorizedAccessException e)
        {
            throw new IOException($"permission denied: cannot read teach data folder {directory}", e);
        }
        catch (IOException e)
        {
            throw new IOException($"cannot list teach data folder {directory}: {OneLine(e.Message)}", e);
        }
        return ds;
    }

    // Skips hidden entries; a folder we may not read is reported, not taken for an empty class.
    private static readonly EnumerationOptions Listing = new() { RecurseSubdirectories = false, IgnoreInaccessible = false };

    private void Scan()
    {
        string[] folders = System.IO.Directory.EnumerateDirectories(Directory, "*", Listing)
            .Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToArray();
        var manifest = ReadManifest();
        var byName = folders.ToHashSet(StringComparer.Ordinal);
        var taken = new HashSet<int>();
        var placed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in manifest)
        {
            // An entry whose folder is gone (deleted by hand) is dropped; its number becomes free.
            if (!byName.Contains(entry.Name) || !taken.Add(entry.Index) || !placed.Add(entry.Name)) continue;
            _classes[entry.Index] = new ClassState(entry.Index, entry.Name, Path.Combine(Directory, entry.Name));
        }
        int next = 0;
        foreach (string folder in folders.Where(f => !placed.Contains(f)))
        {
            while (taken.Contains(next)) next++;
            taken.Add(next);
            _classes[next] = new ClassState(next, folder, Path.Combine(Directory, folder));
        }
        foreach (var c in _classes.Values) ListSamples(c);
    }

    private void ListSamples(ClassState c)
    {
        var files = new List<FileInfo>();
        try
        {
            foreach (var f in new DirectoryInfo(c.Directory).EnumerateFiles("*", Listing))
            {
                // A FIFO or device named like an image would block or never end when read: skipped as foreign.
                if (ImageFolder.IsImageFile(f.Name) && FileKind.Of(f.FullName) is PathKind.File or PathKind.Unknown) files.Add(f);
                else _foreign.Add(f.FullName);
            }
        }
        catch (UnauthorizedAccessException)
        {
            _warnings.Add($"permission denied: cannot read class folder {c.Directory}; its frames are left out");
            return;
        }
        catch (IOException e)
        {
            _warnings.Add($"cannot list {c.Directory}: {OneLine(e.Message)}");
            return;
        }
        var nested = ImageFolder.NestedImages(c.Directory).ToArray();
        if (nested.Length > 0)
        {
            _nested += nested.Length;
            _warnings.Add($"ignored {nested.Length} image(s) in folders below class folder {c.Name}, e.g. {nested[0]} (a class is one folder of images)");
        }
        // Recording order: write time, then name (names count up within a class name).
        foreach (var f in files.OrderBy(f => f.LastWriteTimeUtc).ThenBy(f => f.Name, StringComparer.Ordinal))
            c.Samples.Add(new TeachSample(c.Index, f.FullName, KeyOf(f)));
    }

    /// <summary>The cache key of a file: name, size and last-write time (see <see cref="TeachSample.Key"/>).</summary>
    public static string KeyOf(FileInfo file) => $"{file.Name}|{file.Length}|{file.LastWriteTimeUtc.Ticks}";

    // ---- manifest -------------------------------------------------------------------------------------------------

    private sealed record ManifestEntry(
        [property: JsonPropertyName("index")] int Index,
        [property: JsonPropertyName("name")] string Name);

    private sealed record Manifest(
        [property: JsonPropertyName("version")] int Version,
        [property: JsonPropertyName("classes")] ManifestEntry[] Classes);

    private string ManifestPath => Path.Combine(Directory, ManifestFileName);

    private ManifestEntry[] ReadManifest()
    {
        if (!File.Exists(ManifestPath)) return [];
        try
        {
            var info = new FileInfo(ManifestPath);
            if (info.Length > 1 << 20) throw new InvalidDataException("larger than 1 MB");
            var m = JsonSerializer.Deserialize<Manifest>(File.ReadAllText(ManifestPath)) ?? throw new InvalidDataException("empty");
            if (m.Classes is null) throw new InvalidDataException("no class list");
            foreach (var e in m.Classes)
            {
                if (e is null || e.Index < 0 || e.Index >= MaxClasses || string.IsNullOrEmpty(e.Name))
                    throw new InvalidDataException("a class entry without a valid index and name");
                if (e.Name.Contains('/') || e.Name.Contains('\\') || e.Name is "." or "..")
                    throw new InvalidDataException($"class name '{e.Name}' is not a folder name");
            }
            return m.Classes;
        }
        catch (Exception e) when (e is JsonException or InvalidDataException or IOException or UnauthorizedAccessException or NotSupportedException)
        {
            _warnings.Add($"ignored {ManifestPath} ({OneLine(e.Message)}); classes are numbered in folder-name order");
            return [];
        }
    }

    private void WriteManifest()
    {
        var m = new Manifest(1, _classes.Values.Select(c => new ManifestEntry(c.Index, c.Name)).ToArray());
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(m, new JsonSerializerOptions { WriteIndented = true });
        AtomicFile.WriteAllBytes(ManifestPath, json);
    }

    // ---- reading --------------------------------------------------------------------------------------------------

    /// <summary>The classes by number, with their current sample counts.</summary>
    public IReadOnlyList<TeachClass> Classes
    {
        get { lock (_lock) return _classes.Values.Select(Snapshot).ToArray(); }
    }

    private static TeachClass Snapshot(ClassState c) => new(c.Index, c.Name, c.Samples.Count, c.Directory);

    /// <summary>The class with number <paramref name="index"/>, or null.</summary>
    public TeachClass? Class(int index)
    {
        lock (_lock) return _classes.TryGetValue(index, out var c) ? Snapshot(c) : null;
    }

    public int SampleCount
    {
        get { lock (_lock) return _classes.Values.Sum(c => c.Samples.Count); }
    }

    /// <summary>Every sample, by class number and then in recording order (a snapshot).</summary>
    public IReadOnlyList<TeachSample> Samples()
    {
        lock (_lock) return _classes.Values.SelectMany(c => c.Samples).ToArray();
    }

    public IReadOnlyList<TeachSample> SamplesOf(int index)
    {
        lock (_lock) return _classes.TryGetValue(index, out var c) ? c.Samples.ToArray() : [];
    }

    // ---- writing --------------------------------------------------------------------------------------------------

    /// <summary>
    /// The class with number <paramref name="index"/>, created (folder + manifest) as "class{index+1}" if it does not
    /// exist yet (a free variant of that name if it is taken).
    /// </summary>
    /// <exception cref="IOException">The folder or manifest cannot be written.</exception>
    public TeachClass EnsureClass(int index)
    {
        if (index < 0 || index >= MaxClasses) throw new ArgumentOutOfRangeException(nameof(index), $"class numbers run from 0 to {MaxClasses - 1}");
        lock (_lock)
        {
            if (_classes.TryGetValue(index, out var existing)) return Snapshot(existing);
            string name = FreeName($"class{index + 1}");
            return Snapshot(CreateClass(index, name));
        }
    }

    /// <summary>Creates a class with the given name at the lowest free number.</summary>
    /// <exception cref="ArgumentException">The name is unusable or taken.</exception>
    /// <exception cref="IOException">The folder or manifest cannot be written.</exception>
    public TeachClass AddClass(string name)
    {
        string clean = SampleWriter.SanitizeClassName(name);
        lock (_lock)
        {
            if (NameTaken(clean, -1)) throw new ArgumentException($"there is already a class named '{clean}'");
            int index = 0;
            while (_classes.ContainsKey(index)) index++;
            if (index >= MaxClasses) throw new InvalidOperationException($"the data set already has {MaxClasses} classes");
            return Snapshot(CreateClass(index, clean));
        }
    }

    private ClassState CreateClass(int index, string name)
    {
        string dir = Path.Combine(Directory, name);
        try
        {
            System.IO.Directory.CreateDirectory(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cannot create class folder {dir}: {OneLine(e.Message)}", e);
        }
        var c = new ClassState(index, name, dir);
        _classes[index] = c;
        try
        {
            WriteManifest();
        }
        catch (IOException)
        {
            _classes.Remove(index);
            TryDeleteEmptyDirectory(dir);
            throw;
        }
        _version++;
        return c;
    }

    /// <summary>Another class (not number <paramref name="except"/>) has this name, ignoring case (folders may be case-insensitive).</summary>
    private bool NameTaken(string name, int except) =>
        _classes.Values.Any(c => c.Index != except && string.Equals(c.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary><paramref name="stem"/>, or stem_2, stem_3...: the first name no class and no file or folder has.</summary>
    private string FreeName(string stem)
    {
        string name = stem;
        for (int k = 2; NameTaken(name, -1) || Path.Exists(Path.Combine(Directory, name)); k++) name = $"{stem}_{k}";
        return name;
    }

    /// <summary>
    /// Saves <paramref name="frame"/> as the newest sample of class <paramref name="index"/> (created if needed) and
    /// returns it. The PNG is written to a temp file, flushed and renamed, so a failure leaves no partial file.
    /// </summary>
    /// <exception cref="IOException">The disk is full, read-only, or the folder is gone; every earlier sample is kept.</exception>
    /// <exception cref="ArgumentException">The frame is empty.</exception>
    public TeachSample Add(int index, Mat frame)
    {
        ArgumentNullException.ThrowIfNull(frame);
        lock (_lock)
        {
            EnsureClass(index);
            var c = _classes[index];
            if (c.Writer is null)
            {
                if (SampleWriter.SanitizeClassName(c.Name) != c.Name)
                    throw new IOException($"class folder '{c.Name}' has characters teach mode does not write; rename the class first");
                c.Writer = new SampleWriter(Directory, c.Name, OpenTempFile);
            }
            string path = c.Writer.Save(frame);
            var sample = new TeachSample(index, path, KeyOf(new FileInfo(path)));
            c.Samples.Add(sample);
            _recent.Add(sample);
            _version++;
            return sample;
        }
    }

    /// <summary>
    /// Deletes the newest sample: of class <paramref name="index"/>, or with null the last one this instance recorded
    /// (skipping any already deleted). Returns it, or null when there is none.
    /// </summary>
    /// <exception cref="IOException">The file cannot be deleted; it stays in the data set.</exception>
    public TeachSample? DeleteLast(int? index = null)
    {
        lock (_lock)
        {
            TeachSample? victim = null;
            if (index is { } i)
            {
                if (_classes.TryGetValue(i, out var c) && c.Samples.Count > 0) victim = c.Samples[^1];
            }
            else
            {
                for (int k = _recent.Count - 1; k >= 0 && victim is null; k--)
                {
                    var s = _recent[k];
                    if (_classes.TryGetValue(s.ClassIndex, out var c) && c.Samples.Contains(s)) victim = s;
                    else _recent.RemoveAt(k);
                }
            }
            if (victim is null) return null;
            try
            {
                File.Delete(victim.Path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new IOException($"cannot delete {victim.Path}: {OneLine(e.Message)}", e);
            }
            _classes[victim.ClassIndex].Samples.Remove(victim);
            _recent.Remove(victim);
            _version++;
            return victim;
        }
    }

    /// <summary>
    /// Renames class <paramref name="index"/> (its folder moves; its number, samples and their keys stay). Returns the
    /// class with the name as it was sanitised for a folder.
    /// </summary>
    /// <exception cref="ArgumentException">The name has no usable characters or another class has it.</exception>
    /// <exception cref="KeyNotFoundException">No class has that number.</exception>
    /// <exception cref="IOException">The folder cannot be moved or the manifest written; nothing changed.</exception>
    public TeachClass Rename(int index, string name)
    {
        string clean = SampleWriter.SanitizeClassName(name);
        lock (_lock)
        {
            if (!_classes.TryGetValue(index, out var c)) throw new KeyNotFoundException($"there is no class {index + 1}");
            if (clean == c.Name) return Snapshot(c);
            if (NameTaken(clean, index)) throw new ArgumentException($"there is already a class named '{clean}'");
            string oldDir = c.Directory, newDir = Path.Combine(Directory, clean);
            bool caseOnly = string.Equals(c.Name, clean, StringComparison.OrdinalIgnoreCase);
            if (!caseOnly && (System.IO.Directory.Exists(newDir) || File.Exists(newDir)))
                throw new IOException($"cannot rename class '{c.Name}' to '{clean}': {newDir} already exists");
            try
            {
                System.IO.Directory.Move(oldDir, newDir);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new IOException($"cannot rename {oldDir} to {newDir}: {OneLine(e.Message)}", e);
            }
            string oldName = c.Name;
            c.Name = clean;
            c.Directory = newDir;
            try
            {
                WriteManifest();
            }
            catch (IOException)
            {
                c.Name = oldName;
                c.Directory = oldDir;
                try { System.IO.Directory.Move(newDir, oldDir); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
                throw;
            }
            c.Writer = null; // new files get the new name as prefix
            foreach (var s in c.Samples) s.Path = Path.Combine(newDir, Path.GetFileName(s.Path));
            _version++;
            return Snapshot(c);
        }
    }

    private static void TryDeleteEmptyDirectory(string dir)
    {
        try { System.IO.Directory.Delete(dir, recursive: false); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    private static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();
}
