// Convolution: the forward driver shared by Conv2d and the fused inference conv: per image and group one packed
// GEMM, y_g [OC/G, OH*OW] = W_g (pre-packed) * im2col(x_g), with bias, residual and ReLU applied in the GEMM's
// epilogue. 1x1 stride-1 unpadded convs read x itself as B (no im2col). Small maps with many channels (ResNet's
// 7x7 stage) run transposed, y_g^T [OH*OW, OC/G] = im2col(x_g)^T * W_g^T, so the few pixels fill 8-row panels
// instead of 16-lane vectors; otherwise a batch of small maps runs several images per product (their im2col side by
// side, the result scattered back to NCHW). Not the backward: Conv2d does that.
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
    /// Not where AVX-512 runs at full width (FmaPeak.Avx512): there the normal form's 8 x 16 edge costs less than the
    /// transposed form's extra passes (its im2col packed as A, the transposing epilogue); ResNet18 whole forwards on a
    /// Zen 5, the two alternated in one process: 1.3-1.6 % faster at 2 threads, the same at 1.
    /// </summary>
    public static bool PreferTransposed(int P, int og, GemmPath path)
    {
        if (ForceTransposed is { } forced) return forced;
        int mr = Gemm.PanelRows(path), nu = Gemm.VectorCols(path), nr = Gemm.PanelCols(path);
        if (og < 2 * nr || P > 4 * nr) return false;
        // After the shape test: only a conv that could run transposed waits for the width's one-time measurement.
        if (path == GemmPath.Avx512 && FmaPeak.Avx512 == Avx512Width.Full) return false;
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

    /// <summary>
    /// Maps of at most this many output pixels run several images per product when the batch has more than one: one
    /// image's 7x7 map is 49 columns, a 48-wide tile and a 1-column one, and every such product re-packs its weights'
    /// reads for a few columns (ResNet's 512 -> 512 3x3 conv at batch 32: 51 -> 41 ms on 2 threads, 100 -> 73.5 ms on
    /// 1). At LeNet's 10x10 (100 = 2 x 48 + 4 columns, little waste) it made no difference (its conv2 1.13 .. 1.17 ms
    /// at batch 64 either way), so the per-image form stays there.
    /// </summary>
    internal const int BatchedMaxPixels = 64;

    /// <summary>
    /// Floats of the batched product's output scratch [og, images*P] (8 MiB): bounds the images per product. Tests lower
    /// it to force several products and a short last one.
    /// </summary>
    internal static int BatchedScratchFloats = 1 << 21;

    /// <summary>Tests and benchmarks: always (true) or never (false) the batched form for N &gt; 1; null = by shape.</summary>
    internal static bool? ForceBatched;

    /// <summary>True when the forward lays several images' im2col side by side in one product (not the transposed form).</summary>
    public static bool Batches(in Args a)
        => a.WeightsT is null && a.N > 1 && (ForceBatched ?? a.OH * a.OW <= BatchedMaxPixels);

    public static void Forward(in Args a)
    {
        if (Batches(a))
        {
            Batched(a);
            return;
        }
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

    [ThreadStatic] private static float[]? _batched;

    /// <summary>
    /// Images in groups of nb: per group and conv group one product T [og, nb*P] = W_g * [im2col(x_n0) .. im2col(x_n0+nb-1)]
    /// with the bias in its epilogue (split over the workers by the GEMM itself), then T scattered into each image's
    /// y_g with the residual and ReLU: the same operations in the same order as the per-image epilogue, so the same bits.
    /// </summary>
    private static void Batched(in Args a)
    {
        int cg = a.C / a.Groups, og = a.OC / a.Groups, P = a.OH * a.OW;
        int rows = cg * a.Window.KH * a.Window.KW;
        int nb = Math.Clamp(BatchedScratchFloats / Math.Max(1, og * P), 1, a.N);
        _batched ??= [];
        float* t = PinnedBuffer.Ensure(ref _batched, (long)og * nb * P);
        long imageStride = (long)a.C * a.H * a.W;
        for (int n0 = 0; n0 < a.N; n0 += nb)
        {
            int count = Math.Min(nb, a.N - n0), cols = count * P;
            for (int g = 0; g < a.Groups; g++)
            {
                var w = new GemmDriver.ASource { Packed = a.Weights[g] };
                var b = new Im2ColPanels(a.X + n0 * imageStride + (long)g * cg * a.H * a.W, a.H, a.W, a.Window, a.OH, a.OW, imageStride);
                float* bias = a.Bias == null ? null : a.Bias + g * og;
                GemmDriver.Run(a.Path, w, ref b, og, cols, rows, t, cols, false, bias);
                var scatter = new Scatter
                {
                    T = t, Ld = cols, P = P, Images = count, Relu = a.Relu,
                    Y = a.Y + ((long)n0 * a.OC + g * og) * P, Residual = a.Residual == null ? null : a.Residual + ((long)n0 * a.OC + g * og) * P,
                    ImageStride = (long)a.OC * P,
                };
                if ((long)og * cols >= 1 << 15) Parallelism.ForChunks(og, 16, ref scatter);
                else scatter.Run(0, og, 0);
            }
        }
    }

    /// <summary>y[i, o, p] = relu?(T[o, i*P + p] + residual[i, o, p]) for output channels [start, end) of every image.</summary>
    private struct Scatter : IParallelBody
    {
        public float* T, Y, Residual;
        public int Ld, P, Images;
        public long ImageStride;
        public bool Relu;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Run(int start, int end, int worker)
        {
            for (int o = start; o < end; o++)
                for (int i = 0; i < Images; i++)
                {
                    float* src = T + (long)o * Ld + i * P, dst = Y + i * ImageStride + (long)o * P;
                    if (Residual == null && !Relu)
                    {
                        new ReadOnlySpan<float>(src, P).CopyTo(new Span<float>(dst, P));
                        continue;
                    }
                    float* res = Residual == null ? null : Residual + i * ImageStride + (long)o * P;
                    for (int p = 0; p < P; p++)
                    {
                        float v = src[p];
                        if (res != null) v += res[p];
                        if (Relu && v < 0) v = 0; // NaN stays NaN, like the GEMM epilogue
                        dst[p] = v;
                    }
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
