// Convolution: the forward driver shared by Conv2d and the fused inference conv: per image and group one packed
// GEMM, y_g [OC/G, OH*OW] = W_g (pre-packed) * im2col(x_g), with bias, residual and ReLU applied in the GEMM's
// epilogue. 1x1 stride-1 unpadded convs read x itself as B (no im2col). Small maps with many channels (ResNet's
// 7x7 stage) run transposed, y_g^T [OH*OW, OC/G] = im2col(x_g)^T * W_g^T, so the few pixels fill 8-row panels
// instead of 16-lane vectors. Not the backward: Conv2d does that.
using System.Runtime.CompilerServices;

namespace CameraCnn.Engine.Kernels;

internal static unsafe class Convolution
{
    /// <summary>Per-image work for a batch split over workers (each image's GEMM then runs on one thread).</summary>
    private struct Images : IParallelBody
    {
        public Args A;
        public void Run(int start, int end, int worker)
        {
            for (int n = start; n < end; n++) Image(A, n);
        }
    }

    /// <summary>Shapes and pointers of one forward. x [N, C, H, W], y and residual [N, OC, OH, OW], bias [OC].</summary>
    internal struct Args
    {
        public float* X, Y, Bias, Residual;
        public int N, C, H, W, OC, OH, OW, Groups;
        public Window2d Window;
        public PackedMatrix[] Weights; // one per group, each [OC/G x C/G*KH*KW]
        /// <summary>When set, the transposed form: W_g^T packed as B panels, one per group.</summary>
        public PackedPanels[]? WeightsT;
        public bool Relu;
        public GemmPath Path;
    }

    /// <summary>
    /// True when the transposed product wastes clearly fewer vector lanes: P pixels in MR-row panels and og channels
    /// in NU-wide vectors, against og in MR-row panels and P in NU-wide vectors (P = 49 on AVX-512: 88 % vs 77 %).
    /// </summary>
    public static bool PreferTransposed(int P, int og, GemmPath path)
    {
        if (ForceTransposed is { } forced) return forced;
        int mr = Gemm.PanelRows(path), nu = Gemm.VectorCols(path), nr = Gemm.PanelCols(path);
        if (og < 2 * nr || P > 4 * nr) return false;
        double normal = (double)P / RoundUp(P, nu) * og / RoundUp(og, mr);
        double transposed = (double)P / RoundUp(P, mr) * og / RoundUp(og, nu);
        return transposed > 1.08 * normal;
    }

    /// <summary>Tests and benchmarks: always (true) or never (false) the transposed form; null = by shape.</summary>
    internal static bool? ForceTransposed;

    private static int RoundUp(int v, int m) => (v + m - 1) / m * m;

    [ThreadStatic] private static float[]? _transposed;
    [ThreadStatic] private static PackedMatrix? _im2colT;

    /// <summary>KC blocks [start, end) of im2col^T [P x K] packed as A panels (the PackedMatrix layout).</summary>
    private struct PackIm2ColT : IParallelBody
    {
        public Im2ColPanels Src;
        public int P, K, PaddedRows, MR;
        public float* Data;

        public void Run(int start, int end, int worker)
        {
            for (int blk = start; blk < end; blk++)
            {
                int k0 = blk * GemmDriver.KC;
                Src.Pack(k0, Math.Min(GemmDriver.KC, K - k0), 0, P, MR, Data + (long)k0 * PaddedRows);
            }
        }
    }

    public static void Forward(in Args a)
    {
        int threads = Parallelism.Threads;
        // A batch that divides evenly (or is large) is split by image; a single image by the GEMM's own M/N split.
        if (a.N > 1 && threads > 1 && (a.N % threads == 0 || a.N >= 4 * threads))
        {
            var body = new Images { A = a };
            Parallelism.For(a.N, 1, ref body);
        }
        else
            for (int n = 0; n < a.N; n++) Image(a, n);
    }

    private static void Image(in Args a, int n)
    {
        int cg = a.C / a.Groups, og = a.OC / a.Groups, P = a.OH * a.OW;
        int rows = cg * a.Window.KH * a.Window.KW;
        for (int g = 0; g < a.Groups; g++)
        {
            float* xg = a.X + ((long)n * a.C + g * cg) * a.H * a.W;
            long yOff = ((long)n * a.OC + g * og) * P;
            var w = new GemmDriver.ASource { Packed = a.Weights[g] };
            float* bias = a.Bias == null ? null : a.Bias + g * og;
            float* res = a.Residual == null ? null : a.Residual + yOff;
            if (a.WeightsT is { } wt)
            {
                // y_g^T [P x og] = im2col^T [P x rows] * W_g^T [rows x og] into scratch, then the epilogue transposes.
                // im2col^T is packed once, its K blocks split over the workers, and shared: the product splits the
                // output channels, and each worker would otherwise pack all of it.
                _transposed ??= [];
                float* t = PinnedBuffer.Ensure(ref _transposed, (long)P * og);
                _im2colT ??= new PackedMatrix();
                var pack = new PackIm2ColT
                {
                    Src = new Im2ColPanels(xg, a.H, a.W, a.Window, a.OW), P = P, K = rows,
                    Data = _im2colT.Reserve(P, rows, a.Path), PaddedRows = _im2colT.PaddedRows, MR = _im2colT.MR,
                };
                int blocks = (rows + GemmDriver.KC - 1) / GemmDriver.KC;
                if ((long)P * og * rows >= GemmDriver.ParallelThreshold) Parallelism.ForChunks(blocks, 1, ref pack);
                else pack.Run(0, blocks, 0);
                var src = new GemmDriver.ASource { Packed = _im2colT };
                var b = new PrepackedPanels(wt[g]);
                GemmDriver.Run(a.Path, src, ref b, P, og, rows, t, og, false);
                var epilogue = new TransposeEpilogue { T = t, Og = og, P = P, Y = a.Y + yOff, Bias = bias, Residual = res, Relu = a.Relu };
                int oBlocks = (og + TransposeEpilogue.Block - 1) / TransposeEpilogue.Block;
                if ((long)P * og * rows >= GemmDriver.ParallelThreshold) Parallelism.ForChunks(oBlocks, 4, ref epilogue);
                else epilogue.Run(0, oBlocks, 0);
            }
            else if (a.Window.IsPointwise)
            {
                var b = new MatrixPanels(xg, P, false);
                GemmDriver.Run(a.Path, w, ref b, og, P, rows, a.Y + yOff, P, false, bias, res, P, a.Relu);
            }
            else
            {
                var b = new Im2ColPanels(xg, a.H, a.W, a.Window, a.OW);
                GemmDriver.Run(a.Path, w, ref b, og, P, rows, a.Y + yOff, P, false, bias, res, P, a.Relu);
            }
        }
    }

    /// <summary>
    /// y [og x P] = relu?(t^T + bias[row] + residual): the normal path's epilogue, in the same order, for blocks of 16
    /// output channels [start, end) (split over the workers: no serial tail after the parallel product).
    /// </summary>
    private struct TransposeEpilogue : IParallelBody
    {
        public const int Block = 16;
        public float* T, Y, Bias, Residual;
        public int Og, P;
        public bool Relu;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Run(int start, int end, int worker)
        {
            for (int o0 = start * Block; o0 < Math.Min(Og, end * Block); o0 += Block)
                for (int p0 = 0; p0 < P; p0 += Block)
                    for (int o = o0; o < Math.Min(Og, o0 + Block); o++)
                    {
                        float bo = Bias == null ? 0f : Bias[o];
                        for (int p = p0; p < Math.Min(P, p0 + Block); p++)
                        {
                            float v = T[(long)p * Og + o];
                            if (Bias != null) v += bo;
                            if (Residual != null) v += Residual[(long)o * P + p];
                            if (Relu && v < 0) v = 0;
                            Y[(long)o * P + p] = v;
                        }
                    }
        }
    }
}
