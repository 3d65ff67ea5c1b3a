// DotGemm: C[M x N] += A[M x K] * B[N x K]^T as dot products along K, both operands read row by row as stored, no
// packing: for the weight gradient of a conv with few rows and channels (LeNet's first conv: 9 x 16 with K = 50,176
// per batch), where packing a transposed operand for the GEMM costs more than the product. Register-blocked 4 x 4
// (Vector512) or 2 x 4 (Vector256) with a scalar tail; GemmReference with transB is its truth. Not a general GEMM.
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace CameraCnn.Engine.Kernels;

/// <summary>C += A * B^T with A [M x K] and B [N x K] row-major: every C element one dot product of two rows.</summary>
public static unsafe class DotGemm
{
    public static void MultiplyAdd(int M, int N, int K, ReadOnlySpan<float> A, int lda, ReadOnlySpan<float> B, int ldb, Span<float> C, int ldc)
    {
        if (M == 0 || N == 0) return;
        Gemm.CheckSizes(false, true, M, N, K, A.Length, lda, B.Length, ldb, C.Length, ldc);
        fixed (float* pa = A, pb = B, pc = C)
        {
            int rowsPerBlock = ForcedBlockRows ?? (Vector512.IsHardwareAccelerated ? 4 : Vector256.IsHardwareAccelerated ? 2 : 0);
            int i = 0;
            if (rowsPerBlock > 0)
                for (; i + rowsPerBlock <= M; i += rowsPerBlock)
                {
                    int j = 0;
                    for (; j + 4 <= N; j += 4)
                    {
                        if (rowsPerBlock == 4) Block4x4(pa + (long)i * lda, lda, pb + (long)j * ldb, ldb, K, pc + (long)i * ldc + j, ldc);
                        else Block2x4(pa + (long)i * lda, lda, pb + (long)j * ldb, ldb, K, pc + (long)i * ldc + j, ldc);
                    }
                    for (int r = i; r < i + rowsPerBlock; r++)
                        for (int jj = j; jj < N; jj++) pc[(long)r * ldc + jj] += Dot(pa + (long)r * lda, pb + (long)jj * ldb, K);
                }
            for (; i < M; i++)
                for (int j = 0; j < N; j++) pc[(long)i * ldc + j] += Dot(pa + (long)i * lda, pb + (long)j * ldb, K);
        }
    }

    /// <summary>Tests: 4 (Vector512 blocks), 2 (Vector256 blocks) or 0 (plain dot products) instead of the CPU's best.</summary>
    internal static int? ForcedBlockRows;

    private static float Dot(float* a, float* b, int K) => TensorPrimitives.Dot(new ReadOnlySpan<float>(a, K), new ReadOnlySpan<float>(b, K));

    /// <summary>Four rows of A against four rows of B: 16 zmm accumulators, 8 loads per 16 FMAs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block4x4(float* a, int lda, float* b, int ldb, int K, float* c, int ldc)
    {
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default, c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default, c30 = default, c31 = default, c32 = default, c33 = default;
        float* a0 = a, a1 = a + lda, a2 = a + 2L * lda, a3 = a + 3L * lda;
        float* b0 = b, b1 = b + ldb, b2 = b + 2L * ldb, b3 = b + 3L * ldb;
        int k = 0;
        for (; k + 16 <= K; k += 16)
        {
            var x0 = Vector512.Load(a0 + k); var x1 = Vector512.Load(a1 + k); var x2 = Vector512.Load(a2 + k); var x3 = Vector512.Load(a3 + k);
            var y0 = Vector512.Load(b0 + k); var y1 = Vector512.Load(b1 + k); var y2 = Vector512.Load(b2 + k); var y3 = Vector512.Load(b3 + k);
            c00 = Vector512.FusedMultiplyAdd(x0, y0, c00); c01 = Vector512.FusedMultiplyAdd(x0, y1, c01);
            c02 = Vector512.FusedMultiplyAdd(x0, y2, c02); c03 = Vector512.FusedMultiplyAdd(x0, y3, c03);
            c10 = Vector512.FusedMultiplyAdd(x1, y0, c10); c11 = Vector512.FusedMultiplyAdd(x1, y1, c11);
            c12 = Vector512.FusedMultiplyAdd(x1, y2, c12); c13 = Vector512.FusedMultiplyAdd(x1, y3, c13);
            c20 = Vector512.FusedMultiplyAdd(x2, y0, c20); c21 = Vector512.FusedMultiplyAdd(x2, y1, c21);
            c22 = Vector512.FusedMultiplyAdd(x2, y2, c22); c23 = Vector512.FusedMultiplyAdd(x2, y3, c23);
            c30 = Vector512.FusedMultiplyAdd(x3, y0, c30); c31 = Vector512.FusedMultiplyAdd(x3, y1, c31);
            c32 = Vector512.FusedMultiplyAdd(x3, y2, c32); c33 = Vector512.FusedMultiplyAdd(x3, y3, c33);
        }
        float* t = stackalloc float[16];
        for (int q = 0; q < 16; q++) t[q] = 0;
        for (; k < K; k++)
            for (int r = 0; r < 4; r++)
                for (int s = 0; s < 4; s++) t[r * 4 + s] += a[(long)r * lda + k] * b[(long)s * ldb + k];
        c[0] += Vector512.Sum(c00) + t[0]; c[1] += Vector512.Sum(c01) + t[1]; c[2] += Vector512.Sum(c02) + t[2]; c[3] += Vector512.Sum(c03) + t[3];
        c += ldc;
        c[0] += Vector512.Sum(c10) + t[4]; c[1] += Vector512.Sum(c11) + t[5]; c[2] += Vector512.Sum(c12) + t[6]; c[3] += Vector512.Sum(c13) + t[7];
        c += ldc;
        c[0] += Vector512.Sum(c20) + t[8]; c[1] += Vector512.Sum(c21) + t[9]; c[2] += Vector512.Sum(c22) + t[10]; c[3] += Vector512.Sum(c23) + t[11];
        c += ldc;
        c[0] += Vector512.Sum(c30) + t[12]; c[1] += Vector512.Sum(c31) + t[13]; c[2] += Vector512.Sum(c32) + t[14]; c[3] += Vector512.Sum(c33) + t[15];
    }

    /// <summary>Two rows of A against four rows of B: 8 ymm accumulators and 6 loads, within AVX2's 16 registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block2x4(float* a, int lda, float* b, int ldb, int K, float* c, int ldc)
    {
        Vector256<float> c00 = default, c01 = default, c02 = default, c03 = default, c10 = default, c11 = default, c12 = default, c13 = default;
        float* a0 = a, a1 = a + lda;
        float* b0 = b, b1 = b + ldb, b2 = b + 2L * ldb, b3 = b + 3L * ldb;
        int k = 0;
        for (; k + 8 <= K; k += 8)
        {
            var x0 = Vector256.Load(a0 + k); var x1 = Vector256.Load(a1 + k);
            var y0 = Vector256.Load(b0 + k); var y1 = Vector256.Load(b1 + k); var y2 = Vector256.Load(b2 + k); var y3 = Vector256.Load(b3 + k);
            c00 = Vector256.FusedMultiplyAdd(x0, y0, c00); c01 = Vector256.FusedMultiplyAdd(x0, y1, c01);
            c02 = Vector256.FusedMultiplyAdd(x0, y2, c02); c03 = Vector256.FusedMultiplyAdd(x0, y3, c03);
            c10 = Vector256.FusedMultiplyAdd(x1, y0, c10); c11 = Vector256.FusedMultiplyAdd(x1, y1, c11);
            c12 = Vector256.FusedMultiplyAdd(x1, y2, c12); c13 = Vector256.FusedMultiplyAdd(x1, y3, c13);
        }
        float* t = stackalloc float[8];
        for (int q = 0; q < 8; q++) t[q] = 0;
        for (; k < K; k++)
            for (int r = 0; r < 2; r++)
                for (int s = 0; s < 4; s++) t[r * 4 + s] += a[(long)r * lda + k] * b[(long)s * ldb + k];
        c[0] += Vector256.Sum(c00) + t[0]; c[1] += Vector256.Sum(c01) + t[1]; c[2] += Vector256.Sum(c02) + t[2]; c[3] += Vector256.Sum(c03) + t[3];
        c += ldc;
        c[0] += Vector256.Sum(c10) + t[4]; c[1] += Vector256.Sum(c11) + t[5]; c[2] += Vector256.Sum(c12) + t[6]; c[3] += Vector256.Sum(c13) + t[7];
    }
}
