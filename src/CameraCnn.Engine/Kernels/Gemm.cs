// Gemm: C = op(A) * op(B) (+ C), row-major, with transpose flags; one entry for forward and backward.
// The driver (GemmDriver) packs A into MR-row panels and B into NR-column panels and runs a micro-kernel per
// instruction set (GemmKernelAvx512, GemmKernelAvx2, GemmKernelScalar), chosen once from the CPU's features.
// GemmReference below is the scalar truth every path is tested against.
using System.Numerics.Tensors;

namespace CameraCnn.Engine.Kernels;

/// <summary>Which micro-kernel the packed GEMM runs.</summary>
public enum GemmPath
{
    /// <summary>Portable scalar micro-kernel (4 x 4), no SIMD.</summary>
    Scalar,
    /// <summary>Vector256 + FMA3 micro-kernel (6 x 16).</summary>
    Avx2,
    /// <summary>Vector512 (AVX-512F) micro-kernel (8 x 48).</summary>
    Avx512,
}

/// <summary>General matrix multiply on row-major float spans.</summary>
public static class Gemm
{
    private static readonly GemmPath Detected = GemmKernelAvx512.IsSupported ? GemmPath.Avx512
        : GemmKernelAvx2.IsSupported ? GemmPath.Avx2 : GemmPath.Scalar;
    private static GemmPath? _forced;

    /// <summary>The micro-kernel every product runs with: the best the CPU has, unless a test forced another.</summary>
    public static GemmPath ActivePath => _forced ?? Detected;

    /// <summary>The best path this CPU supports (fixed at start-up).</summary>
    public static GemmPath DetectedPath => Detected;

    /// <summary>True when this CPU can run the path.</summary>
    public static bool IsSupported(GemmPath path) => path switch
    {
        GemmPath.Avx512 => GemmKernelAvx512.IsSupported,
        GemmPath.Avx2 => GemmKernelAvx2.IsSupported,
        _ => true,
    };

    /// <summary>Forces a path (tests and benchmarks; null restores the detected one). Throws when the CPU lacks it.</summary>
    internal static void ForcePath(GemmPath? path)
    {
        if (path is { } p && !IsSupported(p)) throw new NotSupportedException($"this CPU cannot run the {p} GEMM path");
        _forced = path;
    }

    /// <summary>Rows per A panel (MR) of a path's micro-kernel.</summary>
    internal static int PanelRows(GemmPath path) => path switch
    {
        GemmPath.Avx512 => GemmKernelAvx512.MR,
        GemmPath.Avx2 => GemmKernelAvx2.MR,
        _ => GemmKernelScalar.MR,
    };

    /// <summary>Columns per B panel (NR) of a path's micro-kernel.</summary>
    internal static int PanelCols(GemmPath path) => path switch
    {
        GemmPath.Avx512 => GemmKernelAvx512.NR,
        GemmPath.Avx2 => GemmKernelAvx2.NR,
        _ => GemmKernelScalar.NR,
    };

    /// <summary>Columns per vector (the N-split granularity) of a path's micro-kernel.</summary>
    internal static int VectorCols(GemmPath path) => path switch
    {
        GemmPath.Avx512 => GemmKernelAvx512.NU,
        GemmPath.Avx2 => GemmKernelAvx2.NU,
        _ => GemmKernelScalar.NU,
    };

    /// <summary>
    /// C[M x N] = op(A)[M x K] * op(B)[K x N], plus the old C when <paramref name="accumulate"/>.
    /// op(A) = A (stored M x K, leading dim lda) or A^T (stored K x M); likewise B.
    /// </summary>
    public static unsafe void Multiply(bool transA, bool transB, int M, int N, int K,
        ReadOnlySpan<float> A, int lda, ReadOnlySpan<float> B, int ldb, Span<float> C, int ldc, bool accumulate)
    {
        if (M == 0 || N == 0) return;
        CheckSizes(transA, transB, M, N, K, A.Length, lda, B.Length, ldb, C.Length, ldc);
        if (M == 1)
        {
            // A single row (a dense layer at batch 1) is memory-bound: dots or axpys straight over B, no packing.
            Row(transA, transB, N, K, A, lda, B, ldb, C[..N], accumulate);
            return;
        }
        fixed (float* pa = A, pb = B, pc = C)
        {
            var a = new GemmDriver.ASource { Matrix = pa, Lda = lda, Trans = transA };
            var b = new MatrixPanels(pb, ldb, transB);
            GemmDriver.Run(ActivePath, a, ref b, M, N, K, pc, ldc, accumulate);
        }
    }

    /// <summary>C row = op(A) row * op(B) for M = 1.</summary>
    private static void Row(bool transA, bool transB, int N, int K,
        ReadOnlySpan<float> A, int lda, ReadOnlySpan<float> B, int ldb, Span<float> c, bool accumulate)
    {
        if (!accumulate) c.Clear();
        if (transB)
        {
            // C[j] += dot(op(A) row, B row j): B stored N x K.
            if (!transA)
            {
                ReadOnlySpan<float> a = A[..K];
                for (int j = 0; j < N; j++) c[j] += TensorPrimitives.Dot(a, B.Slice(j * ldb, K));
            }
            else
            {
                for (int j = 0; j < N; j++)
                {
                    float s = 0;
                    ReadOnlySpan<float> b = B.Slice(j * ldb, K);
                    for (int k = 0; k < K; k++) s += A[k * lda] * b[k];
                    c[j] += s;
                }
            }
        }
        else
        {
            // C row += sum_k op(A)[k] * B row k (axpy over contiguous rows of B).
            for (int k = 0; k < K; k++)
                TensorPrimitives.MultiplyAdd(B.Slice(k * ldb, N), transA ? A[k * lda] : A[k], c, c);
        }
    }

    internal static void CheckSizes(bool transA, bool transB, int M, int N, int K,
        int aLen, int lda, int bLen, int ldb, int cLen, int ldc)
    {
        if (M < 0 || N < 0 || K < 0) throw new ArgumentException($"gemm: negative size M={M} N={N} K={K}");
        int aRows = transA ? K : M, aCols = transA ? M : K;
        int bRows = transB ? N : K, bCols = transB ? K : N;
        if (lda < aCols || ldb < bCols || ldc < N)
            throw new ArgumentException($"gemm: leading dimension too small (lda={lda}, ldb={ldb}, ldc={ldc})");
        if ((aRows > 0 && (long)(aRows - 1) * lda + aCols > aLen) ||
            (bRows > 0 && (long)(bRows - 1) * ldb + bCols > bLen) ||
            (long)(M - 1) * ldc + N > cLen)
            throw new ArgumentException($"gemm: buffer too small for M={M} N={N} K={K}");
    }
}

/// <summary>The scalar triple loop: the truth every faster GEMM is tested against.</summary>
public static class GemmReference
{
    public static void Multiply(bool transA, bool transB, int M, int N, int K,
        ReadOnlySpan<float> A, int lda, ReadOnlySpan<float> B, int ldb, Span<float> C, int ldc, bool accumulate)
    {
        if (M == 0 || N == 0) return;
        Gemm.CheckSizes(transA, transB, M, N, K, A.Length, lda, B.Length, ldb, C.Length, ldc);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
            {
                double s = accumulate ? C[i * ldc + j] : 0;
                for (int k = 0; k < K; k++)
                    s += (double)(transA ? A[k * lda + i] : A[i * lda + k]) * (transB ? B[j * ldb + k] : B[k * ldb + j]);
                C[i * ldc + j] = (float)s;
            }
    }
}
