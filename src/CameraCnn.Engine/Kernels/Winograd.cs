// Winograd: the tile transforms of the minimal-filtering convolution F(m x m, 3 x 3) (Lavin & Gray 2015):
// y = A^T [ (G g G^T) .* (B^T d B) ] A for an (m + 2) x (m + 2) input patch d and a 3 x 3 kernel g, which computes an
// m x m block of the stride-1 correlation of the lecture's eq. (6) with alpha^2 = (m + 2)^2 multiplies instead of
// 9 m^2. F(4x4, 3x3): 36 instead of 144 (4x fewer), interpolation points 0, +-1, +-2 and infinity; F(2x2, 3x3): 16
// instead of 36, for maps too small for 4 x 4 tiles.
// Each transform exists as a plain matrix loop (the reference: the scalar path and the tests' truth) and as a
// vector version over 8 or 16 tiles at once (WinogradLanes). The driver is WinogradConvolution.
using System.Runtime.CompilerServices;

namespace CameraCnn.Engine.Kernels;

/// <summary>One Winograd tile size: its transforms, scalar and vectorised.</summary>
internal unsafe interface IWinogradTile
{
    /// <summary>Output tile side m.</summary>
    static abstract int M { get; }
    /// <summary>Input tile side alpha = m + 2; the element-wise products are alpha^2 GEMMs.</summary>
    static abstract int Alpha { get; }
    /// <summary>Floats the vector input transform reads from a patch's first column on (row slack of the padded plane).</summary>
    static abstract int ReadWidth { get; }

    /// <summary>u [alpha^2] = G g G^T for one 3 x 3 kernel g [9], in double (once per fusion, not per frame).</summary>
    static abstract void TransformWeight(ReadOnlySpan<double> g, Span<double> u);

    /// <summary>Reference: v = B^T d B for the patch at <paramref name="d"/> (row stride ld); v[xi] at dst[xi * xiStride].</summary>
    static abstract void InputTile(float* d, int ld, float* dst, long xiStride);

    /// <summary>Reference: o [m x m, row-major] = A^T m A with m[xi] at src[xi * xiStride].</summary>
    static abstract void OutputTile(float* src, long xiStride, float* o);

    /// <summary>
    /// Input transform of Lanes tiles (patch of tile l at p[l]) in the lane order of <see cref="WinogradRuns"/>; vector
    /// xi at dst + xi * xiStride, its upper half lanes at + half (packed panels narrower than a vector).
    /// </summary>
    static abstract void Input<TL, TV>(float** p, int ld, float* dst, long xiStride, long half)
        where TL : struct, IWinogradLanes<TV> where TV : unmanaged;

    /// <summary>Output transform of Lanes tiles into t [m^2 vectors]: output (a, b) of lane e at t[(a * m + b) * Lanes + e].</summary>
    static abstract void OutputToTemp<TL, TV>(float* src, long xiStride, float* t)
        where TL : struct, IWinogradLanes<TV> where TV : unmanaged;

    /// <summary>
    /// Output transform of Lanes whole tiles straight into y: tile l's block starts at y[l] (row stride ldy; lanes in
    /// the order of <see cref="WinogradRuns"/>), each value + lane e's bias (bias[e * biasStep]: step 0, one bias for all)
    /// (+ the residual at the same place + resOffset), then max(0, .) when relu.
    /// </summary>
    static abstract void Output<TL, TV>(float* src, long xiStride, float* bias, int biasStep, float** y, int ldy, long resOffset,
        bool residual, bool relu) where TL : struct, IWinogradLanes<TV> where TV : unmanaged;
}

/// <summary>F(4x4, 3x3): 6 x 6 input tiles, 36 element-wise products, 4 x 4 outputs.</summary>
[SkipLocalsInit]
internal readonly unsafe struct WinogradF43 : IWinogradTile
{
    public static int M => 4;
    public static int Alpha => 6;
    public static int ReadWidth => 8;

    /// <summary>B^T, G and A^T of F(4x4, 3x3) with the points 0, 1, -1, 2, -2 (and infinity).</summary>
    internal static readonly float[,] BT =
    {
        { 4, 0, -5, 0, 1, 0 },
        { 0, -4, -4, 1, 1, 0 },
        { 0, 4, -4, -1, 1, 0 },
        { 0, -2, -1, 2, 1, 0 },
        { 0, 2, -1, -2, 1, 0 },
        { 0, 4, 0, -5, 0, 1 },
    };

    /// <summary>G, row-major 6 x 3.</summary>
    internal static readonly double[] G =
    [
        1 / 4.0, 0, 0,
        -1 / 6.0, -1 / 6.0, -1 / 6.0,
        -1 / 6.0, 1 / 6.0, -1 / 6.0,
        1 / 24.0, 1 / 12.0, 1 / 6.0,
        1 / 24.0, -1 / 12.0, 1 / 6.0,
        0, 0, 1,
    ];

    internal static readonly float[,] AT =
    {
        { 1, 1, 1, 1, 1, 0 },
        { 0, 1, -1, 2, -2, 0 },
        { 0, 1, 1, 4, 4, 0 },
        { 0, 1, -1, 8, -8, 1 },
    };

    public static void TransformWeight(ReadOnlySpan<double> g, Span<double> u) => WinogradMath.TransformWeight(G, g, u);
    public static void InputTile(float* d, int ld, float* dst, long xiStride) => WinogradMath.InputTile(BT, d, ld, dst, xiStride);
    public static void OutputTile(float* src, long xiStride, float* o) => WinogradMath.OutputTile(AT, src, xiStride, o);

    /// <summary>r = B^T d for one column (or row) d0..d5 of a patch, in 12 operations.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void BTd<TL, TV>(TV d0, TV d1, TV d2, TV d3, TV d4, TV d5,
        out TV r0, out TV r1, out TV r2, out TV r3, out TV r4, out TV r5)
        where TL : struct, IWinogradLanes<TV> where TV : unmanaged
    {
        TV four = TL.Splat(4f), m4 = TL.Splat(-4f), m5 = TL.Splat(-5f);
        TV t0 = TL.Fma(m4, d2, d4), t1 = TL.Fma(m4, d1, d3);
        TV t2 = TL.Sub(d4, d2), t3 = TL.Sub(d3, d1);
        t3 = TL.Add(t3, t3);
        r0 = TL.Fma(four, d0, TL.Fma(m5, d2, d4));
        r1 = TL.Add(t0, t1);
        r2 = TL.Sub(t0, t1);
        r3 = TL.Add(t2, t3);
        r4 = TL.Sub(t2, t3);
        r5 = TL.Fma(four, d1, TL.Fma(m5, d3, d5));
    }

    /// <summary>o = A^T m for one column (or row) m0..m5 of a product tile.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ATm<TL, TV>(TV m0, TV m1, TV m2, TV m3, TV m4, TV m5, out TV o0, out TV o1, out TV o2, out TV o3)
        where TL : struct, IWinogradLanes<TV> where TV : unmanaged
    {
        TV s1 = TL.Add(m1, m2), s2 = TL.Sub(m1, m2), s3 = TL.Add(m3, m4), s4 = TL.Sub(m3, m4);
        o0 = TL.Add(TL.Add(m0, s1), s3);
        o1 = TL.Fma(TL.Splat(2f), s4, s2);
        o2 = TL.Fma(TL.Splat(4f), s3, s1);
        o3 = TL.Add(TL.Fma(TL.Splat(8f), s4, s2), m5);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Input<TL, TV>(float** p, int ld, float* dst, long xiStride, long half)
        where TL : struct, IWinogradLanes<TV> where TV : unmanaged
    {
        // Rows first: row r of every patch, its 8 floats read as two runs of 4 (one vector per Lanes / 4 tiles side by
        // side) and turned so vector k holds column k of all the tiles; B^T along the row; then B^T down each column.
        TV* h = stackalloc TV[36];
        int c = TL.Lanes / 4;
        for (int r = 0; r < 6; r++)
        {
            long off = (long)r * ld;
            TV d0 = WinogradRuns.LoadRun<TL, TV>(p, off), d1 = WinogradRuns.LoadRun<TL, TV>(p + c, off);
            TV d2 = WinogradRuns.LoadRun<TL, TV>(p + 2 * c, off), d3 = WinogradRuns.LoadRun<TL, TV>(p + 3 * c, off);
            TL.Transpose4(ref d0, ref d1, ref d2, ref d3);
            TL.Transpose4Low(WinogradRuns.LoadRun<TL, TV>(p, off + 4), WinogradRuns.LoadRun<TL, TV>(p + c, off + 4),
                WinogradRuns.LoadRun<TL, TV>(p + 2 * c, off + 4), WinogradRuns.LoadRun<TL, TV>(p + 3 * c, off + 4), out TV d4, out TV d5);
            TV* hr = h + r * 6;
            BTd<TL, TV>(d0, d1, d2, d3, d4, d5, out hr[0], out hr[1], out hr[2], out hr[3], out hr[4], out hr[5]);
        }
        for (int j = 0; j < 6; j++)
        {
            BTd<TL, TV>(h[j], h[6 + j], h[12 + j], h[18 + j], h[24 + j], h[30 + j],
                out TV v0, out TV v1, out TV v2, out TV v3, out TV v4, out TV v5);
            TL.StoreHalves(dst + j * xiStride, half, v0);
            TL.StoreHalves(dst + (6 + j) * xiStride, half, v1);
            TL.StoreHalves(dst + (12 + j) * xiStride, half, v2);
            TL.StoreHalves(dst + (18 + j) * xiStride, half, v3);
            TL.StoreHalves(dst + (24 + j) * xiStride, half, v4);
            TL.StoreHalves(dst + (30 + j) * xiStride, half, v5);
        }
    }

    /// <summary>Columns first: u = A^T m down each of the 6 columns, into u [4 x 6].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Columns<TL, TV>(float* src, long xiStride, TV* u) where TL : struct, IWinogradLanes<TV> where TV : unmanaged
    {
        for (int j = 0; j < 6; j++)
        {
            ATm<TL, TV>(TL.Load(src + j * xiStride), TL.Load(src + (6 + j) * xiStride), TL.Load(src + (12 + j) * xiStride),
                TL.Load(src + (18 + j) * xiStride), TL.Load(src + (24 + j) * xiStride), TL.Load(src + (30 + j) * xiStride),
                out u[j], out u[6 + j], out u[12 + j], out u[18 + j]);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void OutputToTemp<TL, TV>(float* src, long xiStride, float* t) where TL : struct, IWinogradLanes<TV> where TV : unmanaged
    {
        TV* u = stackalloc TV[24];
        Columns<TL, TV>(src, xiStride, u);
        int n = TL.Lanes;
        for (int a = 0; a < 4; a++)
        {
            TV* ua = u + a * 6;
            ATm<TL, TV>(ua[0], ua[1], ua[2], ua[3], ua[4], ua[5], out TV o0, out TV o1, out TV o2, out TV o3);
            TL.Store(t + (a * 4) * n, o0);
            TL.Store(t + (a * 4 + 1) * n, o1);
            TL.Store(t + (a * 4 + 2) * n, o2);
            TL.Store(t + (a * 4 + 3) * n, o3);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Output<TL, TV>(float* src, long xiStride, float* bias, int biasStep, float** y, int ldy, long resOffset,
        bool residual, bool relu) where TL : struct, IWinogradLanes<TV> where TV : unmanaged
    {
        TV* u = stackalloc TV[24];
        Columns<TL, TV>(src, xiStride, u);
        TV b = biasStep == 0 ? TL.Splat(*bias) : TL.Load(bias);
        int c = TL.Lanes / 4;
        for (int a = 0; a < 4; a++)
        {
            TV* ua = u + a * 6;
            ATm<TL, TV>(ua[0], ua[1], ua[2], ua[3], ua[4], ua[5], out TV o0, out TV o1, out TV o2, out TV o3);
            o0 = TL.Add(o0, b);
            o1 = TL.Add(o1, b);
            o2 = TL.Add(o2, b);
            o3 = TL.Add(o3, b);
            // Vector b holds column b of row a of every tile; turned around, chunk L of o_q is row a of tile q * c + L.
            TL.Transpose4(ref o0, ref o1, ref o2, ref o3);
            long row = (long)a * ldy;
            Finish<TL, TV>(o0, y, row, resOffset, residual, relu);
            Finish<TL, TV>(o1, y + c, row, resOffset, residual, relu);
            Finish<TL, TV>(o2, y + 2 * c, row, resOffset, residual, relu);
            Finish<TL, TV>(o3, y + 3 * c, row, resOffset, residual, relu);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish<TL, TV>(TV v, float** y, long row, long resOffset, bool residual, bool relu)
        where TL : struct, IWinogradLanes<TV> where TV : unmanaged
    {
        if (residual) v = TL.Add(v, WinogradRuns.LoadRun<TL, TV>(y, row + resOffset));
        if (relu) v = TL.Relu(v);
        WinogradRuns.StoreRun<TL, TV>(v, y, row);
    }
}

/// <summary>F(2x2, 3x3): 4 x 4 input tiles, 16 element-wise products (2.25x fewer multiplies), 2 x 2 outputs; for small maps.</summary>
[SkipLocalsInit]
internal readonly unsafe struct WinogradF23 : IWinogradTile
{
    public static int M => 2;
    public static int Alpha => 4;
    public static int ReadWidth => 4;

    internal static readonly float[,] BT =
    {
        { 1, 0, -1, 0 },
        { 0, 1, 1, 0 },
        { 0, -1, 1, 0 },
        { 0, 1, 0, -1 },
    };

    /// <summary>G, row-major 4 x 3.</summary>
    internal static readonly double[] G =
    [
        1, 0, 0,
        0.5, 0.5, 0.5,
        0.5, -0.5, 0.5,
        0, 0, 1,
    ];

    internal static readonly float[,] AT =
    {
        { 1, 1, 1, 0 },
        { 0, 1, -1, -1 },
    };

    public static void TransformWeight(ReadOnlySpan<double> g, Span<double> u) => WinogradMath.TransformWeight(G, g, u);
    public static void InputTile(float* d, int ld, float* dst, long xiStride) => WinogradMath.InputTile(BT, d, ld, dst, xiStride);
    public static void OutputTile(float* src, long xiStride, float* o) => WinogradMath.OutputTile(AT, src, xiStride, o);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Input<TL, TV>(float** p, int ld, float* dst, long xiStride, long half)
        where TL : struct, IWinogradLanes<TV> where TV : unmanaged
    {
        // A patch row is one chunk: four chunk loads and the transpose give its four columns for every tile.
        TV* h = stackalloc TV[16];
        int c = TL.Lanes / 4;
        for (int r = 0; r < 4; r++)
        {
            long off = (long)r * ld;
            TV d0 = TL.LoadChunks(p, 1, off), d1 = TL.LoadChunks(p + c, 1, off);
            TV d2 = TL.LoadChunks(p + 2 * c, 1, off), d3 = TL.LoadChunks(p + 3 * c, 1, off);
            TL.Transpose4(ref d0, ref d1, ref d2, ref d3);
            h[r * 4] = TL.Sub(d0, d2);
            h[r * 4 + 1] = TL.Add(d1, d2);
            h[r * 4 + 2] = TL.Sub(d2, d1);
            h[r * 4 + 3] = TL.Sub(d1, d3);
        }
        for (int j = 0; j < 4; j++)
        {
            TV d0 = h[j], d1 = h[4 + j], d2 = h[8 + j], d3 = h[12 + j];
            TL.StoreHalves(dst + j * xiStride, half, TL.Sub(d0, d2));
            TL.StoreHalves(dst + (4 + j) * xiStride, half, TL.Add(d1, d2));
            TL.StoreHalves(dst + (8 + j) * xiStride, half, TL.Sub(d2, d1));
            TL.StoreHalves(dst + (12 + j) * xiStride, half, TL.Sub(d1, d3));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void OutputToTemp<TL, TV>(float* src, long xiStride, float* t) where TL : struct, IWinogradLanes<TV> where TV : unmanaged
    {
        TV* u = stackalloc TV[8];
        for (int j = 0; j < 4; j++)
        {
            TV m0 = TL.Load(src + j * xiStride), m1 = TL.Load(src + (4 + j) * xiStride);
            TV m2 = TL.Load(src + (8 + j) * xiStride), m3 = TL.Load(src + (12 + j) * xiStride);
            u[j] = TL.Add(TL.Add(m0, m1), m2);
            u[4 + j] = TL.Sub(TL.Sub(m1, m2), m3);
        }
        int n = TL.Lanes;
        for (int a = 0; a < 2; a++)
        {
            TV* ua = u + a * 4;
            TL.Store(t + (a * 2) * n, TL.Add(TL.Add(ua[0], ua[1]), ua[2]));
            TL.Store(t + (a * 2 + 1) * n, TL.Sub(TL.Sub(ua[1], ua[2]), ua[3]));
        }
    }

    /// <summary>2-float rows do not fill a chunk: through the temp, one tile at a time.</summary>
    public static void Output<TL, TV>(float* src, long xiStride, float* bias, int biasStep, float** y, int ldy, long resOffset,
        bool residual, bool relu) where TL : struct, IWinogradLanes<TV> where TV : unmanaged
    {
        int n = TL.Lanes;
        float* t = stackalloc float[4 * n];
        OutputToTemp<TL, TV>(src, xiStride, t);
        for (int e = 0; e < n; e++)
            for (int k = 0; k < 4; k++)
            {
                float* at = y[WinogradRuns.TileOfLane(e, n)] + (long)(k >> 1) * ldy + (k & 1);
                float v = t[k * n + e] + bias[e * biasStep];
                if (residual) v += at[resOffset];
                if (relu && v < 0) v = 0;
                *at = v;
            }
    }
}

/// <summary>The transforms as plain matrix products (any tile size): the reference the vector forms are tested against.</summary>
[SkipLocalsInit]
internal static unsafe class WinogradMath
{
    /// <summary>u = G g G^T in double; G is alpha x 3, g 3 x 3 and u alpha x alpha, all row-major.</summary>
    public static void TransformWeight(double[] G, ReadOnlySpan<double> g, Span<double> u)
    {
        int alpha = G.Length / 3;
        Span<double> t = stackalloc double[alpha * 3];
        for (int i = 0; i < alpha; i++)
        {
            double g0 = G[i * 3], g1 = G[i * 3 + 1], g2 = G[i * 3 + 2];
            for (int k = 0; k < 3; k++) t[i * 3 + k] = g0 * g[k] + g1 * g[3 + k] + g2 * g[6 + k];
        }
        for (int i = 0; i < alpha; i++)
        {
            double t0 = t[i * 3], t1 = t[i * 3 + 1], t2 = t[i * 3 + 2];
            for (int j = 0; j < alpha; j++) u[i * alpha + j] = t0 * G[j * 3] + t1 * G[j * 3 + 1] + t2 * G[j * 3 + 2];
        }
    }

    public static void InputTile(float[,] BT, float* d, int ld, float* dst, long xiStride)
    {
        int alpha = BT.GetLength(0);
        float* t = stackalloc float[alpha * alpha];
        for (int r = 0; r < alpha; r++)
            for (int j = 0; j < alpha; j++)
            {
                float s = 0;
                for (int k = 0; k < alpha; k++) s += BT[j, k] * d[r * ld + k];
                t[r * alpha + j] = s;
            }
        for (int i = 0; i < alpha; i++)
            for (int j = 0; j < alpha; j++)
            {
                float s = 0;
                for (int r = 0; r < alpha; r++) s += BT[i, r] * t[r * alpha + j];
                dst[(i * alpha + j) * xiStride] = s;
            }
    }

    public static void OutputTile(float[,] AT, float* src, long xiStride, float* o)
    {
        int m = AT.GetLength(0), alpha = AT.GetLength(1);
        float* t = stackalloc float[m * alpha];
        for (int a = 0; a < m; a++)
            for (int j = 0; j < alpha; j++)
            {
                float s = 0;
                for (int i = 0; i < alpha; i++) s += AT[a, i] * src[(i * alpha + j) * xiStride];
                t[a * alpha + j] = s;
            }
        for (int a = 0; a < m; a++)
            for (int b = 0; b < m; b++)
            {
                float s = 0;
                for (int j = 0; j < alpha; j++) s += AT[b, j] * t[a * alpha + j];
                o[a * m + b] = s;
            }
    }
}
