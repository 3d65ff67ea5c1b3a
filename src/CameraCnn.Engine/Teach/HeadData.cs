// HeadData: the head trainer's input: one cached feature vector per recorded frame (plus optional augmented copies),
// its class, and which recorded frame it came from, kept in recording order. Plain memory, no files, no OpenCV.
namespace CameraCnn.Engine.Teach;

/// <summary>
/// Labelled feature vectors of one length. Add the samples of each class in recording order: the held-out split takes
/// the newest frames of every class (see <see cref="HeadTrainer"/>). Augmented copies name the frame they were made
/// from (<c>group</c>), so they land on the same side of the split as their original and are never validated on.
/// Not thread-safe: fill it, then train.
/// </summary>
public sealed class HeadData
{
    private readonly List<float[]> _features = [];
    private readonly List<int> _labels = [], _groups = [];
    private readonly List<bool> _augmented = [];
    private readonly string[] _classNames;
    private readonly int[] _classIndices;
    private int _nextGroup;

    /// <param name="dimension">length of every feature vector.</param>
    /// <param name="classNames">one name per label 0, 1, ...; classes without samples are left out of the head.</param>
    /// <param name="classIndices">the caller's number for each class (carried into <see cref="ClassifierHead.ClassIndices"/>); null: 0, 1, ...</param>
    public HeadData(int dimension, IReadOnlyList<string> classNames, IReadOnlyList<int>? classIndices = null)
    {
        ArgumentNullException.ThrowIfNull(classNames);
        if (dimension <= 0) throw new ArgumentOutOfRangeException(nameof(dimension), "the feature dimension must be positive");
        if (classIndices is not null && classIndices.Count != classNames.Count)
            throw new ArgumentException($"{classIndices.Count} class indices for {classNames.Count} classes", nameof(classIndices));
        Dimension = dimension;
        _classNames = classNames.ToArray();
        _classIndices = classIndices?.ToArray() ?? Enumerable.Range(0, _classNames.Length).ToArray();
    }

    public int Dimension { get; }
    public IReadOnlyList<string> ClassNames => _classNames;
    public IReadOnlyList<int> ClassIndices => _classIndices;
    public int Count => _labels.Count;
    /// <summary>Samples that are not augmented copies.</summary>
    public int OriginalCount => _augmented.Count(a => !a);

    /// <summary>
    /// Adds one sample (the features are copied). <paramref name="group"/> identifies the recorded frame: give the
    /// value an earlier <see cref="Add"/> returned to attach an augmented copy to it, or -1 for a new frame.
    /// Returns the sample's group.
    /// </summary>
    /// <exception cref="ArgumentException">Wrong length, a non-finite value, or an unknown group.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The label is not a class.</exception>
    public int Add(int label, ReadOnlySpan<float> features, int group = -1, bool augmented = false)
    {
        if ((uint)label >= (uint)_classNames.Length) throw new ArgumentOutOfRangeException(nameof(label), $"label {label} is not one of the {_classNames.Length} classes");
        if (features.Length != Dimension) throw new ArgumentException($"features have {features.Length} values, expected {Dimension}", nameof(features));
        foreach (float v in features)
            if (!float.IsFinite(v)) throw new ArgumentException("features hold a non-finite value", nameof(features));
        if (group >= _nextGroup) throw new ArgumentException($"group {group} was not returned by an earlier Add", nameof(group));
        if (group < 0) group = _nextGroup++;
        _features.Add(features.ToArray());
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

    internal float[] Features(int i) => _features[i];
    internal int Label(int i) => _labels[i];
    internal int Group(int i) => _groups[i];
    internal bool IsAugmented(int i) => _augmented[i];
}
