// Dataset: labelled images in memory (NCHW floats in [0,1] before model preprocessing) with class names.
namespace CameraCnn.Engine.Data;

/// <summary>An in-memory labelled image set: Images [N, C, H, W], Labels[i] in [0, ClassNames.Length).</summary>
public sealed class Dataset
{
    public Tensor Images { get; }
    public int[] Labels { get; }
    public string[] ClassNames { get; }

    public Dataset(Tensor images, int[] labels, string[] classNames)
    {
        if (images.Rank != 4) throw new ShapeException($"dataset images must be NCHW, got {images.ShapeString}");
        if (labels.Length != images.N)
            throw new ShapeException($"dataset has {images.N} images but {labels.Length} labels");
        foreach (int l in labels)
            if ((uint)l >= (uint)classNames.Length)
                throw new InvalidDataException($"label {l} is outside the {classNames.Length} classes");
        Images = images;
        Labels = labels;
        ClassNames = classNames;
    }

    public int Count => Labels.Length;
    public int[] SampleShape => Images.Shape[1..];

    /// <summary>A new dataset holding the samples at the given indices (copied).</summary>
    public Dataset Subset(ReadOnlySpan<int> indices)
    {
        int s = Images.SampleLength;
        var shape = (int[])Images.Shape.Clone();
        shape[0] = indices.Length;
        var images = new Tensor(shape);
        var labels = new int[indices.Length];
        for (int i = 0; i < indices.Length; i++)
        {
            Images.Data.AsSpan(indices[i] * s, s).CopyTo(images.Data.AsSpan(i * s, s));
            labels[i] = Labels[indices[i]];
        }
        return new Dataset(images, labels, ClassNames);
    }

    /// <summary>The first <paramref name="count"/> samples (or all when count exceeds the size).</summary>
    public Dataset Take(int count)
    {
        count = Math.Min(count, Count);
        return Subset(Enumerable.Range(0, count).ToArray());
    }
}
