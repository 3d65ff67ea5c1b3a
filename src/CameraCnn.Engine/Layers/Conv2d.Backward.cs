// Conv2d.Backward: the training backward of Conv2d (eq. 13-14) for the whole batch: chunks of images whose im2col
// matrices lie side by side, dW and dcol one product each per chunk, col2im per image. Large maps: each worker its own
// images and partial dW; small maps (ResNet's 7x7 stage): the workers share each chunk's products, one partial dW.
// Not the input-only backward of Grad-CAM (BackwardInputs, AddInputGradient: Conv2d.cs).
using System.Numerics.Tensors;
using CameraCnn.Engine.Kernels;

namespace CameraCnn.Engine.Layers;

public sealed partial class Conv2d
{
    // Per-worker backward workspaces, grown on demand and reused: the chunk's im2col (then its dcol), dY laid out
    // [og, images*P] (below), and the worker's partial dW (then dB).
    private float[][] _cols = [];
    private float[][] _dWPartial = [];
    private float[][] _dYBatch = [];

    // Each group's W^T [rows, og] as GEMM A panels, packed once per backward (the weights change every step) and shared
    // by the dcol products.
    private PackedMatrix[]? _packedWT;

    /// <summary>
    /// Floats of one worker's im2col block in the backward (1 MiB, about an L2): a worker's images are taken in chunks
    /// this size, so a large batch of large maps never needs a col matrix of the whole batch and the products read
    /// their operands from cache. Tests lower it to force many chunks.
    /// </summary>
    internal static int BackwardChunkFloats = 1 << 18;

    /// <summary>
    /// Columns (images * P) a chunk may fill whatever <see cref="BackwardChunkFloats"/> gives: at ResNet's 7x7x512 stage
    /// one image's im2col alone is 4608 x 49, so chunks by floats were one image, dW a product with K = 49 (its
    /// 4608 x 512 accumulator read and written once per image) and dcol one with N = 49. The products block for the
    /// caches themselves. Measured on that stage (1 thread): 512 (chunks of 8 images, K = 392) beats 768 and 1024,
    /// whose K = 539 or 784 end in a K block 27 or 16 deep that costs a whole pass over dW. Tests set it to 0.
    /// </summary>
    internal static int BackwardMinColumns = 512;

    /// <summary>
    /// Maps of at most this many output pixels take the shared backward (below). Measured: ResNet's 7x7x512 stage
    /// (with the wider chunks and W^T packed once: a step's backward 527 .. 548 -> 311 ms on 2 threads); LeNet's 10x10
    /// conv 1.70 -> 1.65 ms.
    /// </summary>
    internal const int SharedMaxPixels = 128;

    /// <summary>Tests: the shared form (true) or the per-worker form (false) for any map; null = by map size.</summary>
    internal static bool? ForceSharedBackward;

    /// <summary>
    /// Most images per chunk: about BackwardChunkFloats, or as many as fit in BackwardMinColumns columns when that is
    /// more. A worker's images are cut into equal chunks of at most this many.
    /// </summary>
    internal static int BackwardChunk(int rows, int og, int P, int N)
    {
        int byFloats = BackwardChunkFloats / Math.Max(1, Math.Max(rows, og) * P);
        int byColumns = BackwardMinColumns / Math.Max(1, P);
        return Math.Clamp(Math.Max(byFloats, byColumns), 1, Math.Max(1, N));
    }

    /// <summary>
    /// Reductions at least this long take DotGemm for dW (measured on LeNet's convs: 4x faster than the packed GEMM for
    /// 9 x 16, 1.4x for 144 x 32); shorter ones, where its per-element horizontal sums would dominate, the GEMM.
    /// Tests set it to force either.
    /// </summary>
    internal static int DotGemmMinK = 512;

    /// <summary>
    /// Eq. (13)-(14) for the whole batch at once: images in chunks whose im2col matrices lie side by side (col [rows,
    /// images*P]) with dY next to them ([og, images*P]), so dW is one product with the images in its reduction (K =
    /// images*P instead of P per image) and dcol = W^T dY one GEMM as wide as all of them, folded back into dX image by
    /// image. Large maps: each worker takes a contiguous range of images and its own partial dW and dB, added at the
    /// end. Small maps (at most SharedMaxPixels outputs): per-worker products would be narrow and the
    /// partials (4608 x 512 each at 7x7x512) dear to add, so every chunk's products are split over the workers by the
    /// GEMM itself, its im2col and col2im by image, into one partial.
    /// </summary>
    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        Tensor x = inputs[0];
        int N = x.N, P = output.H * output.W;
        int wLen = Weight.Value.Length, partial = wLen + (Bias is null ? 0 : OutChannels);
        bool shared = ForceSharedBackward ?? P <= SharedMaxPixels;
        int workers = shared ? 1 : Parallelism.WorkerCount(N, 1);
        _ = Workspace(ref _cols, Parallelism.Threads - 1, 0); // size the pools before the workers index them
        _ = Workspace(ref _dYBatch, Parallelism.Threads - 1, 0);
        _ = Workspace(ref _dWPartial, Parallelism.Threads - 1, 0);
        for (int t = 0; t < workers; t++) Workspace(ref _dWPartial, t, partial).Clear();
        var job = new BackwardJob
        {
            Layer = this, X = x.Data, DY = dOutput.Data, DX = dInputs[0]?.Data, Shared = shared,
            H = x.H, W = x.W, OH = output.H, OW = output.W, Chunk = BackwardChunk(ColRows, GroupOut, P, N),
        };
        if (job.DX is not null)
        {
            GemmPath path = Gemm.ActivePath;
            _packedWT ??= NewPacks(Groups);
            for (int g = 0; g < Groups; g++)
                _packedWT[g].Pack(Weight.Value.Data.AsSpan(g * GroupOut * ColRows, GroupOut * ColRows), ColRows, GroupOut, ColRows, true, path);
        }
        if (shared) job.Run(0, N, 0);
        else Parallelism.For(N, 1, ref job);
        // The partials hold dW_g^T [rows, og] per group: dW_g [og, rows] += their sum, transposed.
        var sum = new PartialSum { Partials = _dWPartial, Workers = workers, DW = Weight.Grad.Data, Og = GroupOut, Rows = ColRows };
        int rowBlocks = (ColRows + PartialSum.Tile - 1) / PartialSum.Tile;
        if ((long)wLen * workers >= 1 << 16) Parallelism.ForChunks(Groups * rowBlocks, 4, ref sum);
        else sum.Run(0, Groups * rowBlocks, 0);
        if (Bias is not null)
        {
            Span<float> dB = Bias.Grad.Data;
            for (int t = 0; t < workers; t++)
                TensorPrimitives.Add(dB, _dWPartial[t].AsSpan(wLen, OutChannels), dB);
        }
    }

    /// <summary>
    /// dW_g [og, rows] += sum over workers t of partial_t's dW_g^T [rows, og], for (group, block of Tile rows) units
    /// [start, end), in Tile x Tile tiles (a plain loop strides dW by rows floats per element); each element takes the
    /// workers' partials in order t = 0, 1, .. wherever it runs, so the split changes no bit.
    /// </summary>
    private struct PartialSum : IParallelBody
    {
        public const int Tile = 16;
        public float[][] Partials;
        public float[] DW;
        public int Workers, Og, Rows;

        public readonly void Run(int start, int end, int worker)
        {
            int rowBlocks = (Rows + Tile - 1) / Tile;
            for (int unit = start; unit < end; unit++)
            {
                int g = unit / rowBlocks, r0 = unit % rowBlocks * Tile, r1 = Math.Min(Rows, r0 + Tile);
                for (int o0 = 0; o0 < Og; o0 += Tile)
                {
                    int o1 = Math.Min(Og, o0 + Tile);
                    for (int t = 0; t < Workers; t++)
                    {
                        float[] part = Partials[t];
                        for (int r = r0; r < r1; r++)
                        {
                            int src = (g * Rows + r) * Og;
                            for (int o = o0; o < o1; o++) DW[(g * Og + o) * Rows + r] += part[src + o];
                        }
                    }
                }
            }
        }
    }

    /// <summary>One worker's images of the backward, or (Shared) all of them on the caller (a struct body: dispatching it allocates nothing).</summary>
    private struct BackwardJob : IParallelBody
    {
        public Conv2d Layer;
        public float[] X, DY;
        public float[]? DX;
        public int H, W, OH, OW, Chunk;
        public bool Shared;

        public readonly void Run(int start, int end, int worker)
        {
            int chunks = (end - start + Chunk - 1) / Chunk, size = chunks == 0 ? 1 : (end - start + chunks - 1) / chunks;
            for (int n0 = start; n0 < end; n0 += size)
                Layer.BackwardImages(this, n0, Math.Min(size, end - n0), worker);
        }
    }

    /// <summary>
    /// Images [n0, n0 + nb) of group g, one image per unit: Fold = false lays image i's im2col into col's columns
    /// [i*P, (i+1)*P) and its dY_g into dYg's; Fold = true adds dcol's columns back into image i's dX (col2im).
    /// </summary>
    private struct ChunkImages : IParallelBody
    {
        public Conv2d Layer;
        public float[] X, DY, Col, DYg;
        public float[]? DX;
        /// <summary>Ld: columns of the chunk (images * P), the leading dimension of col and dYg.</summary>
        public int N0, G, H, W, OH, OW, Ld;
        public bool Fold;

        public readonly void Run(int start, int end, int worker)
        {
            var l = Layer;
            int C = l.InChannels, OC = l.OutChannels, cg = l.GroupIn, og = l.GroupOut, P = OH * OW;
            for (int i = start; i < end; i++)
            {
                int n = N0 + i, ld = Ld;
                if (Fold)
                {
                    Im2Col.FoldAdd(Col.AsSpan(i * P), cg, H, W, l.Window, OH, OW, DX.AsSpan((n * C + G * cg) * H * W, cg * H * W), ld);
                    continue;
                }
                Im2Col.Unfold(X.AsSpan((n * C + G * cg) * H * W, cg * H * W), cg, H, W, l.Window, OH, OW, Col.AsSpan(i * P), ld);
                for (int o = 0; o < og; o++)
                    DY.AsSpan((n * OC + G * og + o) * P, P).CopyTo(DYg.AsSpan(o * ld + i * P, P));
            }
        }
    }

    private unsafe void BackwardImages(in BackwardJob j, int n0, int nb, int worker)
    {
        int og = GroupOut, rows = ColRows;
        int P = j.OH * j.OW, K = nb * P;
        _ = Workspace(ref _cols, worker, rows * K);
        _ = Workspace(ref _dYBatch, worker, og * K);
        float[] col = _cols[worker], dYg = _dYBatch[worker];
        Span<float> partial = _dWPartial[worker];
        for (int g = 0; g < Groups; g++)
        {
            // col [rows, K]: image i's im2col in columns [i*P, (i+1)*P); dY_g [og, K] likewise (by image over the
            // workers when they share the chunk).
            var images = new ChunkImages
            {
                Layer = this, X = j.X, DY = j.DY, Col = col, DYg = dYg, DX = j.DX, N0 = n0, G = g,
                H = j.H, W = j.W, OH = j.OH, OW = j.OW, Ld = K,
            };
            if (j.Shared) Parallelism.For(nb, 1, ref images);
            else images.Run(0, nb, worker);
            // dW_g^T [rows, og] += col [rows, K] * dY_g^T [K, og]   (eq. 13: the layer's input times the error, summed over
            // the batch). Both operands are K-contiguous rows: with a long K (few rows and channels, so chunks of many
            // images) as dot products of those rows, unpacked; else by the GEMM with col as A, whose packing streams
            // its rows (dW_g itself would need col packed transposed as B, which costs more than the product here).
            Span<float> dWg = partial.Slice(g * rows * og, rows * og);
            // DotGemm runs on one thread: a batch too small to give every worker images keeps the GEMM's own split.
            bool alone = Parallelism.Threads > 1 && !Parallelism.InsideWorker;
            Span<float> colK = col.AsSpan(0, rows * K), dYK = dYg.AsSpan(0, og * K);
            if (K >= DotGemmMinK && !alone) DotGemm.MultiplyAdd(rows, og, K, colK, K, dYK, K, dWg, og);
            else Gemm.Multiply(false, true, rows, og, K, colK, K, dYK, K, dWg, og, true);
            if (Bias is not null)
                for (int o = 0; o < og; o++)
                    partial[Weight.Value.Length + g * og + o] += TensorPrimitives.Sum(dYK.Slice(o * K, K));
            if (j.DX is null) continue;
            // dcol [rows, K] = W_g^T [rows, og] * dY_g [og, K], folded back into each image's dX (eq. 14); col is spent, so
            // dcol takes its place.
            fixed (float* pdy = dYg, pc = col)
            {
                var b = new MatrixPanels(pdy, K, false);
                PackedMatrix wt = _packedWT![g];
                GemmDriver.Run(wt.Path, new GemmDriver.ASource { Packed = wt }, ref b, rows, K, og, pc, K, false);
            }
            images.Fold = true;
            if (j.Shared) Parallelism.For(nb, 1, ref images);
            else images.Run(0, nb, worker);
        }
    }
}
