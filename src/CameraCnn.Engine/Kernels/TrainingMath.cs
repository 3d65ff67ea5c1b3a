// TrainingMath: the vector loops of batch norm and ReLU training that TensorPrimitives has no single call for (a
// masked add, a scalar affine map, sums of deviations from a mean, a three-term update). System.Numerics.Vector<float> lanes with a scalar tail; the
// sums are float per call (callers keep one call to a row of a few thousand values and add the rows in double).
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace CameraCnn.Engine.Kernels;

/// <summary>Vectorised element loops for batch norm and ReLU training.</summary>
public static class TrainingMath
{
    /// <summary>dx[i] += dy[i] where x[i] &gt; 0 (ReLU's backward; x may also be its output y, which is positive exactly there).</summary>
    public static void AddWherePositive(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx)
    {
        int n = dx.Length;
        if (x.Length < n || dy.Length < n) throw new ArgumentException("spans shorter than dx");
        ref float px = ref MemoryMarshal.GetReference(x), pdy = ref MemoryMarshal.GetReference(dy), pdx = ref MemoryMarshal.GetReference(dx);
        int i = 0, w = Vector<float>.Count;
        for (; i <= n - w; i += w)
        {
            var mask = Vector.GreaterThan(Load(ref px, i), Vector<float>.Zero);
            Store(ref pdx, i, Load(ref pdx, i) + Vector.ConditionalSelect(mask, Load(ref pdy, i), Vector<float>.Zero));
        }
        for (; i < n; i++)
            if (Unsafe.Add(ref px, i) > 0) Unsafe.Add(ref pdx, i) += Unsafe.Add(ref pdy, i);
    }

    /// <summary>y[i] = x[i] * a + b (batch norm's per-channel affine map).</summary>
    public static void ScaleShift(ReadOnlySpan<float> x, float a, float b, Span<float> y)
    {
        int n = y.Length;
        if (x.Length < n) throw new ArgumentException("x is shorter than y");
        ref float px = ref MemoryMarshal.GetReference(x), py = ref MemoryMarshal.GetReference(y);
        int i = 0, w = Vector<float>.Count;
        Vector<float> va = new(a), vb = new(b);
        for (; i <= n - w; i += w) Store(ref py, i, Load(ref px, i) * va + vb);
        for (; i < n; i++) Unsafe.Add(ref py, i) = Unsafe.Add(ref px, i) * a + b;
    }

    /// <summary>Sum of (x[i] - mean)^2.</summary>
    public static float SumSquaredDeviation(ReadOnlySpan<float> x, float mean)
    {
        ref float px = ref MemoryMarshal.GetReference(x);
        int n = x.Length, i = 0, w = Vector<float>.Count;
        var m = new Vector<float>(mean);
        Vector<float> acc0 = Vector<float>.Zero, acc1 = Vector<float>.Zero;
        for (; i <= n - 2 * w; i += 2 * w)
        {
            var d0 = Load(ref px, i) - m;
            var d1 = Load(ref px, i + w) - m;
            acc0 += d0 * d0;
            acc1 += d1 * d1;
        }
        float sum = Vector.Sum(acc0 + acc1);
        for (; i < n; i++)
        {
            float d = Unsafe.Add(ref px, i) - mean;
            sum += d * d;
        }
        return sum;
    }

    /// <summary>Sum of dy[i] * (x[i] - mean), and of dy[i] alone.</summary>
    public static (float SumDy, float SumDyDeviation) SumDyAndDyDeviation(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, float mean)
    {
        int n = dy.Length;
        if (x.Length < n) throw new ArgumentException("x is shorter than dy");
        ref float px = ref MemoryMarshal.GetReference(x), pdy = ref MemoryMarshal.GetReference(dy);
        int i = 0, w = Vector<float>.Count;
        var m = new Vector<float>(mean);
        Vector<float> sumDy = Vector<float>.Zero, sumProduct = Vector<float>.Zero;
        for (; i <= n - w; i += w)
        {
            var g = Load(ref pdy, i);
            sumDy += g;
            sumProduct += g * (Load(ref px, i) - m);
        }
        float s = Vector.Sum(sumDy), p = Vector.Sum(sumProduct);
        for (; i < n; i++)
        {
            float g = Unsafe.Add(ref pdy, i);
            s += g;
            p += g * (Unsafe.Add(ref px, i) - mean);
        }
        return (s, p);
    }

    /// <summary>dx[i] += a * dy[i] + b * (x[i] - mean) + c (the deviation taken first, so a large mean costs no precision).</summary>
    public static void AddAffineDeviation(Span<float> dx, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, float mean, float a, float b, float c)
    {
        int n = dx.Length;
        if (x.Length < n || dy.Length < n) throw new ArgumentException("spans shorter than dx");
        ref float px = ref MemoryMarshal.GetReference(x), pdy = ref MemoryMarshal.GetReference(dy), pdx = ref MemoryMarshal.GetReference(dx);
        int i = 0, w = Vector<float>.Count;
        Vector<float> va = new(a), vb = new(b), vc = new(c), vm = new(mean);
        for (; i <= n - w; i += w)
            Store(ref pdx, i, Load(ref pdx, i) + va * Load(ref pdy, i) + vb * (Load(ref px, i) - vm) + vc);
        for (; i < n; i++) Unsafe.Add(ref pdx, i) += a * Unsafe.Add(ref pdy, i) + b * (Unsafe.Add(ref px, i) - mean) + c;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<float> Load(ref float p, int i) => Vector.LoadUnsafe(ref p, (nuint)i);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(ref float p, int i, Vector<float> v) => v.StoreUnsafe(ref p, (nuint)i);
}
