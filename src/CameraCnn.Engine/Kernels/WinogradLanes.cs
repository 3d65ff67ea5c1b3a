// WinogradLanes: the vector operations the Winograd transforms are written in, once, for two widths (Vector256 on
// AVX2, Vector512 on AVX-512). A vector holds one value of 8 or 16 tiles; the tiles' 4-float runs are gathered and
// scattered as 128-bit chunks and turned around with the in-lane 4 x 4 transpose. The widths (IWinogradWidth) pick
// the vector type, or the scalar matrix reference, for the driver. Not a general SIMD layer.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Fma3 = System.Runtime.Intrinsics.X86.Fma;
using V256 = System.Runtime.Intrinsics.Vector256<float>;
using V512 = System.Runtime.Intrinsics.Vector512<float>;

namespace CameraCnn.Engine.Kernels;

/// <summary>
/// Element-wise float vector operations over TV plus the chunk moves of the transforms. Chunk L of a vector is its
/// floats [4L, 4L + 4), L in [0, Lanes / 4).
/// </summary>
internal unsafe interface IWinogradLanes<TV> where TV : unmanaged
{
    /// <summary>Floats per vector: the tiles one transform call handles.</summary>
    static abstract int Lanes { get; }
    static abstract bool IsSupported { get; }
    static abstract TV Load(float* p);
    static abstract void Store(float* p, TV v);
    /// <summary>Stores lanes [0, Lanes / 2) at p and [Lanes / 2, Lanes) at p + half (half = Lanes / 2: one plain store).</summary>
    static abstract void StoreHalves(float* p, long half, TV v);
    static abstract TV Add(TV a, TV b);
    static abstract TV Sub(TV a, TV b);
    /// <summary>a * b + c with one rounding.</summary>
    static abstract TV Fma(TV a, TV b, TV c);
    static abstract TV Splat(float x);
    /// <summary>max(0, v), NaN kept (the operand order of the GEMM epilogue).</summary>
    static abstract TV Relu(TV v);
    /// <summary>Chunk L = the 4 floats at p[L * step] + offset.</summary>
    static abstract TV LoadChunks(float** p, int step, long offset);
    /// <summary>Stores chunk L at p[L * step] + offset.</summary>
    static abstract void StoreChunks(TV v, float** p, int step, long offset);
    /// <summary>The 4 x 4 transpose inside every chunk: chunk L of a_q, element k becomes chunk L of a_k, element q.</summary>
    static abstract void Transpose4(ref TV a0, ref TV a1, ref TV a2, ref TV a3);
    /// <summary>Elements 0 and 1 of <see cref="Transpose4"/>'s result only (a_0 and a_1).</summary>
    static abstract void Transpose4Low(TV a0, TV a1, TV a2, TV a3, out TV b0, out TV b1);
}

/// <summary>
/// The lane order of the vector transforms: vector element 4L + q (chunk L, element q) holds tile q * (Lanes / 4) + L
/// of a group, the in-lane transpose of the natural order. So the Lanes / 4 tiles of one chunk row a_q are consecutive
/// tiles: when their 4-float runs lie side by side in memory (tiles of one tile row), a_q is one plain vector load
/// or store instead of Lanes / 4 chunk moves.
/// </summary>
internal static unsafe class WinogradRuns
{
    /// <summary>The tile (within its group) whose values vector element e holds.</summary>
    public static int TileOfLane(int e, int lanes) => lanes < 4 ? e : (e & 3) * (lanes >> 2) + (e >> 2);

    /// <summary>Chunk L = the 4 floats at p[L] + offset: one load when they are contiguous.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV LoadRun<TL, TV>(float** p, long offset) where TL : struct, IWinogradLanes<TV> where TV : unmanaged
    {
        int last = TL.Lanes / 4 - 1;
        return p[last] == p[0] + 4 * last ? TL.Load(p[0] + offset) : TL.LoadChunks(p, 1, offset);
    }

    /// <summary>Chunk L to p[L] + offset: one store when the places are contiguous.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreRun<TL, TV>(TV v, float** p, long offset) where TL : struct, IWinogradLanes<TV> where TV : unmanaged
    {
        int last = TL.Lanes / 4 - 1;
        if (p[last] == p[0] + 4 * last) TL.Store(p[0] + offset, v);
        else TL.StoreChunks(v, p, 1, offset);
    }
}

/// <summary>Vector256 (AVX + FMA3): 8 tiles per vector, two chunks.</summary>
internal readonly unsafe struct Lanes256 : IWinogradLanes<V256>
{
    public static int Lanes => 8;
    public static bool IsSupported => Avx2.IsSupported && Fma3.IsSupported;
    public static V256 Load(float* p) => Avx.LoadVector256(p);
    public static void Store(float* p, V256 v) => Avx.Store(p, v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreHalves(float* p, long half, V256 v)
    {
        if (half == 4)
        {
            Avx.Store(p, v);
            return;
        }
        Sse.Store(p, v.GetLower());
        Sse.Store(p + half, v.GetUpper());
    }
    public static V256 Add(V256 a, V256 b) => Avx.Add(a, b);
    public static V256 Sub(V256 a, V256 b) => Avx.Subtract(a, b);
    public static V256 Fma(V256 a, V256 b, V256 c) => Fma3.MultiplyAdd(a, b, c);
    public static V256 Splat(float x) => Vector256.Create(x);
    public static V256 Relu(V256 v) => Avx.Max(V256.Zero, v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V256 LoadChunks(float** p, int step, long offset)
        => Vector256.Create(Sse.LoadVector128(p[0] + offset), Sse.LoadVector128(p[step] + offset));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreChunks(V256 v, float** p, int step, long offset)
    {
        Sse.Store(p[0] + offset, v.GetLower());
        Sse.Store(p[step] + offset, v.GetUpper());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Transpose4(ref V256 a0, ref V256 a1, ref V256 a2, ref V256 a3)
    {
        V256 t0 = Avx.UnpackLow(a0, a1), t1 = Avx.UnpackHigh(a0, a1);
        V256 t2 = Avx.UnpackLow(a2, a3), t3 = Avx.UnpackHigh(a2, a3);
        a0 = Avx.Shuffle(t0, t2, 0x44);
        a1 = Avx.Shuffle(t0, t2, 0xEE);
        a2 = Avx.Shuffle(t1, t3, 0x44);
        a3 = Avx.Shuffle(t1, t3, 0xEE);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Transpose4Low(V256 a0, V256 a1, V256 a2, V256 a3, out V256 b0, out V256 b1)
    {
        V256 t0 = Avx.UnpackLow(a0, a1), t2 = Avx.UnpackLow(a2, a3);
        b0 = Avx.Shuffle(t0, t2, 0x44);
        b1 = Avx.Shuffle(t0, t2, 0xEE);
    }
}

/// <summary>Vector512 (AVX-512F): 16 tiles per vector, four chunks.</summary>
internal readonly unsafe struct Lanes512 : IWinogradLanes<V512>
{
    public static int Lanes => 16;
    public static bool IsSupported => Avx512F.IsSupported;
    public static V512 Load(float* p) => Avx512F.LoadVector512(p);
    public static void Store(float* p, V512 v) => Avx512F.Store(p, v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreHalves(float* p, long half, V512 v)
    {
        if (half == 8)
        {
            Avx512F.Store(p, v);
            return;
        }
        Avx.Store(p, v.GetLower());
        Avx.Store(p + half, v.GetUpper());
    }
    public static V512 Add(V512 a, V512 b) => Avx512F.Add(a, b);
    public static V512 Sub(V512 a, V512 b) => Avx512F.Subtract(a, b);
    public static V512 Fma(V512 a, V512 b, V512 c) => Avx512F.FusedMultiplyAdd(a, b, c);
    public static V512 Splat(float x) => Vector512.Create(x);
    public static V512 Relu(V512 v) => Avx512F.Max(V512.Zero, v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V512 LoadChunks(float** p, int step, long offset)
    {
        // Two inserted halves (Vector512.Create(lower, upper) compiles to a stack round trip).
        V512 lo = Vector256.Create(Sse.LoadVector128(p[0] + offset), Sse.LoadVector128(p[step] + offset)).ToVector512();
        return Avx512F.InsertVector256(lo, Vector256.Create(Sse.LoadVector128(p[2 * step] + offset), Sse.LoadVector128(p[3 * step] + offset)), 1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreChunks(V512 v, float** p, int step, long offset)
    {
        Sse.Store(p[0] + offset, Avx512F.ExtractVector128(v, 0));
        Sse.Store(p[step] + offset, Avx512F.ExtractVector128(v, 1));
        Sse.Store(p[2 * step] + offset, Avx512F.ExtractVector128(v, 2));
        Sse.Store(p[3 * step] + offset, Avx512F.ExtractVector128(v, 3));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Transpose4(ref V512 a0, ref V512 a1, ref V512 a2, ref V512 a3)
    {
        V512 t0 = Avx512F.UnpackLow(a0, a1), t1 = Avx512F.UnpackHigh(a0, a1);
        V512 t2 = Avx512F.UnpackLow(a2, a3), t3 = Avx512F.UnpackHigh(a2, a3);
        a0 = Avx512F.Shuffle(t0, t2, 0x44);
        a1 = Avx512F.Shuffle(t0, t2, 0xEE);
        a2 = Avx512F.Shuffle(t1, t3, 0x44);
        a3 = Avx512F.Shuffle(t1, t3, 0xEE);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Transpose4Low(V512 a0, V512 a1, V512 a2, V512 a3, out V512 b0, out V512 b1)
    {
        V512 t0 = Avx512F.UnpackLow(a0, a1), t2 = Avx512F.UnpackLow(a2, a3);
        b0 = Avx512F.Shuffle(t0, t2, 0x44);
        b1 = Avx512F.Shuffle(t0, t2, 0xEE);
    }
}

/// <summary>How many tiles one transform call handles, and which code does it: 16 (Vector512), 8 (Vector256) or 1 (scalar reference).</summary>
internal unsafe interface IWinogradWidth
{
    static abstract int Lanes { get; }
    static abstract void Input<TT>(float** p, int ld, float* dst, long xiStride, long half) where TT : struct, IWinogradTile;
    static abstract void OutputToTemp<TT>(float* src, long xiStride, float* t) where TT : struct, IWinogradTile;
    static abstract void Output<TT>(float* src, long xiStride, float* bias, int biasStep, float** y, int ldy, long resOffset, bool residual, bool relu)
        where TT : struct, IWinogradTile;
}

internal readonly unsafe struct Width512 : IWinogradWidth
{
    public static int Lanes => 16;
    public static void Input<TT>(float** p, int ld, float* dst, long xiStride, long half) where TT : struct, IWinogradTile
        => TT.Input<Lanes512, V512>(p, ld, dst, xiStride, half);
    public static void OutputToTemp<TT>(float* src, long xiStride, float* t) where TT : struct, IWinogradTile
        => TT.OutputToTemp<Lanes512, V512>(src, xiStride, t);
    public static void Output<TT>(float* src, long xiStride, float* bias, int biasStep, float** y, int ldy, long resOffset, bool residual, bool relu)
        where TT : struct, IWinogradTile => TT.Output<Lanes512, V512>(src, xiStride, bias, biasStep, y, ldy, resOffset, residual, relu);
}

internal readonly unsafe struct Width256 : IWinogradWidth
{
    public static int Lanes => 8;
    public static void Input<TT>(float** p, int ld, float* dst, long xiStride, long half) where TT : struct, IWinogradTile
        => TT.Input<Lanes256, V256>(p, ld, dst, xiStride, half);
    public static void OutputToTemp<TT>(float* src, long xiStride, float* t) where TT : struct, IWinogradTile
        => TT.OutputToTemp<Lanes256, V256>(src, xiStride, t);
    public static void Output<TT>(float* src, long xiStride, float* bias, int biasStep, float** y, int ldy, long resOffset, bool residual, bool relu)
        where TT : struct, IWinogradTile => TT.Output<Lanes256, V256>(src, xiStride, bias, biasStep, y, ldy, resOffset, residual, relu);
}

internal readonly unsafe struct WidthScalar : IWinogradWidth
{
    public static int Lanes => 1;
    public static void Input<TT>(float** p, int ld, float* dst, long xiStride, long half) where TT : struct, IWinogradTile
        => TT.InputTile(p[0], ld, dst, xiStride);
    public static void OutputToTemp<TT>(float* src, long xiStride, float* t) where TT : struct, IWinogradTile
        => TT.OutputTile(src, xiStride, t);
    public static void Output<TT>(float* src, long xiStride, float* bias, int biasStep, float** y, int ldy, long resOffset, bool residual, bool relu)
        where TT : struct, IWinogradTile => throw new InvalidOperationException("the scalar width stores through OutputToTemp");
}
