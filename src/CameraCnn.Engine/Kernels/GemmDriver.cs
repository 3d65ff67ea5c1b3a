// GemmDriver: the loop nest of the packed GEMM: cuts N into NC-wide column blocks and K into KC-deep blocks, packs
// a B block per worker (or uses pre-packed panels), and walks MR x NR tiles through a micro-kernel, each A micro-panel
// (MR x KC, in L1) meeting every B panel of the block (KC x NC, in L2). (Measured: the BLIS order with the B micro-panel
// outer and KC 128 or 192 is within 3 % either way on this machine.) Threads split M or N into contiguous chunks
// claimed from a shared counter; each worker packs exactly what it reads.
using System.Runtime.CompilerServices;

namespace CameraCnn.Engine.Kernels;

internal static unsafe class GemmDriver
{
    /// <summary>Depth of a K block: an A micro-panel (MR x KC) stays in L1 while it meets every B panel of the block.</summary>
    public const int KC = 256;
    /// <summary>About 512 columns per B block: KC x NC floats (512 KiB) stay in L2 while every A panel passes over them.</summary>
    private const int TargetNC = 512;
    /// <summary>Below this many multiply-adds a product is not worth waking a worker for (tests lower it to 0).</summary>
    internal static long ParallelThreshold = 1L << 17;

    [ThreadStatic] private static float[]? _aWork;
    [ThreadStatic] private static float[]? _bWork;
    [ThreadStatic] private static float[]? _bAll;

    /// <summary>
    /// Where the A panels come from: pre-packed (weights), packed per call from a matrix, or (UseIm2Col) packed per
    /// call from an image's im2col matrix transposed (rows = output pixels), each worker packing the rows it needs.
    /// </summary>
    public struct ASource
    {
        public PackedMatrix? Packed;
        public float* Matrix;
        public int Lda;
        public bool Trans;
        public bool UseIm2Col;
        public Im2ColPanels Im2Col;
    }

    /// <summary>Everything one product needs, as a struct so a parallel run allocates nothing.</summary>
    private struct Job<TK, TB> : IParallelBody where TK : struct, IGemmKernel where TB : struct, IBPanelSource
    {
        public ASource A;
        public TB B;
        public int M, N, K;
        public float* C;
        public int Ldc;
        public bool Accumulate, Relu, SplitN;
        public float* Bias, Residual;
        public int LdResidual;
        /// <summary>The split dimension is cut into Chunks contiguous chunks of ChunkSize units (N) or panels (M).</summary>
        public int Chunks, ChunkSize;
        /// <summary>N split only: each N chunk is further cut into this many row ranges (few, wide N chunks balance badly).</summary>
        public int RowParts;
        /// <summary>Next unclaimed chunk, shared by every thread running this job (the struct is run in place).</summary>
        public int NextChunk;

        /// <summary>One thread's share: claims chunks until none is left, so a descheduled worker delays nobody.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int start, int end, int worker)
        {
            int mr = TK.MR, nr = TK.NR, nu = TK.NU;
            float* aBase = null, bAll = null;
            int aStride = 0;
            int parts = Math.Max(1, RowParts), total = SplitN ? Chunks * parts : Chunks;
            for (int claimed; (claimed = Interlocked.Increment(ref NextChunk) - 1) < total;)
            {
                if (SplitN)
                {
                    int chunk = claimed / parts, part = claimed % parts;
                    int n0 = chunk * ChunkSize * nu, n1 = Math.Min(N, n0 + ChunkSize * nu);
                    // N split: every chunk needs all of A, packed once per thread (or pre-packed); a row part takes
                    // its share of A's panels.
                    if (aBase == null) aBase = PanelsOfA(0, M, out aStride);
                    int panels = (M + mr - 1) / mr, p0 = panels * part / parts, p1 = panels * (part + 1) / parts;
                    Slice(aBase, aStride, p0, p0 * mr, Math.Min(M, p1 * mr), n0, n1, null);
                }
                else
                {
                    int chunk = claimed;
                    int m0 = chunk * ChunkSize * mr, m1 = Math.Min(M, m0 + ChunkSize * mr);
                    // M split: every chunk needs all of B, packed once per thread.
                    if (bAll == null && B.IsPrepacked) bAll = B.Panels(0, 0);
                    if (bAll == null)
                    {
                        _bAll ??= [];
                        int nPad = (N + nr - 1) / nr * nr;
                        bAll = PinnedBuffer.Ensure(ref _bAll, (long)nPad * Math.Max(K, 1));
                        for (int k0 = 0; k0 < Math.Max(K, 1); k0 += KC)
                        {
                            int kc = Math.Min(KC, K - k0);
                            B.Pack(k0, kc, 0, N, nr, bAll + (long)k0 * nPad);
                        }
                    }
                    float* ap = PanelsOfA(m0, m1, out int stride);
                    int panel0 = A.Packed is null ? 0 : m0 / mr;
                    Slice(ap, stride, panel0, m0, m1, 0, N, bAll);
                }
            }
        }

        /// <summary>Packed A for rows [m0, m1): the pre-packed matrix itself, or this thread's packing of it.</summary>
        private readonly float* PanelsOfA(int m0, int m1, out int stride)
        {
            if (A.Packed is { } packed)
            {
                stride = packed.PaddedRows;
                return packed.Data;
            }
            int mr = TK.MR;
            stride = (m1 - m0 + mr - 1) / mr * mr;
            _aWork ??= [];
            float* a = PinnedBuffer.Ensure(ref _aWork, (long)stride * Math.Max(K, 1));
            if (A.UseIm2Col)
                for (int k0 = 0; k0 < K; k0 += KC)
                    A.Im2Col.Pack(k0, Math.Min(KC, K - k0), m0, m1 - m0, mr, a + (long)k0 * stride);
            else
                PackedMatrix.PackA(A.Matrix, A.Lda, A.Trans, m0, m1 - m0, K, mr, a, stride);
            return a;
        }

        /// <summary>
        /// C[m0..m1, n0..n1] from A panels (block k0 panel p at aBase + k0 * aStride + (panel0 + p) * MR * kc) and
        /// B: bAll when it holds all of B packed (block k0 at bAll + k0 * padded N), else packed here per block.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Slice(float* aBase, int aStride, int panel0, int m0, int m1, int n0, int n1, float* bAll)
        {
            int mr = TK.MR, nr = TK.NR;
            int nc0 = bAll != null ? (N + nr - 1) / nr * nr : (TargetNC + nr - 1) / nr * nr;
            if (m1 <= m0 || n1 <= n0) return;
            float* bBuf = null;
            if (bAll == null && !B.IsPrepacked)
            {
                _bWork ??= [];
                bBuf = PinnedBuffer.Ensure(ref _bWork, (long)KC * nc0);
            }
            int blocks = Math.Max(1, (K + KC - 1) / KC);
            for (int jc = n0; jc < n1; jc += nc0)
            {
                int nc = Math.Min(nc0, n1 - jc);
                for (int pb = 0; pb < blocks; pb++)
                {
                    int k0 = pb * KC, kc = Math.Min(KC, K - k0);
                    float* bp;
                    if (bAll != null) bp = bAll + (long)k0 * nc0; // jc == 0, nc0 = padded N
                    else if (B.IsPrepacked) bp = B.Panels(k0, jc);
                    else
                    {
                        B.Pack(k0, kc, jc, nc, nr, bBuf);
                        bp = bBuf;
                    }
                    bool last = pb == blocks - 1;
                    var ep = new GemmEpilogue { Load = pb > 0 || Accumulate, Relu = last && Relu, LdResidual = LdResidual };
                    for (int i = m0; i < m1; i += mr)
                    {
                        float* ap = aBase + (long)k0 * aStride + (long)(panel0 + (i - m0) / mr) * mr * kc;
                        int h = Math.Min(mr, M - i);
                        ep.Bias = last && Bias != null ? Bias + i : null;
                        float* cRow = C + (long)i * Ldc;
                        float* rRow = last && Residual != null ? Residual + (long)i * LdResidual : null;
                        for (int j = jc; j < jc + nc; j += nr)
                        {
                            ep.Residual = rRow == null ? null : rRow + j;
                            TK.Run(ap, bp + (long)(j - jc) * kc, kc, cRow + j, Ldc, h, Math.Min(nr, jc + nc - j), ep);
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// C[M x N] (+)= op(A) * B-panels, then bias per row, residual and ReLU. Splits over the pool when the product is
    /// large enough, along whichever of M and N leaves the busiest worker the least to do.
    /// </summary>
    public static void Run<TK, TB>(in ASource a, ref TB b, int M, int N, int K, float* C, int ldc, bool accumulate,
        float* bias, float* residual, int ldResidual, bool relu)
        where TK : struct, IGemmKernel where TB : struct, IBPanelSource
    {
        if (M <= 0 || N <= 0) return;
        var job = new Job<TK, TB>
        {
            A = a, B = b, M = M, N = N, K = K, C = C, Ldc = ldc, Accumulate = accumulate, Relu = relu,
            Bias = bias, Residual = residual, LdResidual = ldResidual,
        };
        int mr = TK.MR, nr = TK.NR, nu = TK.NU;
        int mPanels = (M + mr - 1) / mr, nUnits = (N + nu - 1) / nu;
        int threads = (long)M * N * Math.Max(K, 1) < ParallelThreshold ? 1 : Parallelism.Threads;
        if (threads <= 1 || Parallelism.InsideWorker)
        {
            job.SplitN = true;
            job.Chunks = 1;
            job.ChunkSize = nUnits;
            job.Run(0, 1, 0);
            return;
        }
        // Rough cycles per k step of the busiest worker: FMAs (rows x lanes / 16), then reading or packing the B columns
        // it touches (all of them when M is split) and the A rows it touches (all of them when N is split). Pre-packed
        // operands are only read, and weights read twice come from memory twice.
        double aCost = a.Packed is null ? 0.75 : 0.25, bCost = b.IsPrepacked ? 0.25 : 0.5;
        int colsN = Math.Min(N, (nUnits + threads - 1) / threads * nu), rowsM = Math.Min(M, (mPanels + threads - 1) / threads * mr);
        double costN = (double)mPanels * mr * colsN / 16 + bCost * colsN + aCost * M;
        double costM = (double)rowsM * nUnits * nu / 16 + bCost * N + aCost * rowsM;
        bool bFits = b.IsPrepacked || (long)(N + nr) * K <= MaxPackedB;
        job.SplitN = costN <= costM || !bFits;
        // About four chunks per worker so a late or preempted worker's share is taken by the others; N chunks are
        // whole NR panels when they can be, so the fast full-width tiles dominate.
        int target = threads * 4;
        if (job.SplitN)
        {
            int size = Math.Max(1, (nUnits + target - 1) / target);
            int perPanel = nr / nu;
            // Pre-packed B panels can only be entered at a panel boundary; one panel per chunk balances best (A is
            // packed once per worker, not per chunk).
            if (b.IsPrepacked) size = perPanel;
            else if (size > perPanel) size = (size + perPanel - 1) / perPanel * perPanel;
            job.ChunkSize = size;
            job.Chunks = (nUnits + size - 1) / size;
            // A few whole weight panels that do not divide among the workers (ResNet's 7x7 stage, transposed: 512
            // channels = 11 panels on 2 threads, 6/5) balance badly: each panel's rows are then taken in two halves.
            // Only for pre-packed B: a packed-per-chunk B would be packed twice.
            job.RowParts = b.IsPrepacked && mPanels >= 2 && job.Chunks % threads != 0 && job.Chunks < 8 * threads ? 2 : 1;
        }
        else
        {
            job.ChunkSize = Math.Max(1, (mPanels + target - 1) / target);
            job.Chunks = (mPanels + job.ChunkSize - 1) / job.ChunkSize;
        }
        Parallelism.For(Math.Min(threads, job.SplitN ? job.Chunks * Math.Max(1, job.RowParts) : job.Chunks), 1, ref job);
    }

    /// <summary>Largest B (floats) a worker packs whole when M is split; beyond it N is split instead.</summary>
    private const long MaxPackedB = 4L << 20;

    /// <summary>Dispatch on the path: the generic driver is compiled once per micro-kernel and B source.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Run<TB>(GemmPath path, in ASource a, ref TB b, int M, int N, int K, float* C, int ldc, bool accumulate,
        float* bias = null, float* residual = null, int ldResidual = 0, bool relu = false) where TB : struct, IBPanelSource
    {
        switch (path)
        {
            case GemmPath.Avx512: Run<GemmKernelAvx512, TB>(a, ref b, M, N, K, C, ldc, accumulate, bias, residual, ldResidual, relu); break;
            case GemmPath.Avx2: Run<GemmKernelAvx2, TB>(a, ref b, M, N, K, C, ldc, accumulate, bias, residual, ldResidual, relu); break;
            default: Run<GemmKernelScalar, TB>(a, ref b, M, N, K, C, ldc, accumulate, bias, residual, ldResidual, relu); break;
        }
    }
}
