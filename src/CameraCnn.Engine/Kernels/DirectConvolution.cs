// DirectConvolution: the forward of a convolution with column stride 2 (ResNet's 7x7/2 stem and its 3x3/2 downsampling
// convs; the 1x1/2 ones stay on the GEMM, no slower there) on AVX-512 without im2col, MLAS's NCHWc kernels in spirit
// but NCHW in and out. One call computes 2 output rows x 7 output columns x 32 output channels in 28 zmm accumulators,
// a vector of 16 output channels per pixel: per tap (c, kh, kw), 2 weight vectors and 14 input broadcasts feed 28 FMAs;
// the taps are summed in im2col's row order. On the way out the accumulators get the bias and are turned around in
// registers (a pixel per lane), then the residual and ReLU, and go to y with masked stores. Maps with many rows split
// them among the workers in bands sized by each worker's measured speed (SpeedShares); smaller ones split blocks of 32
// output channels, claimed from a counter. A worker copies the input rows it reads into its own zero-padded planes (so
// no tap tests a border).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using V = System.Runtime.Intrinsics.Vector512<float>;
using V8 = System.Runtime.Intrinsics.Vector256<float>;

namespace CameraCnn.Engine.Kernels;

/// <summary>
/// A column-stride-2 convolution's weights packed for the direct kernel ([OC / 32][C][KH][KW][32], zero past OC) and
/// its forward. x [N, C, H, W] -> y [N, OC, OH, OW].
/// </summary>
[SkipLocalsInit]
internal sealed unsafe class DirectConvolution
{
    /// <summary>Output channels per kernel call (two vectors).</summary>
    internal const int Block = 32;
    /// <summary>Output columns per row and call.</summary>
    internal const int Pixels = 7;
    /// <summary>The column stride the kernel's broadcasts are laid out for.</summary>
    private const int Stride = 2;

    private readonly float[] _w; // [OC / Block][C][KH][KW][Block], pinned
    private readonly float[] _bias; // [OC rounded up to Block], zero past OC, pinned

    public int OC { get; }
    public int C { get; }
    public Window2d Window { get; }

    /// <summary>True when this CPU and window can run the direct kernel: AVX-512, column stride 2, no dilation.</summary>
    public static bool Supports(in Window2d g) => g is { SW: Stride, DH: 1, DW: 1 } && GemmKernelAvx512.IsSupported;

    /// <summary>Tests and benchmarks: always (true) or never (false) the direct kernel where supported; null = by <see cref="Choose"/>.</summary>
    internal static bool? Force;

    /// <summary>True when the direct kernel is expected to beat im2col + GEMM for this conv on this path.</summary>
    public static bool Choose(in Window2d g, int groups, GemmPath path)
    {
        if (groups != 1 || path != GemmPath.Avx512 || !Supports(g)) return false;
        return Force ?? g.KH * g.KW > 1;
    }

    /// <summary>w [OC, C, KH, KW] (copied and packed), bias [OC] (empty: none).</summary>
    public DirectConvolution(ReadOnlySpan<float> w, ReadOnlySpan<float> bias, int oc, int c, Window2d window)
    {
        int taps = window.KH * window.KW;
        if (w.Length != oc * c * taps) throw new ArgumentException($"direct conv: {w.Length} weights for {oc}x{c}x{window.KH}x{window.KW}");
        OC = oc;
        C = c;
        Window = window;
        int blocks = (oc + Block - 1) / Block;
        _w = GC.AllocateArray<float>(blocks * c * taps * Block + 16, pinned: true);
        for (int o = 0; o < oc; o++)
            for (int i = 0; i < c; i++)
                for (int t = 0; t < taps; t++)
                    _w[(((long)(o / Block) * c + i) * taps + t) * Block + o % Block] = w[(o * c + i) * taps + t];
        _bias = GC.AllocateArray<float>(blocks * Block + 16, pinned: true);
        if (!bias.IsEmpty) bias.CopyTo(_bias);
    }

    /// <summary>Pointers and shapes of one forward; y and residual are [N, OC, OH, OW].</summary>
    public struct Args
    {
        public float* X, Y, Residual;
        public int N, H, W, OH, OW;
        public bool Relu;
    }

    [ThreadStatic] private static float[]? _padded;

    /// <summary>
    /// Each worker's share of the output rows when a forward splits them (maps of 4 row pairs per worker or more),
    /// learned from this conv's last forwards.
    /// </summary>
    internal SpeedShares Shares { get; } = new();

    public void Forward(in Args a)
    {
        var job = new Job
        {
            A = a, C = C, OC = OC, G = Window,
            W = (float*)Unsafe.AsPointer(ref _w[0]), Bias = (float*)Unsafe.AsPointer(ref _bias[0]),
            Pairs = (a.OH + 1) / 2, Runs = (a.OW + Pixels - 1) / Pixels, Blocks = (OC + Block - 1) / Block,
        };
        job.Wp = Stride * (job.Runs * Pixels - 1) + Window.KW;
        long macs = (long)OC * C * Window.KH * Window.KW * a.OH * a.OW;
        int threads = Parallelism.Threads;
        bool parallel = threads > 1 && macs >= GemmDriver.ParallelThreshold;
        // Many rows (the stem, 56 row pairs; the 56x56 -> 28x28 conv, 14): each worker a band of rows, sized by its
        // measured speed (SpeedShares), padding only the rows it reads; else blocks of output channels from a counter.
        // Whole ResNet18 forwards at 2 threads, the two alternated in one process: 0-1.3 % faster with both vCPUs
        // running alike (the stem had 2 blocks: one per worker, whatever their speeds).
        bool rows = parallel && job.Pairs >= 4 * threads;
        int* cuts = stackalloc int[threads + 1];
        int bandPairs = job.Pairs;
        if (rows)
        {
            Shares.Cut(threads, job.Pairs, cuts);
            bandPairs = 0;
            for (int i = 0; i < threads; i++) bandPairs = Math.Max(bandPairs, cuts[i + 1] - cuts[i]);
            job.Cuts = cuts;
            job.Shares = Shares;
        }
        job.Hp = Window.SH * (2 * bandPairs - 1) + Window.KH;
        for (int n = 0; n < a.N; n++)
        {
            job.N = n;
            job.Next = 0;
            if (rows) Parallelism.For(threads, 1, ref job);
            else if (parallel && job.Blocks > 1) Parallelism.For(Math.Min(threads, job.Blocks), 1, ref job);
            else job.Run(0, 1, 0);
        }
        if (rows) Shares.Learn(cuts);
    }

    /// <summary>
    /// One image, split by output rows (slice i: row pairs [Cuts[i], Cuts[i + 1]), every channel block) or, without
    /// Cuts, by blocks of output channels claimed from a counter (each thread pads the whole image first).
    /// </summary>
    private struct Job : IParallelBody
    {
        public Args A;
        public Window2d G;
        public float* W, Bias;
        public int* Cuts;
        public SpeedShares? Shares;
        public int C, OC, N, Pairs, Runs, Blocks, Hp, Wp;
        public int Next;

        public void Run(int start, int end, int worker)
        {
            if (Cuts == null && Volatile.Read(ref Next) >= Blocks) return; // every block was claimed before this slice began
            _padded ??= [];
            float* xp = PinnedBuffer.Ensure(ref _padded, C * (long)Hp * Wp + 16);
            float* x = A.X + (long)N * C * A.H * A.W;
            if (Cuts == null)
            {
                Pad(x, xp, 0);
                for (int b; (b = Interlocked.Increment(ref Next) - 1) < Blocks;) Channels(xp, 0, Pairs, b, 0);
                return;
            }
            for (int i = start; i < end; i++)
            {
                long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
                int p0 = Cuts[i], p1 = Cuts[i + 1], row0 = G.SH * 2 * p0;
                Pad(x, xp, row0);
                for (int b = 0; b < Blocks; b++) Channels(xp, p0, p1, b, row0);
                Shares!.Record(i, t0);
            }
        }

        /// <summary>Output channel block b for row pairs [p0, p1), from padded rows starting at padded row row0.</summary>
        private readonly void Channels(float* xp, int p0, int p1, int b, int row0)
        {
            int taps = G.KH * G.KW;
            long outPlane = (long)A.OH * A.OW;
            var o = new Out
            {
                Bias = Bias + b * Block, OcValid = Math.Min(Block, OC - b * Block),
                Plane = outPlane, Ld = A.OW, Relu = A.Relu,
            };
            float* w = W + (long)b * C * taps * Block;
            long y0 = ((long)N * OC + b * Block) * outPlane;
            for (int pr = p0; pr < p1; pr++)
            {
                int oh = 2 * pr;
                o.Rows = Math.Min(2, A.OH - oh);
                for (int r = 0; r < Runs; r++)
                {
                    int ow = r * Pixels;
                    o.Cols = Math.Min(Pixels, A.OW - ow);
                    o.Y = A.Y + y0 + (long)oh * A.OW + ow;
                    o.Residual = A.Residual == null ? null : A.Residual + y0 + (long)oh * A.OW + ow;
                    Tile(xp + (long)(G.SH * oh - row0) * Wp + Stride * ow, G.SH * Wp, Wp, (long)Hp * Wp, w, C, G.KH, G.KW, o);
                }
            }
        }

        /// <summary>
        /// Padded rows [row0, row0 + Hp) of x [C, H, W] (x at (PadTop, PadLeft), zero around it) into xp [C, Hp, Wp]: only
        /// what the tiles read.
        /// </summary>
        private readonly void Pad(float* x, float* xp, int row0)
        {
            int top = G.PadTop, left = G.PadLeft, h = A.H, w = A.W;
            int cols = Math.Clamp(Wp - left, 0, w); // the columns of x a tile can read
            for (int c = 0; c < C; c++)
            {
                float* src = x + (long)c * h * w, dst = xp + (long)c * Hp * Wp;
                for (int r = row0; r < row0 + Hp; r++, dst += Wp)
                {
                    int ih = r - top;
                    if (ih < 0 || ih >= h || cols == 0)
                    {
                        new Span<float>(dst, Wp).Clear();
                        continue;
                    }
                    new Span<float>(dst, Math.Min(left, Wp)).Clear();
                    new ReadOnlySpan<float>(src + (long)ih * w, cols).CopyTo(new Span<float>(dst + left, cols));
                    if (left + cols < Wp) new Span<float>(dst + left + cols, Wp - left - cols).Clear();
                }
            }
        }
    }

    /// <summary>Where one call's 2 x 7 x 32 outputs go, and how many of them are real.</summary>
    private struct Out
    {
        public float* Y, Residual, Bias;
        public long Plane;
        public int Ld, Rows, Cols, OcValid;
        public bool Relu;
    }

    /// <summary>
    /// y[oc, row, col] for 32 output channels, 2 rows (the second SH input rows below the first: rowPair floats) and 7
    /// columns from the padded input at x (channel c at x + c * ldc, kernel row kh at + kh * ldr) and the packed
    /// weights w [C][KH][KW][32].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile(float* x, nint rowPair, nint ldr, long ldc, float* w, int c, int kh, int kw, in Out o)
    {
        V a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default;
        V b0 = default, b1 = default, b2 = default, b3 = default, b4 = default, b5 = default, b6 = default;
        V c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default;
        V d0 = default, d1 = default, d2 = default, d3 = default, d4 = default, d5 = default, d6 = default;
        for (int ci = 0; ci < c; ci++, x += ldc)
        {
            float* xr = x;
            for (int i = 0; i < kh; i++, xr += ldr)
            {
                float* r0 = xr, r1 = xr + rowPair;
                for (int j = 0; j < kw; j++, r0++, r1++, w += Block)
                {
                    // a, b: the first row's pixels, channels 0-15 and 16-31; c, d: the second row's.
                    V w0 = Vector512.Load(w), w1 = Vector512.Load(w + 16), s;
                    s = Vector512.Create(r0[0]); a0 = Avx512F.FusedMultiplyAdd(w0, s, a0); b0 = Avx512F.FusedMultiplyAdd(w1, s, b0);
                    s = Vector512.Create(r0[2]); a1 = Avx512F.FusedMultiplyAdd(w0, s, a1); b1 = Avx512F.FusedMultiplyAdd(w1, s, b1);
                    s = Vector512.Create(r0[4]); a2 = Avx512F.FusedMultiplyAdd(w0, s, a2); b2 = Avx512F.FusedMultiplyAdd(w1, s, b2);
                    s = Vector512.Create(r0[6]); a3 = Avx512F.FusedMultiplyAdd(w0, s, a3); b3 = Avx512F.FusedMultiplyAdd(w1, s, b3);
                    s = Vector512.Create(r0[8]); a4 = Avx512F.FusedMultiplyAdd(w0, s, a4); b4 = Avx512F.FusedMultiplyAdd(w1, s, b4);
                    s = Vector512.Create(r0[10]); a5 = Avx512F.FusedMultiplyAdd(w0, s, a5); b5 = Avx512F.FusedMultiplyAdd(w1, s, b5);
                    s = Vector512.Create(r0[12]); a6 = Avx512F.FusedMultiplyAdd(w0, s, a6); b6 = Avx512F.FusedMultiplyAdd(w1, s, b6);
                    s = Vector512.Create(r1[0]); c0 = Avx512F.FusedMultiplyAdd(w0, s, c0); d0 = Avx512F.FusedMultiplyAdd(w1, s, d0);
                    s = Vector512.Create(r1[2]); c1 = Avx512F.FusedMultiplyAdd(w0, s, c1); d1 = Avx512F.FusedMultiplyAdd(w1, s, d1);
                    s = Vector512.Create(r1[4]); c2 = Avx512F.FusedMultiplyAdd(w0, s, c2); d2 = Avx512F.FusedMultiplyAdd(w1, s, d2);
                    s = Vector512.Create(r1[6]); c3 = Avx512F.FusedMultiplyAdd(w0, s, c3); d3 = Avx512F.FusedMultiplyAdd(w1, s, d3);
                    s = Vector512.Create(r1[8]); c4 = Avx512F.FusedMultiplyAdd(w0, s, c4); d4 = Avx512F.FusedMultiplyAdd(w1, s, d4);
                    s = Vector512.Create(r1[10]); c5 = Avx512F.FusedMultiplyAdd(w0, s, c5); d5 = Avx512F.FusedMultiplyAdd(w1, s, d5);
                    s = Vector512.Create(r1[12]); c6 = Avx512F.FusedMultiplyAdd(w0, s, c6); d6 = Avx512F.FusedMultiplyAdd(w1, s, d6);
                }
            }
        }
        V bias0 = Vector512.Load(o.Bias), bias1 = Vector512.Load(o.Bias + 16);
        int oc1 = Math.Min(16, o.OcValid - 16); // channels of the second vector (may be <= 0)
        Store(a0, a1, a2, a3, a4, a5, a6, bias0, o, o.Y, o.Residual, Math.Min(16, o.OcValid));
        if (oc1 > 0) Store(b0, b1, b2, b3, b4, b5, b6, bias1, o, o.Y + 16 * o.Plane, o.Residual + 16 * o.Plane, oc1);
        if (o.Rows < 2) return;
        Store(c0, c1, c2, c3, c4, c5, c6, bias0, o, o.Y + o.Ld, o.Residual + o.Ld, Math.Min(16, o.OcValid));
        if (oc1 > 0) Store(d0, d1, d2, d3, d4, d5, d6, bias1, o, o.Y + 16 * o.Plane + o.Ld, o.Residual + 16 * o.Plane + o.Ld, oc1);
    }

    // vpermt2ps indices: output channel 4L + q's 8 pixels from chunk L of u_q (pixels 0-3) and of u_q+4 (4-7).
    private static readonly V Low = Vector512.Create(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23).AsSingle();
    private static readonly V High = Vector512.Create(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31).AsSingle();

    /// <summary>
    /// One row's 7 pixel vectors (16 output channels each) plus the bias, turned into 16 channel rows of 7 pixels, then
    /// the residual and ReLU, stored to y + oc * Plane (oc &lt; channels, the first o.Cols pixels). residual points at
    /// the same element as y in the residual tensor (read only when o.Residual is set).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(V p0, V p1, V p2, V p3, V p4, V p5, V p6, V bias, in Out o, float* y, float* residual, int channels)
    {
        p0 += bias; p1 += bias; p2 += bias; p3 += bias; p4 += bias; p5 += bias; p6 += bias;
        // Chunk L (4 floats) of every vector holds channels 4L..4L+3. After the unpacks and shuffles, chunk L of u_q
        // holds channel 4L + q for pixels 0-3 (u0..u3) or 4-7 (u4..u7; pixel 7 is padding).
        V t0 = Avx512F.UnpackLow(p0, p1), t1 = Avx512F.UnpackHigh(p0, p1);
        V t2 = Avx512F.UnpackLow(p2, p3), t3 = Avx512F.UnpackHigh(p2, p3);
        V t4 = Avx512F.UnpackLow(p4, p5), t5 = Avx512F.UnpackHigh(p4, p5);
        V t6 = Avx512F.UnpackLow(p6, p6), t7 = Avx512F.UnpackHigh(p6, p6);
        V u0 = Avx512F.Shuffle(t0, t2, 0x44), u1 = Avx512F.Shuffle(t0, t2, 0xEE);
        V u2 = Avx512F.Shuffle(t1, t3, 0x44), u3 = Avx512F.Shuffle(t1, t3, 0xEE);
        V u4 = Avx512F.Shuffle(t4, t6, 0x44), u5 = Avx512F.Shuffle(t4, t6, 0xEE);
        V u6 = Avx512F.Shuffle(t5, t7, 0x44), u7 = Avx512F.Shuffle(t5, t7, 0xEE);
        var lo = Low.AsInt32();
        var hi = High.AsInt32();
        V8 mask = Vector256.LessThan(Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7), Vector256.Create(o.Cols)).AsSingle();
        // Channel q and 4 + q from u_q / u_q+4 chunks 0 and 1; 8 + q and 12 + q from chunks 2 and 3.
        Row2(Avx512F.PermuteVar16x32x2(u0, lo, u4), 0, o, y, residual, channels, mask);
        Row2(Avx512F.PermuteVar16x32x2(u1, lo, u5), 1, o, y, residual, channels, mask);
        Row2(Avx512F.PermuteVar16x32x2(u2, lo, u6), 2, o, y, residual, channels, mask);
        Row2(Avx512F.PermuteVar16x32x2(u3, lo, u7), 3, o, y, residual, channels, mask);
        Row2(Avx512F.PermuteVar16x32x2(u0, hi, u4), 8, o, y, residual, channels, mask);
        Row2(Avx512F.PermuteVar16x32x2(u1, hi, u5), 9, o, y, residual, channels, mask);
        Row2(Avx512F.PermuteVar16x32x2(u2, hi, u6), 10, o, y, residual, channels, mask);
        Row2(Avx512F.PermuteVar16x32x2(u3, hi, u7), 11, o, y, residual, channels, mask);
    }

    /// <summary>Channel q's pixels (the low half of v) and channel q + 4's (the high half).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Row2(V v, int q, in Out o, float* y, float* residual, int channels, V8 mask)
    {
        if (q < channels) Row(v.GetLower(), q, o, y, residual, mask);
        if (q + 4 < channels) Row(v.GetUpper(), q + 4, o, y, residual, mask);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Row(V8 v, int oc, in Out o, float* y, float* residual, V8 mask)
    {
        long at = oc * o.Plane;
        if (o.Residual != null) v += Avx512F.VL.MaskLoad(residual + at, mask, V8.Zero);
        if (o.Relu) v = Avx.Max(V8.Zero, v); // NaN stays NaN, like the GEMM epilogue's max(0, v)
        Avx512F.VL.MaskStore(y + at, mask, v);
    }
}
