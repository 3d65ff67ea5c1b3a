// SampleBook: the bookkeeping teach-mode training data shares whatever it holds per sample (feature vectors in HeadData,
// cache keys in FineTuneData): each sample's class, the recorded frame it belongs to (its group) and whether it is an
// augmented copy, in recording order, plus the class names and the caller's class numbers.
namespace CameraCnn.Engine.Teach;

/// <summary>
/// Labels, frame groups and augmented flags of samples added in recording order. A new frame opens a group; an augmented
/// copy names its frame's group, so it lands on the same side of the held-out split. Not thread-safe.
/// </summary>
public sealed class SampleBook
{
    private readonly List<int> _labels = [], _groups = [];
    private readonly List<bool> _augmented = [];
    private readonly string[] _classNames;
    private readonly int[] _classIndices;
    private int _nextGroup;

    /// <param name="classNames">one name per label 0, 1, ...</param>
    /// <param name="classIndices">the caller's number for each class; null: 0, 1, ...</param>
    public SampleBook(IReadOnlyList<string> classNames, IReadOnlyList<int>? classIndices = null)
    {
        ArgumentNullException.ThrowIfNull(classNames);
        if (classIndices is not null && classIndices.Count != classNames.Count)
            throw new ArgumentException($"{classIndices.Count} class indices for {classNames.Count} classes", nameof(classIndices));
        _classNames = classNames.ToArray();
        _classIndices = classIndices?.ToArray() ?? Enumerable.Range(0, _classNames.Length).ToArray();
    }

    public IReadOnlyList<string> ClassNames => _classNames;
    public IReadOnlyList<int> ClassIndices => _classIndices;
    public int Count => _labels.Count;
    /// <summary>Samples that are not augmented copies.</summary>
    public int OriginalCount => _augmented.Count(a => !a);

    /// <summary>Checks a sample before it is added (so the caller adds nothing on failure).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The label is not a class.</exception>
    /// <exception cref="ArgumentException">The group was not returned by an earlier <see cref="Add"/>.</exception>
    public void Check(int label, int group)
    {
        if ((uint)label >= (uint)_classNames.Length) throw new ArgumentOutOfRangeException(nameof(label), $"label {label} is not one of the {_classNames.Length} classes");
        if (group >= _nextGroup) throw new ArgumentException($"group {group} was not returned by an earlier Add", nameof(group));
    }

    /// <summary>Records a sample (after <see cref="Check"/>); -1 opens a new group. Returns the sample's group.</summary>
    public int Add(int label, int group, bool augmented)
    {
        Check(label, group);
        if (group < 0) group = _nextGroup++;
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

    public int Label(int i) => _labels[i];
    public int Group(int i) => _groups[i];
    public bool IsAugmented(int i) => _augmented[i];
}
