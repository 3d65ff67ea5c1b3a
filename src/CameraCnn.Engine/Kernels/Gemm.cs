// Gemm: C = op(A) * op(B) (+ C), row-major, with transpose flags; one entry for forward and backward.
// This is the straightforward kernel: TensorPrimitives rows/dots, split over rows of C. The packed,
// register-tiled kernels are a separate piece of work; GemmReference stays as the scalar truth.
using System.Numerics.Tensors;

namespace CameraCnn.Engine.Kernels;

/// <summary>General matrix multiply on row-major float spans.</summary>
public static class Gemm
{
    /// <summary>
    /// C[M x N] = op(A)[M x K] * op(B)[K x N], plus the old C when <paramref name="accumulate"/>.
    /// op(A) = A (stored M x K, leading dim lda) or A^T (stored K x M); likewise B.
    /// </summary>
    public static void Multiply(bool transA, bool transB, int M, int N, int K,
        ReadOnlySpan<float> A, int lda, ReadOnlySpan<float> B, int ldb, Span<float> C, int ldc, bool accumulate)
    {
        if (M == 0 || N == 0) return;
        CheckSizes(transA, transB, M, N, K, A.Length, lda, B.Length, ldb, C.Length, ldc);
        long work = (long)M * N * Math.Max(K, 1);
        if (work < 1 << 17 || Parallelism.Threads == 1)
        {
            Rows(transA, transB, 0, M, N, K, A, lda, B, ldb, C, ldc, accumulate);
            return;
        }
        unsafe
        {
            fixed (float* pa = A, pb = B, pc = C)
            {
                // Spans cannot cross into a lambda; pointers to pinned memory can for the call's duration.
                nint a = (nint)pa, b = (nint)pb, c = (nint)pc;
                int al = A.Length, bl = B.Length, cl = C.Length;
                Parallelism.For(M, 4, (i0, i1, _) =>
                    Rows(transA, transB, i0, i1, N, K,
                        new ReadOnlySpan<float>((float*)a, al), lda, new ReadOnlySpan<float>((float*)b, bl), ldb,
                        new Span<float>((float*)c, cl), ldc, accumulate));
            }
        }
    }

    private static void Rows(bool transA, bool transB, int i0, int i1, int N, int K,
        ReadOnlySpan<float> A, int lda, ReadOnlySpan<float> B, int ldb, Span<float> C, int ldc, bool accumulate)
    {
        for (int i = i0; i < i1; i++)
        {
            Span<float> c = C.Slice(i * ldc, N);
            if (!accumulate) c.Clear();
            if (transB)
            {
                // C[i, j] += dot(op(A) row i, B row j): B stored N x K.
                if (!transA)
                {
                    ReadOnlySpan<float> a = A.Slice(i * lda, K);
                    for (int j = 0; j < N; j++) c[j] += TensorPrimitives.Dot(a, B.Slice(j * ldb, K));
                }
                else
                {
                    for (int j = 0; j < N; j++)
                    {
                        float s = 0;
                        ReadOnlySpan<float> b = B.Slice(j * ldb, K);
                        for (int k = 0; k < K; k++) s += A[k * lda + i] * b[k];
                        c[j] += s;
                    }
                }
            }
            else
            {
                // C row i += sum_k op(A)[i, k] * B row k (axpy over contiguous rows of B).
                for (int k = 0; k < K; k++)
                {
                    float a = transA ? A[k * lda + i] : A[i * lda + k];
                    TensorPrimitives.MultiplyAdd(B.Slice(k * ldb, N), a, c, c);
                }
            }
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
