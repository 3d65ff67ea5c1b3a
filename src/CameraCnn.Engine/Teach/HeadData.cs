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
    private readonly SampleBook _book;

    /// <param name="dimension">length of every feature vector.</param>
    /// <param name="classNames">one name per label 0, 1, ...; classes without samples are left out of the head.</param>
    /// <param name="classIndices">the caller's number for each class (carried into <see cref="ClassifierHead.ClassIndices"/>); null: 0, 1, ...</param>
    public HeadData(int dimension, IReadOnlyList<string> classNames, IReadOnlyList<int>? classIndices = null)
    {
        if (dimension <= 0) throw new ArgumentOutOfRangeException(nameof(dimension), "the feature dimension must be positive");
        _book = new SampleBook(classNames, classIndices);
        Dimension = dimension;
    }

    public int Dimension { get; }
    public IReadOnlyList<string> ClassNames => _book.ClassNames;
    public IReadOnlyList<int> ClassIndices => _book.ClassIndices;
    public int Count => _book.Count;
    /// <summary>Samples that are not augmented copies.</summary>
    public int OriginalCount => _book.OriginalCount;

    /// <summary>
    /// Adds one sample (the features are copied). <paramref name="group"/> identifies the recorded frame: give the
    /// value an earlier <see cref="Add"/> returned to attach an augmented copy to it, or -1 for a new frame.
    /// Returns the sample's group.
    /// </summary>
    /// <exception cref="ArgumentException">Wrong length, a non-finite value, or an unknown group.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The label is not a class.</exception>
    public int Add(int label, ReadOnlySpan<float> features, int group = -1, bool augmented = false)
    {
        _book.Check(label, group);
        if (features.Length != Dimension) throw new ArgumentException($"features have {features.Length} values, expected {Dimension}", nameof(features));
        foreach (float v in features)
            if (!float.IsFinite(v)) throw new ArgumentException("features hold a non-finite value", nameof(features));
        _features.Add(features.ToArray());
        return _book.Add(label, group, augmented);
    }

    /// <summary>Original (not augmented) samples per class.</summary>
    public int[] CountPerClass() => _book.CountPerClass();

    internal float[] Features(int i) => _features[i];
    internal int Label(int i) => _book.Label(i);
    internal int Group(int i) => _book.Group(i);
    internal bool IsAugmented(int i) => _book.IsAugmented(i);
}
