// DotGemmTests: C += A * B^T by register-blocked dot products against GemmReference (transB, accumulate) for every
// block form this CPU can run (4 x 4 Vector512, 2 x 4 Vector256, plain dots), over sizes with block and vector tails
// (M, N up to 17, K 0 to 100) and leading dimensions wider than the rows.
using System.Runtime.Intrinsics;
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Tests.Layers;

namespace CameraCnn.Engine.Tests.Kernels;

[Collection("Parallelism")]
public sealed class DotGemmTests
{
    public static TheoryData<int> BlockForms()
    {
        var data = new TheoryData<int> { 0 };
        if (Vector256.IsHardwareAccelerated) data.Add(2);
        if (Vector512.IsHardwareAccelerated) data.Add(4);
        return data;
    }

    [Theory]
    [MemberData(nameof(BlockForms))]
    public void MatchesTheReference(int blockRows)
    {
        try
        {
            DotGemm.ForcedBlockRows = blockRows;
            var rng = new Random(3 + blockRows);
            foreach (int M in new[] { 0, 1, 2, 3, 4, 5, 9, 17 })
                foreach (int N in new[] { 1, 3, 4, 5, 8, 16 })
                    foreach (int K in new[] { 0, 1, 7, 8, 15, 16, 17, 33, 100 })
                    {
                        int lda = K + 3, ldb = K + 5, ldc = N + 2;
                        float[] a = TestKit.RandomFloats(rng, Math.Max(0, M * lda));
                        float[] b = TestKit.RandomFloats(rng, N * ldb);
                        float[] c = TestKit.RandomFloats(rng, Math.Max(0, M * ldc));
                        float[] want = (float[])c.Clone();
                        if (M > 0) GemmReference.Multiply(false, true, M, N, K, a, lda, b, ldb, want, ldc, accumulate: true);
                        DotGemm.MultiplyAdd(M, N, K, a, lda, b, ldb, c, ldc);
                        TestKit.AssertClose(want.Select(v => (double)v).ToArray(), c, 1e-5, 1e-5, $"blocks {blockRows} M={M} N={N} K={K}");
                    }
        }
        finally
        {
            DotGemm.ForcedBlockRows = null;
        }
    }
}
