// Tensor: a float32 array with a shape (NCHW for images). Owns its buffer; no views, no strides.
namespace CameraCnn.Engine;

/// <summary>Thrown when tensor shapes do not fit together; the message names the layer and both shapes.</summary>
public sealed class ShapeException(string message) : Exception(message);

/// <summary>A dense row-major float32 tensor. Images are NCHW.</summary>
public sealed class Tensor
{
    /// <summary>The largest tensor the engine will allocate (elements); larger shapes are refused, not attempted.</summary>
    public const long MaxElements = 1L << 30;

    public int[] Shape { get; private set; }
    public float[] Data { get; private set; }

    public Tensor(params int[] shape)
    {
        Shape = (int[])shape.Clone();
        Data = new float[CheckedLength(shape)];
    }

    public Tensor(int[] shape, float[] data)
    {
        long n = CheckedLength(shape);
        if (data.Length != n)
            throw new ShapeException($"tensor data has {data.Length} elements but shape {Format(shape)} needs {n}");
        Shape = (int[])shape.Clone();
        Data = data;
    }

    public int Rank => Shape.Length;
    public int Length => Data.Length;
    public Span<float> Span => Data;

    /// <summary>Batch size: the first dimension.</summary>
    public int N => Shape[0];
    public int C => Shape[1];
    public int H => Shape[2];
    public int W => Shape[3];

    /// <summary>Elements per batch item (product of all dimensions after the first).</summary>
    public int SampleLength => Shape.Length == 0 ? 1 : (Shape[0] == 0 ? 0 : Data.Length / Shape[0]);

    /// <summary>Checked element count of a shape: no negative dims, no overflow, at most <see cref="MaxElements"/>.</summary>
    public static long CheckedLength(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ShapeException($"negative dimension in shape {Format(shape)}");
            n *= d;
            if (n > MaxElements) throw new ShapeException($"shape {Format(shape)} has more than {MaxElements} elements");
        }
        return n;
    }

    /// <summary>Reshape in place to a shape with the same number of elements.</summary>
    public void ReshapeInPlace(params int[] shape)
    {
        if (CheckedLength(shape) != Data.Length)
            throw new ShapeException($"cannot reshape {Format(Shape)} to {Format(shape)}");
        Shape = (int[])shape.Clone();
    }

    /// <summary>Makes this tensor the given shape, reusing the buffer when the element count matches.</summary>
    public void EnsureShape(ReadOnlySpan<int> shape)
    {
        if (SameShape(Shape, shape)) return;
        long n = CheckedLength(shape);
        if (n != Data.Length) Data = new float[n];
        Shape = shape.ToArray();
    }

    public bool HasShape(ReadOnlySpan<int> shape) => SameShape(Shape, shape);

    public static bool SameShape(ReadOnlySpan<int> a, ReadOnlySpan<int> b) => a.SequenceEqual(b);

    public Tensor Clone() => new(Shape, (float[])Data.Clone());

    public void Clear() => Array.Clear(Data);

    public float this[int i] { get => Data[i]; set => Data[i] = value; }

    public float this[int n, int c, int h, int w]
    {
        get => Data[((n * Shape[1] + c) * Shape[2] + h) * Shape[3] + w];
        set => Data[((n * Shape[1] + c) * Shape[2] + h) * Shape[3] + w] = value;
    }

    public string ShapeString => Format(Shape);

    public static string Format(ReadOnlySpan<int> shape) => "[" + string.Join("x", shape.ToArray()) + "]";

    public override string ToString() => $"Tensor{ShapeString}";
}
