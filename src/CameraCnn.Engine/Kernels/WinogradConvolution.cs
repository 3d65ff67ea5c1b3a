// WinogradConvolution: the forward of a 3x3 stride-1 convolution (groups 1, no dilation) by Winograd F(m x m, 3x3):
// 1. every input plane is zero-padded once and its tiles transformed, v = B^T d B, written straight into the packed B
//    panels of alpha^2 GEMMs (column = tile, row = input channel);
// 2. per output-channel chunk and tile block, the alpha^2 products M_xi [OC x tiles] = U_xi [OC x C] * V_xi run on the
//    GEMM micro-kernels (U = G g G^T, transformed and packed once), then the output transform y = A^T M A adds bias,
//    residual and ReLU and writes the m x m blocks of y.
// Both phases are split over the long-lived workers (planes, then chunks claimed from a counter). Not the backward.
using System.Runtime.CompilerServices;
using V256 = System.Runtime.Intrinsics.Vector256<float>;
using V512 = System.Runtime.Intrinsics.Vector512<float>;

namespace CameraCnn.Engine.Kernels;

/// <summary>How many tiles one transform call handles, and which code does it: 16 (Vector512), 8 (Vector256) or 1 (scalar reference).</summary>
internal unsafe interface IWinogradWidth
{
    static abstract int Lanes { get; }
    static abstract void Input<TT>(float** p, int ld, float* dst, long xiStride) where TT : struct, IWinogradTile;
    static abstract void OutputToTemp<TT>(float* src, long xiStride, float* t) where TT : struct, IWinogradTile;
    static abstract void Output<TT>(float* src, long xiStride, float bias, float** y, int ldy, long resOffset, bool residual, bool relu)
        where TT : struct, IWinogradTile;
}

internal readonly unsafe struct Width512 : IWinogradWidth
{
    public static int Lanes => 16;
    public static void Input<TT>(float** p, int ld, float* dst, long xiStride) where TT : struct, IWinogradTile
        => TT.Input<Lanes512, V512>(p, ld, dst, xiStride);
    public static void OutputToTemp<TT>(float* src, long xiStride, float* t) where TT : struct, IWinogradTile
        => TT.OutputToTemp<Lanes512, V512>(src, xiStride, t);
    public static void Output<TT>(float* src, long xiStride, float bias, float** y, int ldy, long resOffset, bool residual, bool relu)
        where TT : struct, IWinogradTile => TT.Output<Lanes512, V512>(src, xiStride, bias, y, ldy, resOffset, residual, relu);
}

internal readonly unsafe struct Width256 : IWinogradWidth
{
    public static int Lanes => 8;
    public static void Input<TT>(float** p, int ld, float* dst, long xiStride) where TT : struct, IWinogradTile
        => TT.Input<Lanes256, V256>(p, ld, dst, xiStride);
    public static void OutputToTemp<TT>(float* src, long xiStride, float* t) where TT : struct, IWinogradTile
        => TT.OutputToTemp<Lanes256, V256>(src, xiStride, t);
    public static void Output<TT>(float* src, long xiStride, float bias, float** y, int ldy, long resOffset, bool residual, bool relu)
        where TT : struct, IWinogradTile => TT.Output<Lanes256, V256>(src, xiStride, bias, y, ldy, resOffset, residual, relu);
}

internal readonly unsafe struct WidthScalar : IWinogradWidth
{
    public static int Lanes => 1;
    public static void Input<TT>(float** p, int ld, float* dst, long xiStride) where TT : struct, IWinogradTile
        => TT.InputTile(p[0], ld, dst, xiStride);
    public static void OutputToTemp<TT>(float* src, long xiStride, float* t) where TT : struct, IWinogradTile
        => TT.OutputTile(src, xiStride, t);
    public static void Output<TT>(float* src, long xiStride, float bias, float** y, int ldy, long resOffset, bool residual, bool relu)
        where TT : struct, IWinogradTile => throw new InvalidOperationException("the scalar width stores through OutputToTemp");
}

/// <summary>
/// A 3x3 stride-1 convolution's Winograd form: the transformed weights (U = G g G^T per (oc, c), kept unpacked and
/// packed per GEMM path as alpha^2 A matrices [OC x C]) and the forward. x [N, C, H, W] -> y [N, OC, OH, OW].
/// </summary>
[SkipLocalsInit]
internal sealed unsafe class WinogradConvolution
{
    private readonly float[] _u; // [alpha^2][OC][C]
    private readonly PackedMatrix[] _packed;
    private GemmPath? _packedPath;

    public int OC { get; }
    public int C { get; }
    /// <summary>Output tile side m: 4 for F(4x4, 3x3), 2 for F(2x2, 3x3).</summary>
    public int TileSize { get; }
    public int Alpha => TileSize + 2;

    /// <summary>True for the windows Winograd computes: 3x3, stride 1, no dilation (any padding).</summary>
    public static bool Supports(in Window2d g) => g is { KH: 3, KW: 3, SH: 1, SW: 1, DH: 1, DW: 1 };

    /// <summary>Tests and benchmarks: always (true) or never (false) Winograd where supported; null = by <see cref="Choose"/>.</summary>
    internal static bool? Force;

    /// <summary>Tests: the tile size a forced Winograd uses (null = by output size, as <see cref="Choose"/>).</summary>
    internal static int? ForceTile;

    /// <summary>
    /// The Winograd tile size m expected to beat im2col + GEMM for a supported conv with C inputs, OC outputs and an
    /// OH x OW output, or 0 for the GEMM (measured per ResNet18 shape on Zen 4; see README "Speed"): 4 x 4 tiles
    /// from 8 x 8 outputs up, 2 x 2 below.
    /// </summary>
    public static int Choose(int c, int oc, int oh, int ow)
    {
        int tile = ForceTile ?? (oh >= 8 && ow >= 8 ? 4 : 2);
        if (Force is { } forced) return forced ? tile : 0;
        return c >= 16 && oc >= 16 && oh >= 4 && ow >= 4 ? tile : 0;
    }

    [ThreadStatic] private static float[]? _v;
    [ThreadStatic] private static float[]? _plane;
    [ThreadStatic] private static float[]? _m;

    /// <summary>Transforms w [OC, C, 3, 3] for m x m output tiles (m = 2 or 4; in double, rounded once).</summary>
    public WinogradConvolution(ReadOnlySpan<float> w, int oc, int c, int tile)
    {
        if (w.Length != oc * c * 9) throw new ArgumentException($"winograd: {w.Length} weights for {oc}x{c}x3x3");
        if (tile is not (2 or 4)) throw new ArgumentException($"winograd: no F({tile}x{tile}, 3x3)");
        OC = oc;
        C = c;
        TileSize = tile;
        int a2 = Alpha * Alpha;
        _u = new float[a2 * oc * c];
        Span<double> g = stackalloc double[9];
        Span<double> u = stackalloc double[a2];
        for (int o = 0; o < oc; o++)
            for (int i = 0; i < c; i++)
            {
                for (int k = 0; k < 9; k++) g[k] = w[(o * c + i) * 9 + k];
                if (tile == 4) WinogradF43.TransformWeight(g, u);
                else WinogradF23.TransformWeight(g, u);
                for (int xi = 0; xi < a2; xi++) _u[((long)xi * oc + o) * c + i] = (float)u[xi];
            }
        _packed = new PackedMatrix[a2];
        for (int xi = 0; xi < a2; xi++) _packed[xi] = new PackedMatrix();
    }

    /// <summary>Shapes and pointers of one forward; pads are the top and left ones (the output size says the rest).</summary>
    public struct Args
    {
        public float* X, Y, Bias, Residual;
        public int N, H, W, OH, OW, PadTop, PadLeft;
        public bool Relu;
        public GemmPath Path;
    }

    /// <summary>Tile counts and buffer strides of one forward.</summary>
    private struct Plan
    {
        public int TilesH, TilesW, Tpi, TpiPad, Cols, Panels, Tpad, Hp, Wp, NR;
        public long XiStride; // floats between two xi in V: C * Tpad
    }

    private static Plan MakePlan<TT, TW>(int N, int C, int OH, int OW, int nr) where TT : struct, IWinogradTile where TW : struct, IWinogradWidth
    {
        int m = TT.M;
        var p = new Plan { TilesH = (OH + m - 1) / m, TilesW = (OW + m - 1) / m, NR = nr };
        p.Tpi = p.TilesH * p.TilesW;
        p.TpiPad = (p.Tpi + TW.Lanes - 1) / TW.Lanes * TW.Lanes;
        p.Cols = N * p.TpiPad;
        p.Panels = (p.Cols + nr - 1) / nr;
        p.Tpad = p.Panels * nr;
        p.Hp = m * p.TilesH + 2;
        p.Wp = m * (p.TilesW - 1) + TT.ReadWidth;
        p.XiStride = (long)C * p.Tpad;
        return p;
    }

    public void Forward(in Args a)
    {
        if (_packedPath != a.Path)
        {
            for (int xi = 0; xi < _packed.Length; xi++)
                _packed[xi].Pack(_u.AsSpan(xi * OC * C, OC * C), OC, C, C, false, a.Path);
            _packedPath = a.Path;
        }
        switch (a.Path, TileSize)
        {
            case (GemmPath.Avx512, 4): Run<GemmKernelAvx512, WinogradF43, Width512>(a); break;
            case (GemmPath.Avx512, _): Run<GemmKernelAvx512, WinogradF23, Width512>(a); break;
            case (GemmPath.Avx2, 4): Run<GemmKernelAvx2, WinogradF43, Width256>(a); break;
            case (GemmPath.Avx2, _): Run<GemmKernelAvx2, WinogradF23, Width256>(a); break;
            case (_, 4): Run<GemmKernelScalar, WinogradF43, WidthScalar>(a); break;
            default: Run<GemmKernelScalar, WinogradF23, WidthScalar>(a); break;
        }
    }

    private void Run<TK, TT, TW>(in Args a) where TK : struct, IGemmKernel where TT : struct, IWinogradTile where TW : struct, IWinogradWidth
    {
        var plan = MakePlan<TT, TW>(a.N, C, a.OH, a.OW, TK.NR);
        int a2 = TT.Alpha * TT.Alpha, threads = Parallelism.Threads;
        _v ??= [];
        float* v = PinnedBuffer.Ensure(ref _v, a2 * plan.XiStride);
        bool parallel = threads > 1 && (long)a2 * OC * C * plan.Cols >= GemmDriver.ParallelThreshold;

        var input = new InputJob<TT, TW> { X = a.X, V = v, C = C, H = a.H, W = a.W, PadTop = a.PadTop, PadLeft = a.PadLeft, P = plan };
        if (parallel) Parallelism.For(a.N * C, 1, ref input);
        else input.Run(0, a.N * C, 0);

        int ocPanels = (OC + TK.MR - 1) / TK.MR;
        int chunkPanels = Math.Min(ocPanels, Math.Max(1, 32 / TK.MR));
        int blockPanels = Math.Min(plan.Panels, Math.Max(1, 96 / TK.NR));
        int Units() => (ocPanels + chunkPanels - 1) / chunkPanels * ((plan.Panels + blockPanels - 1) / blockPanels);
        while (parallel && Units() < 3 * threads && chunkPanels > 1) chunkPanels = (chunkPanels + 1) / 2;
        var product = new ProductJob<TK, TT, TW>
        {
            V = v, Y = a.Y, Bias = a.Bias, Residual = a.Residual, Relu = a.Relu, Packed = _packed,
            OC = OC, C = C, OH = a.OH, OW = a.OW, P = plan,
            OcChunk = chunkPanels * TK.MR, BlockPanels = blockPanels,
            OcChunks = (ocPanels + chunkPanels - 1) / chunkPanels, ColBlocks = (plan.Panels + blockPanels - 1) / blockPanels,
        };
        int units = product.OcChunks * product.ColBlocks;
        if (parallel) Parallelism.For(Math.Min(threads, units), 1, ref product);
        else product.Run(0, 1, 0);
    }

    /// <summary>Phase 1: planes (n, c) padded into a scratch plane and their tiles transformed into V.</summary>
    private struct InputJob<TT, TW> : IParallelBody where TT : struct, IWinogradTile where TW : struct, IWinogradWidth
    {
        public float* X, V;
        public int C, H, W, PadTop, PadLeft;
        public Plan P;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int start, int end, int worker)
        {
            int m = TT.M, lanes = TW.Lanes, nr = P.NR, Wp = P.Wp;
            _plane ??= [];
            float* plane = PinnedBuffer.Ensure(ref _plane, (long)P.Hp * Wp);
            float** ptrs = stackalloc float*[lanes];
            for (int pi = start; pi < end; pi++)
            {
                int n = pi / C, c = pi % C;
                Pad(X + (long)pi * H * W, plane);
                int k0 = c / GemmDriver.KC * GemmDriver.KC, kc = Math.Min(GemmDriver.KC, C - k0);
                float* vc = V + (long)k0 * P.Tpad + (long)(c - k0) * nr;
                int th = 0, tw = 0;
                for (int t0 = 0; t0 < P.TpiPad; t0 += lanes)
                {
                    for (int l = 0; l < lanes; l++)
                    {
                        // Lanes past the image's last tile repeat its first: their columns are padding, never read back.
                        if (t0 + l >= P.Tpi)
                        {
                            ptrs[l] = plane;
                            continue;
                        }
                        ptrs[l] = plane + (long)m * th * Wp + m * tw;
                        if (++tw == P.TilesW)
                        {
                            tw = 0;
                            th++;
                        }
                    }
                    int col = n * P.TpiPad + t0;
                    TW.Input<TT>(ptrs, Wp, vc + (long)(col / nr) * nr * kc + col % nr, P.XiStride);
                }
            }
        }

        /// <summary>plane [Hp x Wp] = x [H x W] placed at (PadTop, PadLeft), zero elsewhere.</summary>
        private readonly void Pad(float* x, float* plane)
        {
            int Wp = P.Wp, left = Math.Min(PadLeft, Wp), width = Math.Clamp(Wp - PadLeft, 0, W);
            for (int r = 0; r < P.Hp; r++)
            {
                float* d = plane + (long)r * Wp;
                int ih = r - PadTop;
                if ((uint)ih >= (uint)H)
                {
                    new Span<float>(d, Wp).Clear();
                    continue;
                }
                new Span<float>(d, left).Clear();
                new ReadOnlySpan<float>(x + (long)ih * W, width).CopyTo(new Span<float>(d + left, width));
                new Span<float>(d + left + width, Wp - left - width).Clear();
            }
        }
    }

    /// <summary>Phase 2: units of (output-channel chunk, tile block), claimed from a counter: alpha^2 products, then the output transform.</summary>
    private struct ProductJob<TK, TT, TW> : IParallelBody
        where TK : struct, IGemmKernel where TT : struct, IWinogradTile where TW : struct, IWinogradWidth
    {
        public float* V, Y, Bias, Residual;
        public bool Relu;
        public PackedMatrix[] Packed;
        public int OC, C, OH, OW;
        public Plan P;
        public int OcChunk, BlockPanels, OcChunks, ColBlocks;
        public int NextUnit;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int start, int end, int worker)
        {
            int a2 = TT.Alpha * TT.Alpha, mr = TK.MR, nr = TK.NR;
            int ldm = BlockPanels * nr;
            long mStride = (long)OcChunk * ldm;
            _m ??= [];
            float* mBuf = PinnedBuffer.Ensure(ref _m, a2 * mStride);
            for (int unit; (unit = Interlocked.Increment(ref NextUnit) - 1) < OcChunks * ColBlocks;)
            {
                int o0 = unit / ColBlocks * OcChunk, o1 = Math.Min(OC, o0 + OcChunk);
                int bp0 = unit % ColBlocks * BlockPanels, bp1 = Math.Min(P.Panels, bp0 + BlockPanels);
                for (int xi = 0; xi < a2; xi++)
                {
                    PackedMatrix u = Packed[xi];
                    float* vXi = V + xi * P.XiStride, mXi = mBuf + xi * mStride;
                    for (int k0 = 0; k0 < C; k0 += GemmDriver.KC)
                    {
                        int kc = Math.Min(GemmDriver.KC, C - k0);
                        var ep = new GemmEpilogue { Load = k0 > 0 };
                        for (int i = o0; i < o1; i += mr)
                        {
                            float* ap = u.Data + (long)k0 * u.PaddedRows + (long)(i / mr) * mr * kc;
                            int rows = Math.Min(mr, o1 - i);
                            for (int bp = bp0; bp < bp1; bp++)
                                TK.Run(ap, vXi + (long)k0 * P.Tpad + (long)bp * nr * kc, kc,
                                    mXi + (long)(i - o0) * ldm + (bp - bp0) * nr, ldm, rows, Math.Min(nr, P.Cols - bp * nr), ep);
                        }
                    }
                }
                Output(mBuf, mStride, ldm, o0, o1, bp0 * nr, Math.Min(P.Cols, bp1 * nr));
            }
        }

        /// <summary>y for output channels [o0, o1) and V columns [c0, c1) from the unit's products.</summary>
        private readonly void Output(float* mBuf, long mStride, int ldm, int o0, int o1, int c0, int c1)
        {
            int m = TT.M, lanes = TW.Lanes, planeSize = OH * OW;
            float** y = stackalloc float*[lanes];
            long* offsets = stackalloc long[lanes];
            int* rows = stackalloc int[lanes];
            int* cols = stackalloc int[lanes];
            float* t = stackalloc float[m * m * lanes];
            long resOffset = Residual == null ? 0 : Residual - Y;
            for (int col = c0; col < c1; col += lanes)
            {
                int n = col / P.TpiPad, t0 = col % P.TpiPad;
                bool full = lanes > 1;
                for (int l = 0; l < lanes; l++)
                {
                    int tile = t0 + l;
                    if (tile >= P.Tpi)
                    {
                        rows[l] = cols[l] = 0;
                        offsets[l] = 0;
                        full = false;
                        continue;
                    }
                    int oh = tile / P.TilesW * m, ow = tile % P.TilesW * m;
                    rows[l] = Math.Min(m, OH - oh);
                    cols[l] = Math.Min(m, OW - ow);
                    full &= rows[l] == m && cols[l] == m;
                    offsets[l] = (long)n * OC * planeSize + (long)oh * OW + ow;
                }
                for (int oc = o0; oc < o1; oc++)
                {
                    float* src = mBuf + (long)(oc - o0) * ldm + (col - c0);
                    float bias = Bias == null ? 0f : Bias[oc];
                    long ocOff = (long)oc * planeSize;
                    for (int l = 0; l < lanes; l++) y[l] = Y + offsets[l] + ocOff;
                    if (full)
                    {
                        TW.Output<TT>(src, mStride, bias, y, OW, resOffset, Residual != null, Relu);
                        continue;
                    }
                    TW.OutputToTemp<TT>(src, mStride, t);
                    for (int l = 0; l < lanes; l++)
                        for (int r = 0; r < rows[l]; r++)
                            for (int q = 0; q < cols[l]; q++)
                            {
                                float val = t[(r * m + q) * lanes + l] + bias;
                                float* dst = y[l] + (long)r * OW + q;
                                if (Residual != null) val += dst[resOffset];
                                if (Relu && val < 0) val = 0; // NaN stays NaN, like max(0, v)
                                *dst = val;
                            }
                }
            }
        }
    }
}
