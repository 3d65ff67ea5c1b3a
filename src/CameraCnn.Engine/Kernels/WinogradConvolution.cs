// WinogradConvolution: the forward of a 3x3 stride-1 convolution (groups 1, no dilation) by Winograd F(m x m, 3x3):
// 1. every input plane is zero-padded and its tiles transformed, v = B^T d B, written straight into the packed panels
//    of alpha^2 GEMMs (one column, or in the transposed form one row, per tile; one row per input channel; WinogradInput);
// 2. per unit of output channels and tiles, the alpha^2 products M_xi = U_xi * V_xi run on the GEMM micro-kernels
//    (U = G g G^T, transformed and packed once), then the output transform y = A^T M A adds bias, residual and ReLU
//    and writes the m x m blocks of y (WinogradProducts).
// Split over the long-lived workers: each worker transforms every plane into its own V, then computes a range of
// output channels sized by its measured speed (WinogradBalance), or claims units of them from a counter
// (OwnInputJob: batches with several column blocks); or, for many tiles, each worker takes a share of the tiles
// through both phases (PreferSpatial). The transposed products (half-width AVX-512) share one V: chunks of planes,
// then units.
// Not the backward.
using System.Runtime.CompilerServices;

namespace CameraCnn.Engine.Kernels;

/// <summary>
/// A 3x3 stride-1 convolution's Winograd form: the transformed weights (U = G g G^T per (oc, c), packed on first use as
/// alpha^2 A matrices [OC x C] for the normal products, or as 48-channel B panels for the transposed ones) and the
/// forward. x [N, C, H, W] -> y [N, OC, OH, OW].
/// </summary>
[SkipLocalsInit]
internal sealed unsafe partial class WinogradConvolution
{
    private readonly float[] _w; // [OC][C][3][3], the caller's array (never written)
    private readonly PackedMatrix[] _packed; // U_xi as A panels, for the normal products (packed on first use per path)
    private GemmPath? _packedPath;
    private float[]? _uT; // the transposed products' B panels, packed on first use: [OC / 48][xi][C][48], one stream per panel

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
    /// OH x OW output, or 0 for the GEMM. Measured on Zen 4 at one thread (CPU time, C = OC, Bench --rule during
    /// development): Winograd takes 0.34-0.5 of the GEMM's time from 14 x 14 up and 0.57-0.91 at 7 x 7 for 16 to 512
    /// channels, and loses at 8 channels on small maps (3-6x slower: the transposed products fill 8 of 48 lanes).
    /// Of F(4x4) and F(2x2), the one with fewer multiplies per tile row of 16: alpha^2 * tiles rounded up to 16
    /// (14 x 14: F(4x4), 16 tiles x 36; 8 x 8 and 7 x 7: F(2x2), 16 tiles x 16 against 4 tiles x 36). It depends on the
    /// shape only, not on the thread count.
    /// </summary>
    public static int Choose(int c, int oc, int oh, int ow)
    {
        static long Cost(int m, int oh, int ow) => (m + 2) * (m + 2) * (((long)(oh + m - 1) / m * ((ow + m - 1) / m) + 15) / 16 * 16);
        int tile = ForceTile ?? (Cost(4, oh, ow) <= Cost(2, oh, ow) ? 4 : 2);
        if (Force is { } forced) return forced ? tile : 0;
        return c >= 16 && oc >= 16 && oh >= 4 && ow >= 4 ? tile : 0;
    }

    /// <summary>16 zero biases, pinned (a conv without bias).</summary>
    private static readonly float[] ZeroBias = GC.AllocateArray<float>(16, pinned: true);
    private static float* Zeros => (float*)Unsafe.AsPointer(ref ZeroBias[0]);

    /// <summary>
    /// Floats added between two xi of V and of the products' scratch (one cache line): the alpha^2 values of a tile
    /// are stored (input) and loaded (output) together, and at a multiple of 4 KB apart they would all fall into one
    /// L1 set (8 ways for 16 or 36 lines).
    /// </summary>
    internal const int CacheLine = 16;

    [ThreadStatic] private static float[]? _v;
    [ThreadStatic] private static float[]? _plane;
    [ThreadStatic] private static (int, int, int, int, int, int, nint) _planeGeometry;
    [ThreadStatic] private static int[]? _tileOffsets;
    [ThreadStatic] private static float[]? _m;

    /// <summary>
    /// The Winograd form of w [OC, C, 3, 3] (kept by reference, never written) for m x m output tiles (m = 2 or 4). The
    /// transformed weights are computed (in double, rounded once) and packed on the first forward that needs them.
    /// </summary>
    public WinogradConvolution(float[] w, int oc, int c, int tile)
    {
        if (w.Length != oc * c * 9) throw new ArgumentException($"winograd: {w.Length} weights for {oc}x{c}x3x3");
        if (tile is not (2 or 4)) throw new ArgumentException($"winograd: no F({tile}x{tile}, 3x3)");
        OC = oc;
        C = c;
        TileSize = tile;
        _w = w;
        _packed = new PackedMatrix[Alpha * Alpha];
        for (int xi = 0; xi < _packed.Length; xi++) _packed[xi] = new PackedMatrix();
    }

    /// <summary>
    /// Runs store(oc, u) for every output channel, u [C x alpha^2] = G g G^T of its kernels, in double, rounded once; the
    /// output channels split over the workers (this runs at fusion or on a first forward, not per frame).
    /// </summary>
    private void TransformWeights(Action<int, float[]> store)
    {
        int a2 = Alpha * Alpha;
        Parallelism.For(OC, 4, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (o0, o1, _) =>
        {
            var uc = new float[C * a2];
            Span<double> g = stackalloc double[9];
            Span<double> u = stackalloc double[a2];
            for (int o = o0; o < o1; o++)
            {
                for (int i = 0; i < C; i++)
                {
                    for (int k = 0; k < 9; k++) g[k] = _w[(o * C + i) * 9 + k];
                    if (TileSize == 4) WinogradF43.TransformWeight(g, u);
                    else WinogradF23.TransformWeight(g, u);
                    for (int xi = 0; xi < a2; xi++) uc[i * a2 + xi] = (float)u[xi];
                }
                store(o, uc);
            }
        });
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
        public int N, TilesH, TilesW, Tpi, TpiPad, Cols, Tpad, Hp, Wp;
        /// <summary>Columns (tiles) per packed V panel: NR (tiles are B's columns) or MR (transposed: tiles are A's rows).</summary>
        public int PW;
        public long XiStride; // floats between two xi in V: C * Tpad + CacheLine
    }

    private static Plan MakePlan<TT, TW>(int N, int C, int OH, int OW, int pw) where TT : struct, IWinogradTile where TW : struct, IWinogradWidth
    {
        int m = TT.M;
        var p = new Plan { N = N, TilesH = (OH + m - 1) / m, TilesW = (OW + m - 1) / m, PW = pw };
        p.Tpi = p.TilesH * p.TilesW;
        p.TpiPad = (p.Tpi + TW.Lanes - 1) / TW.Lanes * TW.Lanes;
        p.Cols = N * p.TpiPad;
        p.Tpad = (p.Cols + pw - 1) / pw * pw;
        p.Hp = m * p.TilesH + 2;
        p.Wp = m * (p.TilesW - 1) + TT.ReadWidth;
        p.XiStride = (long)C * p.Tpad + CacheLine;
        return p;
    }

    /// <summary>
    /// True when the products run transposed, M^T [tiles x OC] = V^T * U^T: tiles in the 8-row panels and output channels
    /// in the 48-wide vectors, so a few tiles (16 at 14x14 and 7x7) still fill the AVX-512 kernel (8 x 48: 24 FMAs per 8
    /// broadcasts) where the normal form runs its 8 x 16 edge (8 FMAs per 8 broadcasts). That paid on Zen 4, whose
    /// AVX-512 runs at half width (measured there against the normal form's small units); on full-width AVX-512 (a Zen 5
    /// VM) the normal form with one unit per worker and U prefetched won at 7x7 (0.65-0.70 ms against 0.80 inside whole
    /// forwards at 2 threads) and 14x14. So: AVX-512 at half width (FmaPeak.Avx512, measured once) and few tiles only.
    /// (Timing both on a shape's first forward was tried: the first forwards' timings picked the slower form.)
    /// </summary>
    internal static bool PreferTransposed(GemmPath path, int cols) =>
        ForceTransposed ?? (path == GemmPath.Avx512 && cols <= 32 && FmaPeak.Avx512 == Avx512Width.Half);

    /// <summary>Tests: always (true) or never (false) the transposed products on AVX-512; null = by size and width.</summary>
    internal static bool? ForceTransposed;

    /// <summary>True when a forward of N images with an OH x OW output on this path runs the transposed products.</summary>
    private bool Transposed(GemmPath path, int n, int oh, int ow)
    {
        int lanes = path switch { GemmPath.Avx512 => 16, GemmPath.Avx2 => 8, _ => 1 };
        int cols = n * ((oh + TileSize - 1) / TileSize * ((ow + TileSize - 1) / TileSize) + lanes - 1) / lanes * lanes;
        return path == GemmPath.Avx512 && PreferTransposed(path, cols);
    }

    /// <summary>
    /// Transforms and packs the weights in the layout a forward with this shape and path uses, so the first forward does
    /// not (InferenceFusion calls it with the shape it infers). Another shape or path later packs what it needs then.
    /// </summary>
    public void Prepare(GemmPath path, int n, int oh, int ow)
    {
        if (Transposed(path, n, oh, ow)) _uT ??= PackTransposed();
        else if (_packedPath != path)
        {
            // U [alpha^2][OC][C], a temporary: the packed panels are what the products read.
            int oc = OC, c = C;
            var u = new float[(long)Alpha * Alpha * oc * c];
            int a2 = Alpha * Alpha;
            TransformWeights([MethodImpl(MethodImplOptions.AggressiveOptimization)] (o, uc) =>
            {
                for (int xi = 0; xi < a2; xi++)
                    for (int i = 0; i < c; i++) u[((long)xi * oc + o) * c + i] = uc[i * a2 + xi];
            });
            for (int xi = 0; xi < _packed.Length; xi++)
                _packed[xi].Pack(u.AsSpan(xi * oc * c, oc * c), oc, c, c, false, path);
            _packedPath = path;
        }
    }

    public void Forward(in Args a)
    {
        Prepare(a.Path, a.N, a.OH, a.OW);
        if (Transposed(a.Path, a.N, a.OH, a.OW))
        {
            if (TileSize == 4) RunTransposed<WinogradF43>(a);
            else RunTransposed<WinogradF23>(a);
            return;
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

    /// <summary>
    /// U^T as the transposed products' B panels, 48 output channels wide (zero past OC), each panel's alpha^2 x C rows
    /// in one run so a worker streams it start to end: element (panel j, xi, c, lane) = U[xi][48 j + lane][c].
    /// </summary>
    private float[] PackTransposed()
    {
        const int NR = 48;
        int a2 = Alpha * Alpha, c = C;
        var uT = GC.AllocateArray<float>((OC + NR - 1) / NR * a2 * c * NR, pinned: true);
        TransformWeights([MethodImpl(MethodImplOptions.AggressiveOptimization)] (o, uc) =>
        {
            long at = (long)o / NR * a2 * c * NR + o % NR;
            for (int xi = 0; xi < a2; xi++)
                for (int i = 0; i < c; i++) uT[at + ((long)xi * c + i) * NR] = uc[i * a2 + xi];
        });
        return uT;
    }

    /// <summary>Phase 1 for every plane: V (alpha^2 x [C x Tpad] in panels of P.PW columns), split over planes.</summary>
    private static float* TransformInput<TT, TW>(in Args a, int C, in Plan plan, bool parallel)
        where TT : struct, IWinogradTile where TW : struct, IWinogradWidth
    {
        var input = NewInputJob<TT, TW>(a, C, plan);
        TransformPlanes(ref input, a.N * C, parallel);
        return input.V;
    }

    /// <summary>Runs phase 1 over every plane: chunks claimed by the workers, about 8 per worker, so a delayed worker leaves its share to the others.</summary>
    private static void TransformPlanes<TT, TW>(ref InputJob<TT, TW> input, int planes, bool parallel)
        where TT : struct, IWinogradTile where TW : struct, IWinogradWidth
    {
        if (parallel) Parallelism.ForChunks(planes, Math.Max(1, planes / (8 * Parallelism.Threads)), ref input);
        else input.Run(0, planes, 0);
    }

    /// <summary>This thread's V buffer, sized for the plan (alpha^2 blocks of XiStride floats).</summary>
    private static float* ThreadV<TT>(in Plan plan) where TT : struct, IWinogradTile
    {
        _v ??= [];
        return PinnedBuffer.Ensure(ref _v, TT.Alpha * TT.Alpha * plan.XiStride);
    }

    /// <summary>Phase 1's job over this thread's V buffer (sized for the plan).</summary>
    private static InputJob<TT, TW> NewInputJob<TT, TW>(in Args a, int C, in Plan plan)
        where TT : struct, IWinogradTile where TW : struct, IWinogradWidth
    {
        float* v = ThreadV<TT>(plan);
        return new InputJob<TT, TW> { X = a.X, V = v, C = C, H = a.H, W = a.W, PadTop = a.PadTop, PadLeft = a.PadLeft, P = plan };
    }

    private bool Parallel(int alpha, int cols) => Parallelism.Threads > 1 && (long)alpha * alpha * OC * C * cols >= GemmDriver.ParallelThreshold;

    private void Run<TK, TT, TW>(in Args a) where TK : struct, IGemmKernel where TT : struct, IWinogradTile where TW : struct, IWinogradWidth
    {
        var plan = MakePlan<TT, TW>(a.N, C, a.OH, a.OW, TK.NR);
        int threads = Parallelism.Threads;
        bool parallel = Parallel(TT.Alpha, plan.Cols);
        int granule = Math.Max(TW.Lanes, TK.NU);
        bool spatial = parallel && PreferSpatial(plan.Cols, threads, granule);
        var input = NewInputJob<TT, TW>(a, C, plan);

        int ocPanels = (OC + TK.MR - 1) / TK.MR, panels = plan.Tpad / TK.NR;
        int blockPanels = Math.Min(panels, Math.Max(1, 96 / TK.NR));
        int colBlocks = (panels + blockPanels - 1) / blockPanels;
        int chunkPanels = ChunkPanels(ocPanels, colBlocks, spatial || !parallel ? 1 : threads, TT.Alpha * TT.Alpha * blockPanels * TK.NR, TK.MR);
        var product = new ProductJob<TK, TT, TW>
        {
            Y = a.Y, Bias = a.Bias, Residual = a.Residual, Relu = a.Relu, Packed = _packed,
            OC = OC, C = C, OH = a.OH, OW = a.OW, P = plan,
            OcChunk = chunkPanels * TK.MR, BlockPanels = blockPanels,
            OcChunks = (ocPanels + chunkPanels - 1) / chunkPanels, ColBlocks = colBlocks,
        };
        if (spatial)
        {
            var job = new SpatialJob<TK, TT, TW> { Input = input, Product = product, Granule = granule, Workers = threads };
            Parallelism.For(threads, 1, ref job);
            return;
        }
        if (parallel && Balances(colBlocks, ocPanels, threads))
        {
            RunBalanced(input, product, ocPanels, threads);
            return;
        }
        var own = new OwnInputJob<TK, TT, TW> { Input = input, Product = product };
        if (parallel) Parallelism.For(threads, 1, ref own);
        else own.Run(0, 1, 0);
    }

    /// <summary>
    /// Output-channel panels per unit of the normal-form products: as many as leave one unit per worker and column block
    /// (every unit streams all of V's rows for its columns, so each extra chunk of channels reads V once more: at 28 x 28,
    /// 128 channels, 32-channel units took 0.60 ms at 2 threads on Zen 5 against 0.52 for 64, and 0.72 against 0.64
    /// ms for 128 at one), within a 4 MB scratch for the unit's alpha^2 products.
    /// </summary>
    internal static int ChunkPanels(int ocPanels, int colBlocks, int workers, int productFloatsPerRow, int mr)
    {
        int units = Math.Max(1, (workers + colBlocks - 1) / colBlocks);
        int panels = (ocPanels + units - 1) / units;
        int maxPanels = Math.Max(1, (int)((4L << 20) / (4L * productFloatsPerRow * mr)));
        return Math.Min(panels, maxPanels);
    }

    /// <summary>
    /// True when the normal-form products split the tiles (V's columns) among the workers rather than units claimed
    /// from a counter: each worker transforms its tiles of every input plane and runs every output channel's products
    /// for them, in one job without a barrier between the phases, so V never moves between cores and a worker reads
    /// mostly the rows of x it wrote itself one layer before (the same tiles). Where the two cores share no cache (a
    /// 2-vCPU VM on a Zen 5 EPYC: 540 ns for a cache line to go and come back) that moving cost more than the work it
    /// split. Needs at least four vector-wide granules of columns per worker: at 28 x 28 (64 columns, two
    /// each) every worker streaming all the weights cost more than it saved.
    /// </summary>
    internal static bool PreferSpatial(int cols, int workers, int granule) => ForceSpatial ?? cols >= 4 * granule * workers;

    /// <summary>Tests: always (true) or never (false) the spatial split of the normal-form products; null = by size.</summary>
    internal static bool? ForceSpatial;

    /// <summary>
    /// The spatial split: V's columns in one share per worker (whole granules), each taken through both phases, and the
    /// granules that do not divide evenly in one more share, claimed by whoever finishes first. Shares are claimed
    /// from a counter, so a worker the OS runs late leaves its share to the one that finished (the caller, first in,
    /// usually takes share 0 and the worker share 1, layer after layer). At 56 x 56 (13 granules) the halves were 6
    /// and 7 granules, and the second worker finished 0.1 ms after the first in every such conv; with 6 + 6 + 1,
    /// whole ResNet18 forwards on a Zen 5 VM, the two alternated in one process: 1.6-3.3 % faster at 2 threads (6 runs).
    /// </summary>
    private struct SpatialJob<TK, TT, TW> : IParallelBody
        where TK : struct, IGemmKernel where TT : struct, IWinogradTile where TW : struct, IWinogradWidth
    {
        public InputJob<TT, TW> Input;
        public ProductJob<TK, TT, TW> Product;
        public int Granule, Workers, NextShare;

        public void Run(int start, int end, int worker)
        {
            int granules = (Input.P.Cols + Granule - 1) / Granule, per = granules / Workers;
            int shares = granules % Workers > 0 ? Workers + 1 : Workers;
            for (int w; (w = Interlocked.Increment(ref NextShare) - 1) < shares;)
            {
                int c0 = w * per * Granule;
                int c1 = Math.Min(Input.P.Cols, (w < Workers ? (w + 1) * per : granules) * Granule);
                if (c0 >= c1) continue;
                Input.Transform(0, Input.P.N * Input.C, c0, c1);
                Product.Columns(Input.V, c0, c1);
            }
        }
    }

    /// <summary>
    /// The tiles split by output channels (units claimed from a counter; with one column block the split is balanced
    /// instead, WinogradBalance), each worker reading its own V: every worker transforms every input plane into its
    /// thread's V, then claims product units. Phase 1 is done once per worker,
    /// but no V line is written by one core and read by the other, and no barrier separates the phases. On a Zen 5 VM
    /// whose two vCPUs sit in different core complexes (a cache line's round trip 440-490 ns), a write to a line the
    /// other core has read ran at 7.3 GB/s, and the shared V of the 28x28, 14x14 and 7x7 stages made phase 1 slower on
    /// two threads than on one; whole ResNet18 forwards, the two alternated in one process: 2.8-5.4 % faster at 2
    /// threads (6 runs), the same at one.
    /// </summary>
    private struct OwnInputJob<TK, TT, TW> : IParallelBody
        where TK : struct, IGemmKernel where TT : struct, IWinogradTile where TW : struct, IWinogradWidth
    {
        public InputJob<TT, TW> Input;
        public ProductJob<TK, TT, TW> Product;

        public void Run(int start, int end, int worker)
        {
            // A slice started after every unit was claimed (a worker the OS ran late, or the caller taking its slice).
            if (Volatile.Read(ref Product.NextUnit) >= Product.OcChunks * Product.ColBlocks) return;
            var input = Input;
            input.V = ThreadV<TT>(input.P);
            input.Transform(0, input.P.N * input.C, 0, input.P.Cols);
            Product.Claim(input.V);
        }
    }

    private void RunTransposed<TT>(in Args a) where TT : struct, IWinogradTile
    {
        const int MR = 8, NR = 48;
        var plan = MakePlan<TT, Width512>(a.N, C, a.OH, a.OW, MR);
        int threads = Parallelism.Threads;
        bool parallel = Parallel(TT.Alpha, plan.Cols);
        float* v = TransformInput<TT, Width512>(a, C, plan, parallel);

        int ocPanels = (OC + NR - 1) / NR, workers = parallel ? threads : 1;
        var product = new ProductJobT<TT>
        {
            V = v, Y = a.Y, Bias = a.Bias, Residual = a.Residual, Relu = a.Relu, UT = (float*)Unsafe.AsPointer(ref _uT![0]),
            OC = OC, C = C, OH = a.OH, OW = a.OW, P = plan,
            // Whole panels first; the panels that do not divide among the workers and, with several workers, one more
            // round of them go as single tile panels, so the last units claimed are the small ones.
            OcPanels = ocPanels, TilePanels = plan.Tpad / MR,
            WholeUnits = workers == 1 ? ocPanels : Math.Max(0, ocPanels - ocPanels % workers - workers),
        };
        int units = product.Units;
        if (parallel) Parallelism.For(Math.Min(threads, units), 1, ref product);
        else product.Run(0, 1, 0);
    }
}
