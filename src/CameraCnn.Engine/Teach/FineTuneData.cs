// FineTuneData: the fine-tuner's input: for every recorded frame (and its augmented copies) the key of its activations
// in an ActivationCache, its class, and which frame it came from, in recording order. The values stay in the cache (on
// disk or in memory, as its budget says); this holds only the bookkeeping. No files, no OpenCV.
namespace CameraCnn.Engine.Teach;

/// <summary>
/// Labelled samples whose activations at the cut live in <see cref="Cache"/>. Add each class's samples in recording
/// order: the held-out split takes the newest frames of every class, as <see cref="HeadTrainer.Split(HeadData, double)"/>
/// does. Augmented copies name their frame (<c>group</c>) and follow it to its side of the split. Not thread-safe.
/// </summary>
public sealed class FineTuneData
{
    private readonly List<string> _keys = [];
    private readonly SampleBook _book;

    /// <param name="cache">where the activations are (every key added must be in it).</param>
    /// <param name="classNames">one name per label 0, 1, ...; classes without samples are left out of the result.</param>
    /// <param name="classIndices">the caller's number for each class; null: 0, 1, ...</param>
    public FineTuneData(ActivationCache cache, IReadOnlyList<string> classNames, IReadOnlyList<int>? classIndices = null)
    {
        ArgumentNullException.ThrowIfNull(cache);
        _book = new SampleBook(classNames, classIndices);
        Cache = cache;
    }

    public ActivationCache Cache { get; }
    public IReadOnlyList<string> ClassNames => _book.ClassNames;
    public IReadOnlyList<int> ClassIndices => _book.ClassIndices;
    public int Count => _book.Count;
    /// <summary>Samples that are not augmented copies.</summary>
    public int OriginalCount => _book.OriginalCount;
    /// <summary>Every sample's cache key, in order.</summary>
    public IReadOnlyList<string> Keys => _keys;

    /// <summary>
    /// Adds one sample. <paramref name="group"/>: a value an earlier <see cref="Add"/> returned to attach an augmented copy
    /// to its frame, or -1 for a new frame. Returns the sample's group.
    /// </summary>
    /// <exception cref="ArgumentException">The key is not in the cache, or the group is unknown.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The label is not a class.</exception>
    public int Add(int label, string key, int group = -1, bool augmented = false)
    {
        ArgumentNullException.ThrowIfNull(key);
        _book.Check(label, group);
        if (!Cache.Contains(key)) throw new ArgumentException($"the activation cache has no entry '{key}'", nameof(key));
        _keys.Add(key);
        return _book.Add(label, group, augmented);
    }

    /// <summary>Original (not augmented) samples per class.</summary>
    public int[] CountPerClass() => _book.CountPerClass();

    internal string Key(int i) => _keys[i];
    internal int Label(int i) => _book.Label(i);
    internal int Group(int i) => _book.Group(i);
    internal bool IsAugmented(int i) => _book.IsAugmented(i);
}
