// GemmTests: Gemm.Multiply against GemmReference (and GemmReference against an independent double loop) for all
// transpose combinations, every size in {0,1,7,17,31,33,65} for M, N and K, padded leading dimensions, NaN
// sentinels outside the logical regions, accumulate on/off, 1, 2 and 3 worker threads, and every micro-kernel
// path (Scalar, Avx2, Avx512; a path the CPU lacks is skipped). With more than one thread the parallel threshold is
// lowered to 0, so even the smallest products go through the chunked multi-threaded driver. Larger shapes cross
// the KC (256) depth blocks, the NC (~512) column blocks and both the M and the N split.
using CameraCnn.Engine.Kernels;

namespace CameraCnn.Engine.Tests.Kernels;

/// <summary>Tests that change the static <see cref="Parallelism.Threads"/> run alone, never beside other tests.</summary>
[CollectionDefinition("Parallelism", DisableParallelization = true)]
public sealed class ParallelismCollection;

/// <summary>Runs a body with a forced GEMM path, thread count and (optionally) no parallel threshold, then restores them.</summary>
internal static class KernelSettings
{
    public static readonly GemmPath[] Paths = [GemmPath.Scalar, GemmPath.Avx2, GemmPath.Avx512];

    /// <summary>Every instruction-set path with 1, 2 and 3 threads, for kernel theories.</summary>
    public static TheoryData<GemmPath, int> PathsAndThreads() => Cross(Paths, 1, 2, 3);

    /// <summary>Each of <paramref name="paths"/> with each thread count, path by path.</summary>
    public static TheoryData<GemmPath, int> Cross(GemmPath[] paths, params int[] threadCounts)
    {
        var data = new TheoryData<GemmPath, int>();
        foreach (var path in paths)
            foreach (int threads in threadCounts)
                data.Add(path, threads);
        return data;
    }

    /// <summary>False when the CPU cannot run the path: the caller returns early (the test is vacuous there).</summary>
    public static bool Run(GemmPath path, int threads, Action body, bool forceParallel = true)
    {
        if (!Gemm.IsSupported(path)) return false;
        int savedThreads = Parallelism.Threads;
        long savedThreshold = GemmDriver.ParallelThreshold;
        try
        {
            Gemm.ForcePath(path);
            Parallelism.Threads = threads;
            if (forceParallel && threads > 1) GemmDriver.ParallelThreshold = 0;
            body();
        }
        finally
        {
            Gemm.ForcePath(null);
            Parallelism.Threads = savedThreads;
            GemmDriver.ParallelThreshold = savedThreshold;
        }
        return true;
    }
}

[Collection("Parallelism")]
public sealed class GemmTests
{
    private static readonly int[] Sizes = [0, 1, 7, 17, 31, 33, 65];

    /// <summary>A rows x cols matrix stored with leading dimension ld (> cols) plus a tail; NaN everywhere outside it.</summary>
    internal static float[] Matrix(Random rng, int rows, int cols, int ld, int tail)
    {
        var a = new float[rows * ld + tail];
        a.AsSpan().Fill(float.NaN);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) a[i * ld + j] = rng.NextSingle() * 2 - 1;
        return a;
    }

    private static void RunAll(GemmPath path, bool transA, bool transB, int threads, int seed)
    {
        KernelSettings.Run(path, threads, () =>
        {
            var rng = new Random(seed);
            foreach (int m in Sizes)
                foreach (int n in Sizes)
                    foreach (int k in Sizes)
                        foreach (bool accumulate in new[] { false, true })
                            One(rng, transA, transB, m, n, k, accumulate);
        });
    }

    private static void One(Random rng, bool transA, bool transB, int M, int N, int K, bool accumulate)
    {
        string what = $"path={Gemm.ActivePath} transA={transA} transB={transB} M={M} N={N} K={K} accumulate={accumulate} threads={Parallelism.Threads}";
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

    public static TheoryData<GemmPath, bool, bool, int> SweepCases()
    {
        var data = new TheoryData<GemmPath, bool, bool, int>();
        foreach (var path in KernelSettings.Paths)
        {
            foreach (int threads in new[] { 1, 2 })
                foreach (bool ta in new[] { false, true })
                    foreach (bool tb in new[] { false, true })
                        data.Add(path, ta, tb, threads);
            data.Add(path, false, false, 3);
            data.Add(path, true, true, 3);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(SweepCases))]
    public void Matches_reference_all_sizes(GemmPath path, bool transA, bool transB, int threads)
        => RunAll(path, transA, transB, threads, seed: (transA ? 1 : 0) + (transB ? 2 : 0) + 4 * threads + 16 * (int)path);

    public static TheoryData<GemmPath, int> PathsAndThreads() => KernelSettings.Cross(KernelSettings.Paths, 1, 3);

    /// <summary>Shapes past one KC block (K 257, 260, 300), past one NC block (N 530), M and N splits, odd tails.</summary>
    [Theory]
    [MemberData(nameof(PathsAndThreads))]
    public void Matches_reference_large_shapes(GemmPath path, int threads)
    {
        (int M, int N, int K)[] shapes = [(9, 530, 260), (97, 49, 300), (37, 70, 257), (2, 97, 300)];
        KernelSettings.Run(path, threads, () =>
        {
            var rng = new Random(11 + (int)path);
            foreach (var (m, n, k) in shapes)
                foreach (bool ta in new[] { false, true })
                    foreach (bool tb in new[] { false, true })
                        One(rng, ta, tb, m, n, k, accumulate: ta ^ tb);
        });
    }

    [Theory]
    [InlineData(GemmPath.Scalar)]
    [InlineData(GemmPath.Avx2)]
    [InlineData(GemmPath.Avx512)]
    public void Parallel_and_serial_agree_exactly_on_a_large_product(GemmPath path)
    {
        // Threads split the tiles, but every element is the same FMA chain over the same K blocks: bit-identical.
        var rng = new Random(5);
        int M = 131, N = 597, K = 300;
        float[] A = Matrix(rng, M, K, K, 0), B = Matrix(rng, K, N, N, 0);
        float[] c1 = new float[M * N], c2 = new float[M * N], c3 = new float[M * N];
        KernelSettings.Run(path, 1, () => Gemm.Multiply(false, false, M, N, K, A, K, B, N, c1, N, false));
        KernelSettings.Run(path, 2, () => Gemm.Multiply(false, false, M, N, K, A, K, B, N, c2, N, false));
        KernelSettings.Run(path, 3, () => Gemm.Multiply(false, false, M, N, K, A, K, B, N, c3, N, false));
        Assert.Equal(c1, c2);
        Assert.Equal(c1, c3);
    }

    [Fact]
    public void Detected_path_is_supported_and_forcing_an_unsupported_path_throws()
    {
        Assert.True(Gemm.IsSupported(Gemm.DetectedPath));
        Assert.Equal(Gemm.DetectedPath, Gemm.ActivePath);
        foreach (var path in KernelSettings.Paths)
            if (!Gemm.IsSupported(path)) Assert.Throws<NotSupportedException>(() => Gemm.ForcePath(path));
    }

    [Fact]
    public void Rejects_buffers_too_small()
    {
        var a = new float[6];
        var b = new float[6];
        var c = new float[3];
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 2, 2, 3, a, 3, b, 2, c, 2, false));
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 2, 2, 3, a, 2, b, 2, new float[4], 2, false));
    }
}
