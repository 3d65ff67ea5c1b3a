// GemmKernelScalar: the portable micro-kernel (no SIMD), a 4 x 4 tile in 16 scalar accumulators. It runs where
// neither AVX2 nor AVX-512 exists and lets the tests drive the packed driver without any vector code.
using System.Runtime.CompilerServices;

namespace CameraCnn.Engine.Kernels;

/// <summary>Scalar micro-kernel: MR = 4, NR = 4.</summary>
[SkipLocalsInit]
internal readonly unsafe struct GemmKernelScalar : IGemmKernel
{
    public static int MR => 4;
    public static int NR => 4;
    public static int NU => 4;
    public static bool IsSupported => true;

    public static void RunStreamingA(float* a, float* b, int kc, float* c, int ldc, int rows, int cols, in GemmEpilogue ep)
        => Run(a, b, kc, c, ldc, rows, cols, ep);

    public static void Run(float* a, float* b, int kc, float* c, int ldc, int rows, int cols, in GemmEpilogue ep)
    {
        float c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        float c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
        for (int k = 0; k < kc; k++)
        {
            float b0 = b[0], b1 = b[1], b2 = b[2], b3 = b[3];
            float a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a += 4;
            b += 4;
        }
        float* t = stackalloc float[16];
        t[0] = c00; t[1] = c01; t[2] = c02; t[3] = c03;
        t[4] = c10; t[5] = c11; t[6] = c12; t[7] = c13;
        t[8] = c20; t[9] = c21; t[10] = c22; t[11] = c23;
        t[12] = c30; t[13] = c31; t[14] = c32; t[15] = c33;
        GemmEpilogue.MergeScalar(t, 4, c, ldc, rows, cols, ep);
    }
}
