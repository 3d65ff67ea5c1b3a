// GemmKernelAvx512: the Vector512 micro-kernel, an 8 x 48 tile of C held in 24 zmm accumulators (MLAS
// SgemmKernelAvx512F in spirit). Per k step: 3 loads of packed B, 8 broadcasts of packed A, 24 FMAs.
// Not a GEMM by itself: GemmDriver packs the panels and walks the tiles.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using V = System.Runtime.Intrinsics.Vector512<float>;

namespace CameraCnn.Engine.Kernels;

/// <summary>AVX-512F micro-kernel: MR = 8 rows, NR = 48 columns (three zmm vectors).</summary>
[SkipLocalsInit]
internal readonly unsafe struct GemmKernelAvx512 : IGemmKernel
{
    public static int MR => 8;
    public static int NR => 48;
    public static int NU => 16;
    public static bool IsSupported => Avx512F.IsSupported && System.Runtime.Intrinsics.X86.Fma.IsSupported; // the narrow tails use 256-bit FMA

    public static void Run(float* a, float* b, int kc, float* c, int ldc, int rows, int cols, in GemmEpilogue ep)
        => ByWidth<NoPrefetch>(a, b, kc, c, ldc, rows, cols, ep);

    /// <summary>
    /// The same product with A prefetched 64 k steps (2 KB) ahead: for an A that streams from memory once per product
    /// (the Winograd products' transformed weights: 17 MB per 7x7 conv of ResNet18, read as 8-row panels), where the
    /// hardware prefetchers left the kernel waiting. ResNet18's 7x7 stage on Zen 5 at 2 threads: 4.0-4.1 -> 3.25-3.3 ms.
    /// </summary>
    public static void RunStreamingA(float* a, float* b, int kc, float* c, int ldc, int rows, int cols, in GemmEpilogue ep)
        => ByWidth<Prefetch>(a, b, kc, c, ldc, rows, cols, ep);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ByWidth<TP>(float* a, float* b, int kc, float* c, int ldc, int rows, int cols, in GemmEpilogue ep)
        where TP : struct, IPrefetch
    {
        // Narrower column tails load fewer vectors; the packed B panel keeps its 48-float stride either way.
        if (cols > 32) Tile<Three, TP>(a, b, kc, c, ldc, rows, cols, ep);
        else if (cols > 16) Tile<Two, TP>(a, b, kc, c, ldc, rows, cols, ep);
        else if (cols > 4) Tile<One, TP>(a, b, kc, c, ldc, rows, cols, ep);
        else if (cols > 2) Narrow<Four, TP>(a, b, kc, c, ldc, rows, cols, ep);
        else if (cols > 1) Narrow<Two, TP>(a, b, kc, c, ldc, rows, cols, ep);
        else Narrow<One, TP>(a, b, kc, c, ldc, rows, cols, ep);
    }

    private struct Four : IWidth { public static int Vectors => 4; }

    /// <summary>
    /// A tail of at most 4 columns (a 7x7 map's 49th, a 14x14 map's last 4 of 196): per column an 8-row vector of A times
    /// that column's B value, 1 to 4 FMAs per k step where the 16-lane tile spends 8 broadcasts and 8 FMAs on it. Each
    /// lane is the same chain of FMAs in the same order as the tile's, so the same bits; the merge is the tile's.
    /// Whole ResNet18 forwards on Zen 5, alternated in one process: 0.5 % faster at 1 thread, 0.3-1.7 % at 2.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Narrow<TC, TP>(float* a, float* b, int kc, float* c, int ldc, int rows, int cols, in GemmEpilogue ep)
        where TC : struct, IWidth where TP : struct, IPrefetch
    {
        int nc = TC.Vectors;
        const nint ahead = StreamDistance * 8;
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default;
        for (int k = 0; k < kc; k++)
        {
            if (TP.On && (k & 1) == 0) Sse.Prefetch0(a + ahead);
            var av = Avx.LoadVector256(a);
            c0 = System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(av, Vector256.Create(b[0]), c0);
            if (nc > 1) c1 = System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(av, Vector256.Create(b[1]), c1);
            if (nc > 2) c2 = System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(av, Vector256.Create(b[2]), c2);
            if (nc > 3) c3 = System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(av, Vector256.Create(b[3]), c3);
            a += 8;
            b += 48;
        }
        float* t = stackalloc float[8 * 48];
        float* lanes = stackalloc float[4 * 8];
        Avx.Store(lanes, c0);
        if (nc > 1) Avx.Store(lanes + 8, c1);
        if (nc > 2) Avx.Store(lanes + 16, c2);
        if (nc > 3) Avx.Store(lanes + 24, c3);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++) t[r * 48 + j] = lanes[j * 8 + r];
        GemmEpilogue.MergeScalar(t, 48, c, ldc, rows, cols, ep);
    }

    /// <summary>How far ahead RunStreamingA prefetches A, in k steps of 8 floats (measured: 32 slower, 128 no better).</summary>
    private const int StreamDistance = 64;

    /// <summary>Whether a tile prefetches its A panel ahead (RunStreamingA); a constant per instantiation.</summary>
    private interface IPrefetch { static abstract bool On { get; } }
    private struct Prefetch : IPrefetch { public static bool On => true; }
    private struct NoPrefetch : IPrefetch { public static bool On => false; }

    private interface IWidth { static abstract int Vectors { get; } }
    private struct One : IWidth { public static int Vectors => 1; }
    private struct Two : IWidth { public static int Vectors => 2; }
    private struct Three : IWidth { public static int Vectors => 3; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Fma(V a, V b0, V b1, V b2, ref V c0, ref V c1, ref V c2, int vectors)
    {
        c0 = Avx512F.FusedMultiplyAdd(a, b0, c0);
        if (vectors > 1) c1 = Avx512F.FusedMultiplyAdd(a, b1, c1);
        if (vectors > 2) c2 = Avx512F.FusedMultiplyAdd(a, b2, c2);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile<TW, TP>(float* a, float* b, int kc, float* c, int ldc, int rows, int cols, in GemmEpilogue ep)
        where TW : struct, IWidth where TP : struct, IPrefetch
    {
        int nv = TW.Vectors;
        const nint ahead = StreamDistance * 8;
        V c00 = default, c01 = default, c02 = default, c10 = default, c11 = default, c12 = default;
        V c20 = default, c21 = default, c22 = default, c30 = default, c31 = default, c32 = default;
        V c40 = default, c41 = default, c42 = default, c50 = default, c51 = default, c52 = default;
        V c60 = default, c61 = default, c62 = default, c70 = default, c71 = default, c72 = default;
        for (int k = 0; k < kc; k++)
        {
            if (TP.On && (k & 1) == 0) Sse.Prefetch0(a + ahead); // one 64-byte line per two k steps
            V b0 = Avx512F.LoadVector512(b);
            V b1 = nv > 1 ? Avx512F.LoadVector512(b + 16) : default;
            V b2 = nv > 2 ? Avx512F.LoadVector512(b + 32) : default;
            Fma(Vector512.Create(a[0]), b0, b1, b2, ref c00, ref c01, ref c02, nv);
            Fma(Vector512.Create(a[1]), b0, b1, b2, ref c10, ref c11, ref c12, nv);
            Fma(Vector512.Create(a[2]), b0, b1, b2, ref c20, ref c21, ref c22, nv);
            Fma(Vector512.Create(a[3]), b0, b1, b2, ref c30, ref c31, ref c32, nv);
            Fma(Vector512.Create(a[4]), b0, b1, b2, ref c40, ref c41, ref c42, nv);
            Fma(Vector512.Create(a[5]), b0, b1, b2, ref c50, ref c51, ref c52, nv);
            Fma(Vector512.Create(a[6]), b0, b1, b2, ref c60, ref c61, ref c62, nv);
            Fma(Vector512.Create(a[7]), b0, b1, b2, ref c70, ref c71, ref c72, nv);
            a += 8;
            b += 48;
        }

        if (rows == 8 && cols == nv * 16)
        {
            float* bias = ep.Bias;
            float* res = ep.Residual;
            StoreRow(c, 0, c00, c01, c02, nv, ep, bias, res);
            StoreRow(c + ldc, 1, c10, c11, c12, nv, ep, bias, res == null ? null : res + ep.LdResidual);
            StoreRow(c + 2 * ldc, 2, c20, c21, c22, nv, ep, bias, res == null ? null : res + 2 * ep.LdResidual);
            StoreRow(c + 3 * ldc, 3, c30, c31, c32, nv, ep, bias, res == null ? null : res + 3 * ep.LdResidual);
            StoreRow(c + 4 * ldc, 4, c40, c41, c42, nv, ep, bias, res == null ? null : res + 4 * ep.LdResidual);
            StoreRow(c + 5 * ldc, 5, c50, c51, c52, nv, ep, bias, res == null ? null : res + 5 * ep.LdResidual);
            StoreRow(c + 6 * ldc, 6, c60, c61, c62, nv, ep, bias, res == null ? null : res + 6 * ep.LdResidual);
            StoreRow(c + 7 * ldc, 7, c70, c71, c72, nv, ep, bias, res == null ? null : res + 7 * ep.LdResidual);
            return;
        }

        // A partial tile: park the accumulators and merge element by element (same operations, same order).
        float* t = stackalloc float[8 * 48];
        Park(t, 0, c00, c01, c02, nv); Park(t, 1, c10, c11, c12, nv);
        Park(t, 2, c20, c21, c22, nv); Park(t, 3, c30, c31, c32, nv);
        Park(t, 4, c40, c41, c42, nv); Park(t, 5, c50, c51, c52, nv);
        Park(t, 6, c60, c61, c62, nv); Park(t, 7, c70, c71, c72, nv);
        GemmEpilogue.MergeScalar(t, 48, c, ldc, rows, cols, ep);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Park(float* t, int r, V v0, V v1, V v2, int nv)
    {
        Avx512F.Store(t + r * 48, v0);
        if (nv > 1) Avx512F.Store(t + r * 48 + 16, v1);
        if (nv > 2) Avx512F.Store(t + r * 48 + 32, v2);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow(float* c, int r, V v0, V v1, V v2, int nv, in GemmEpilogue ep, float* bias, float* res)
    {
        if (ep.Load)
        {
            v0 = Avx512F.Add(v0, Avx512F.LoadVector512(c));
            if (nv > 1) v1 = Avx512F.Add(v1, Avx512F.LoadVector512(c + 16));
            if (nv > 2) v2 = Avx512F.Add(v2, Avx512F.LoadVector512(c + 32));
        }
        if (bias != null)
        {
            V bv = Vector512.Create(bias[r]);
            v0 = Avx512F.Add(v0, bv);
            if (nv > 1) v1 = Avx512F.Add(v1, bv);
            if (nv > 2) v2 = Avx512F.Add(v2, bv);
        }
        if (res != null)
        {
            v0 = Avx512F.Add(v0, Avx512F.LoadVector512(res));
            if (nv > 1) v1 = Avx512F.Add(v1, Avx512F.LoadVector512(res + 16));
            if (nv > 2) v2 = Avx512F.Add(v2, Avx512F.LoadVector512(res + 32));
        }
        if (ep.Relu)
        {
            // max(0, v) with 0 first: a NaN in v comes through (x86 max returns its second operand on NaN).
            V z = V.Zero;
            v0 = Avx512F.Max(z, v0);
            if (nv > 1) v1 = Avx512F.Max(z, v1);
            if (nv > 2) v2 = Avx512F.Max(z, v2);
        }
        Avx512F.Store(c, v0);
        if (nv > 1) Avx512F.Store(c + 16, v1);
        if (nv > 2) Avx512F.Store(c + 32, v2);
    }
}
