// GemmKernelAvx2: the Vector256 + FMA3 micro-kernel, a 6 x 16 tile of C in 12 ymm accumulators (the classic
// Haswell shape: 12 accumulators + 2 B vectors + 1 broadcast fit the 16 ymm registers).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using V = System.Runtime.Intrinsics.Vector256<float>;

namespace CameraCnn.Engine.Kernels;

/// <summary>AVX2/FMA micro-kernel: MR = 6 rows, NR = 16 columns (two ymm vectors).</summary>
[SkipLocalsInit]
internal readonly unsafe struct GemmKernelAvx2 : IGemmKernel
{
    public static int MR => 6;
    public static int NR => 16;
    public static int NU => 8;
    public static bool IsSupported => Avx2.IsSupported && Fma.IsSupported;

    public static void RunStreamingA(float* a, float* b, int kc, float* c, int ldc, int rows, int cols, in GemmEpilogue ep)
        => Run(a, b, kc, c, ldc, rows, cols, ep);

    public static void Run(float* a, float* b, int kc, float* c, int ldc, int rows, int cols, in GemmEpilogue ep)
    {
        if (cols > 8) Tile<Two>(a, b, kc, c, ldc, rows, cols, ep);
        else Tile<One>(a, b, kc, c, ldc, rows, cols, ep);
    }

    private interface IWidth { static abstract int Vectors { get; } }
    private struct One : IWidth { public static int Vectors => 1; }
    private struct Two : IWidth { public static int Vectors => 2; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Fma2(V a, V b0, V b1, ref V c0, ref V c1, int nv)
    {
        c0 = Fma.MultiplyAdd(a, b0, c0);
        if (nv > 1) c1 = Fma.MultiplyAdd(a, b1, c1);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile<TW>(float* a, float* b, int kc, float* c, int ldc, int rows, int cols, in GemmEpilogue ep)
        where TW : struct, IWidth
    {
        int nv = TW.Vectors;
        V c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        V c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int k = 0; k < kc; k++)
        {
            V b0 = Avx.LoadVector256(b);
            V b1 = nv > 1 ? Avx.LoadVector256(b + 8) : default;
            Fma2(Vector256.Create(a[0]), b0, b1, ref c00, ref c01, nv);
            Fma2(Vector256.Create(a[1]), b0, b1, ref c10, ref c11, nv);
            Fma2(Vector256.Create(a[2]), b0, b1, ref c20, ref c21, nv);
            Fma2(Vector256.Create(a[3]), b0, b1, ref c30, ref c31, nv);
            Fma2(Vector256.Create(a[4]), b0, b1, ref c40, ref c41, nv);
            Fma2(Vector256.Create(a[5]), b0, b1, ref c50, ref c51, nv);
            a += 6;
            b += 16;
        }

        if (rows == 6 && cols == nv * 8)
        {
            float* res = ep.Residual;
            int ldr = ep.LdResidual;
            StoreRow(c, 0, c00, c01, nv, ep, res);
            StoreRow(c + ldc, 1, c10, c11, nv, ep, res == null ? null : res + ldr);
            StoreRow(c + 2 * ldc, 2, c20, c21, nv, ep, res == null ? null : res + 2 * ldr);
            StoreRow(c + 3 * ldc, 3, c30, c31, nv, ep, res == null ? null : res + 3 * ldr);
            StoreRow(c + 4 * ldc, 4, c40, c41, nv, ep, res == null ? null : res + 4 * ldr);
            StoreRow(c + 5 * ldc, 5, c50, c51, nv, ep, res == null ? null : res + 5 * ldr);
            return;
        }

        float* t = stackalloc float[6 * 16];
        Avx.Store(t, c00); Avx.Store(t + 8, c01);
        Avx.Store(t + 16, c10); Avx.Store(t + 24, c11);
        Avx.Store(t + 32, c20); Avx.Store(t + 40, c21);
        Avx.Store(t + 48, c30); Avx.Store(t + 56, c31);
        Avx.Store(t + 64, c40); Avx.Store(t + 72, c41);
        Avx.Store(t + 80, c50); Avx.Store(t + 88, c51);
        GemmEpilogue.MergeScalar(t, 16, c, ldc, rows, cols, ep);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow(float* c, int r, V v0, V v1, int nv, in GemmEpilogue ep, float* res)
    {
        if (ep.Load)
        {
            v0 = Avx.Add(v0, Avx.LoadVector256(c));
            if (nv > 1) v1 = Avx.Add(v1, Avx.LoadVector256(c + 8));
        }
        if (ep.Bias != null)
        {
            V bv = Vector256.Create(ep.Bias[r]);
            v0 = Avx.Add(v0, bv);
            if (nv > 1) v1 = Avx.Add(v1, bv);
        }
        if (res != null)
        {
            v0 = Avx.Add(v0, Avx.LoadVector256(res));
            if (nv > 1) v1 = Avx.Add(v1, Avx.LoadVector256(res + 8));
        }
        if (ep.Relu)
        {
            v0 = Avx.Max(V.Zero, v0);
            if (nv > 1) v1 = Avx.Max(V.Zero, v1);
        }
        Avx.Store(c, v0);
        if (nv > 1) Avx.Store(c + 8, v1);
    }
}
