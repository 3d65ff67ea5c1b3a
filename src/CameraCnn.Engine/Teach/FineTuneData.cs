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
    private readonly List<int> _labels = [], _groups = [];
    private readonly List<bool> _augmented = [];
    private readonly string[] _classNames;
    private readonly int[] _classIndices;
    private int _nextGroup;

    /// <param name="cache">where the activations are (every key added must be in it).</param>
    /// <param name="classNames">one name per label 0, 1, ...; classes without samples are left out of the result.</param>
    /// <param name="classIndices">the caller's number for each class; null: 0, 1, ...</param>
    public FineTuneData(ActivationCache cache, IReadOnlyList<string> classNames, IReadOnlyList<int>? classIndices = null)
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(classNames);
        if (classIndices is not null && classIndices.Count != classNames.Count)
            throw new ArgumentException($"{classIndices.Count} class indices for {classNames.Count} classes", nameof(classIndices));
        Cache = cache;
        _classNames = classNames.ToArray();
        _classIndices = classIndices?.ToArray() ?? Enumerable.Range(0, _classNames.Length).ToArray();
    }

    public ActivationCache Cache { get; }
    public IReadOnlyList<string> ClassNames => _classNames;
    public IReadOnlyList<int> ClassIndices => _classIndices;
    public int Count => _keys.Count;
    /// <summary>Samples that are not augmented copies.</summary>
    public int OriginalCount => _augmented.Count(a => !a);
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
        if ((uint)label >= (uint)_classNames.Length) throw new ArgumentOutOfRangeException(nameof(label), $"label {label} is not one of the {_classNames.Length} classes");
        if (!Cache.Contains(key)) throw new ArgumentException($"the activation cache has no entry '{key}'", nameof(key));
        if (group >= _nextGroup) throw new ArgumentException($"group {group} was not returned by an earlier Add", nameof(group));
        if (group < 0) group = _nextGroup++;
        _keys.Add(key);
        _labels.Add(label);
        _groups.Add(group);
        _augmented.Add(augmented);
        return group;
    }

    /// <summary>Original (not augmented) samples per class.</summary>
    public int[] CountPerClass()
    {
        var counts = new int[_classNames.Length];
        for (int i = 0; i < _labels.Count; i++)
            if (!_augmented[i]) counts[_labels[i]]++;
        return counts;
    }

    internal string Key(int i) => _keys[i];
    internal int Label(int i) => _labels[i];
    internal int Group(int i) => _groups[i];
    internal bool IsAugmented(int i) => _augmented[i];
}
