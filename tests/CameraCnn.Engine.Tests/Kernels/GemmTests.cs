// GemmTests: Gemm.Multiply against GemmReference (and GemmReference against an independent double loop) for all
// transpose combinations, every size in {0,1,7,17,31,33,65} for M, N and K, padded leading dimensions, NaN
// sentinels outside the logical regions, accumulate on/off, and 1, 2 and 3 worker threads.
using CameraCnn.Engine.Kernels;

namespace CameraCnn.Engine.Tests.Kernels;

/// <summary>Tests that change the static <see cref="Parallelism.Threads"/> run alone, never beside other tests.</summary>
[CollectionDefinition("Parallelism", DisableParallelization = true)]
public sealed class ParallelismCollection;

[Collection("Parallelism")]
public sealed class GemmTests
{
    private static readonly int[] Sizes = [0, 1, 7, 17, 31, 33, 65];

    /// <summary>A rows x cols matrix stored with leading dimension ld (> cols) plus a tail; NaN everywhere outside it.</summary>
    private static float[] Matrix(Random rng, int rows, int cols, int ld, int tail)
    {
        var a = new float[rows * ld + tail];
        a.AsSpan().Fill(float.NaN);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) a[i * ld + j] = rng.NextSingle() * 2 - 1;
        return a;
    }

    private static void RunAll(bool transA, bool transB, int threads, int seed)
    {
        int saved = Parallelism.Threads;
        try
        {
            Parallelism.Threads = threads;
            Assert.Equal(threads, Parallelism.Threads);
            var rng = new Random(seed);
            foreach (int m in Sizes)
                foreach (int n in Sizes)
                    foreach (int k in Sizes)
                        foreach (bool accumulate in new[] { false, true })
                            One(rng, transA, transB, m, n, k, accumulate);
        }
        finally
        {
            Parallelism.Threads = saved;
        }
    }

    private static void One(Random rng, bool transA, bool transB, int M, int N, int K, bool accumulate)
    {
        string what = $"transA={transA} transB={transB} M={M} N={N} K={K} accumulate={accumulate} threads={Parallelism.Threads}";
        int aRows = transA ? K : M, aCols = transA ? M : K;
        int bRows = transB ? N : K, bCols = transB ? K : N;
        int lda = aCols + 3, ldb = bCols + 2, ldc = N + 5;
        float[] A = Matrix(rng, aRows, aCols, lda, 4), B = Matrix(rng, bRows, bCols, ldb, 3), C0 = Matrix(rng, M, N, ldc, 6);
        float[] aCopy = (float[])A.Clone(), bCopy = (float[])B.Clone();
        float[] C = (float[])C0.Clone(), CRef = (float[])C0.Clone();

        Gemm.Multiply(transA, transB, M, N, K, A, lda, B, ldb, C, ldc, accumulate);
        GemmReference.Multiply(transA, transB, M, N, K, A, lda, B, ldb, CRef, ldc, accumulate);

        Assert.True(A.AsSpan().SequenceEqual(aCopy), $"{what}: A was modified");
        Assert.True(B.AsSpan().SequenceEqual(bCopy), $"{what}: B was modified");
        for (int idx = 0; idx < C.Length; idx++)
        {
            int i = idx / ldc, j = idx % ldc;
            bool inside = i < M && j < N;
            if (!inside)
            {
                // Sentinels: everything outside the M x N region (ld padding and the tail) stays NaN.
                Assert.True(float.IsNaN(C[idx]), $"{what}: C[{idx}] outside the result was written ({C[idx]})");
                Assert.True(float.IsNaN(CRef[idx]), $"{what}: reference wrote C[{idx}] outside the result");
                continue;
            }
            // Independent double evaluation in the same order as the reference: its float result must be identical.
            double s = accumulate ? C0[idx] : 0, bound = accumulate ? Math.Abs(C0[idx]) : 0;
            for (int kk = 0; kk < K; kk++)
            {
                double prod = (double)(transA ? A[kk * lda + i] : A[i * lda + kk]) * (transB ? B[j * ldb + kk] : B[kk * ldb + j]);
                s += prod;
                bound += Math.Abs(prod);
            }
            Assert.True((float)s == CRef[idx], $"{what}: reference C[{i},{j}] = {CRef[idx]:R}, expected {(float)s:R}");
            // Float summation error bound: about (K + 2) units of 2^-24 on sum |a||b| (+|C|); use twice that.
            double tol = 2 * (K + 2) * Math.Pow(2, -24) * bound + 1e-30;
            Assert.True(Math.Abs(C[idx] - s) <= tol,
                $"{what}: C[{i},{j}] = {C[idx]:R}, reference {CRef[idx]:R}, exact {s:R} (tol {tol:E2})");
        }
    }

    [Theory]
    [InlineData(false, false, 1)]
    [InlineData(false, true, 1)]
    [InlineData(true, false, 1)]
    [InlineData(true, true, 1)]
    [InlineData(false, false, 2)]
    [InlineData(false, true, 2)]
    [InlineData(true, false, 2)]
    [InlineData(true, true, 2)]
    [InlineData(false, false, 3)]
    [InlineData(true, true, 3)]
    public void MatchesReference_AllSizes(bool transA, bool transB, int threads)
        => RunAll(transA, transB, threads, seed: (transA ? 1 : 0) + (transB ? 2 : 0) + 4 * threads);

    [Fact]
    public void ParallelAndSerialAgreeExactlyOnALargeProduct()
    {
        // Rows are split between workers but each row is computed the same way, so the results are bit-identical.
        var rng = new Random(5);
        int M = 131, N = 97, K = 67;
        float[] A = Matrix(rng, M, K, K, 0), B = Matrix(rng, K, N, N, 0);
        float[] c1 = new float[M * N], c2 = new float[M * N];
        int saved = Parallelism.Threads;
        try
        {
            Parallelism.Threads = 1;
            Gemm.Multiply(false, false, M, N, K, A, K, B, N, c1, N, false);
            Parallelism.Threads = 2;
            Gemm.Multiply(false, false, M, N, K, A, K, B, N, c2, N, false);
        }
        finally
        {
            Parallelism.Threads = saved;
        }
        Assert.Equal(c1, c2);
    }

    [Fact]
    public void RejectsBuffersTooSmall()
    {
        var a = new float[6];
        var b = new float[6];
        var c = new float[3];
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 2, 2, 3, a, 3, b, 2, c, 2, false));
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 2, 2, 3, a, 2, b, 2, new float[4], 2, false));
    }
}
