// Conv2d: 2-D convolution (lecture eq. 2 and 6) as im2col + GEMM, with stride, asymmetric zero padding,
// dilation and groups; backward is two GEMMs over the whole batch and col2im (eq. 13-14). 1x1 stride-1 convs skip
// im2col in the forward.
// The forward runs Kernels/Convolution (im2col packed straight into GEMM panels, bias in the GEMM epilogue).
using CameraCnn.Engine.Kernels;

namespace CameraCnn.Engine.Layers;

/// <summary>
/// Z_k = sum_j W_{j,k} * I_j + B_k (eq. 6), as cross-correlation like every CNN framework (eq. 2).
/// Weights are [OC, C/groups, KH, KW], bias [OC]. Input [N, C, H, W] -> output [N, OC, OH, OW].
/// </summary>
public sealed class Conv2d : Layer
{
    public int InChannels { get; }
    public int OutChannels { get; }
    public int Groups { get; }
    public Window2d Window { get; }
    public Parameter Weight { get; }
    public Parameter? Bias { get; }

    // Per-worker backward workspaces, grown on demand and reused: the batch's im2col (then its dcol), dY laid out
    // [og, images*P] (below), and the worker's partial dW (then dB).
    private float[][] _cols = [];
    private float[][] _dWPartial = [];

    public Conv2d(int inChannels, int outChannels, Window2d window, int groups = 1, bool bias = true)
    {
        window.Validate($"Conv2d {inChannels}->{outChannels}");
        if (inChannels <= 0 || outChannels <= 0 || groups <= 0 || inChannels % groups != 0 || outChannels % groups != 0)
            throw new ShapeException($"Conv2d: channels {inChannels}->{outChannels} must be positive and divisible by groups={groups}");
        InChannels = inChannels;
        OutChannels = outChannels;
        Groups = groups;
        Window = window;
        Weight = new Parameter("W", new Tensor(outChannels, inChannels / groups, window.KH, window.KW));
        Bias = bias ? new Parameter("B", new Tensor(outChannels), decay: false) : null;
    }

    public Conv2d(int inChannels, int outChannels, int kernel, int stride = 1, int pad = 0, int groups = 1, bool bias = true)
        : this(inChannels, outChannels, Window2d.Square(kernel, stride, pad), groups, bias) { }

    public override IReadOnlyList<Parameter> Parameters => Bias is null ? [Weight] : [Weight, Bias];

    private int GroupIn => InChannels / Groups;
    private int GroupOut => OutChannels / Groups;
    /// <summary>Rows of the im2col matrix per group: Cg * KH * KW.</summary>
    private int ColRows => GroupIn * Window.KH * Window.KW;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs, 1);
        var x = ExpectRank(inputs[0], 4);
        if (x[1] != InChannels) throw ShapeError($"expects {InChannels} input channels, got {Tensor.Format(x)}");
        int oh = Window.OutH(x[2]), ow = Window.OutW(x[3]);
        if (oh <= 0 || ow <= 0)
            throw ShapeError($"kernel {Window.ExtentH}x{Window.ExtentW} does not fit input {Tensor.Format(x)} with its padding");
        return [x[0], OutChannels, oh, ow];
    }

    public override long MultiplyAdds(IReadOnlyList<int[]> inputs)
    {
        var o = OutputShape(inputs);
        return (long)o[0] * OutChannels * o[2] * o[3] * ColRows;
    }

    private Span<float> Workspace(ref float[][] pool, int worker, int length)
    {
        if (pool.Length <= worker) Array.Resize(ref pool, Math.Max(worker + 1, Parallelism.Threads));
        ref float[] buf = ref pool[worker];
        if (buf is null || buf.Length < length) buf = new float[length];
        return buf.AsSpan(0, length);
    }

    public override unsafe void Forward(IReadOnlyList<Tensor> inputs, Tensor output)
    {
        Tensor x = inputs[0];
        // Weights are packed on every call: an optimizer step may have changed them since the last forward. The
        // fused inference graph (Optimization.InferenceFusion) packs once and keeps the snapshot instead.
        GemmPath path = Gemm.ActivePath;
        PackWeights(Weight.Value.Data, _packed ??= NewPacks(Groups), GroupOut, ColRows, path);
        fixed (float* px = x.Data, py = output.Data, pb = Bias?.Value.Data)
        {
            var args = new Convolution.Args
            {
                X = px, Y = py, Bias = pb, N = x.N, C = x.C, H = x.H, W = x.W,
                OC = OutChannels, OH = output.H, OW = output.W, Groups = Groups, Window = Window,
                Weights = _packed, Path = path,
            };
            Convolution.Forward(args);
        }
    }

    private PackedMatrix[]? _packed;

    internal static PackedMatrix[] NewPacks(int groups)
    {
        var packs = new PackedMatrix[groups];
        for (int g = 0; g < groups; g++) packs[g] = new PackedMatrix();
        return packs;
    }

    /// <summary>Packs each group's [og x rows] block of w [OC, rows] into its A panels for the path.</summary>
    internal static void PackWeights(ReadOnlySpan<float> w, PackedMatrix[] packs, int og, int rows, GemmPath path)
    {
        for (int g = 0; g < packs.Length; g++)
            packs[g].Pack(w.Slice(g * og * rows, og * rows), og, rows, rows, false, path);
    }

    /// <summary>
    /// Floats of one worker's im2col block in the backward (1 MiB, about an L2): a worker's images are taken in chunks
    /// this size, so a large batch of large maps never needs a col matrix of the whole batch and the products read
    /// their operands from cache. Tests lower it to force many chunks.
    /// </summary>
    internal static int BackwardChunkFloats = 1 << 18;

    private float[][] _dYBatch = [];

    /// <summary>
    /// Reductions at least this long take DotGemm for dW (measured on LeNet's convs: 4x faster than the packed GEMM for
    /// 9 x 16, 1.4x for 144 x 32); shorter ones, where its per-element horizontal sums would dominate, the GEMM.
    /// Tests set it to force either.
    /// </summary>
    internal static int DotGemmMinK = 512;

    /// <summary>
    /// Eq. (13)-(14) for the whole batch at once: each worker takes a contiguous range of images, lays their im2col
    /// matrices side by side (col [rows, images*P]) and dY next to it ([og, images*P]), so dW is one product with the
    /// images in its reduction (K = images*P instead of P per image) and dcol = W^T dY one GEMM as wide as all of
    /// them, folded back into dX image by image. Per-worker partial dW and dB are added at the end.
    /// </summary>
    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        Tensor x = inputs[0];
        int N = x.N, P = output.H * output.W;
        int wLen = Weight.Value.Length, partial = wLen + (Bias is null ? 0 : OutChannels);
        int perImage = Math.Max(ColRows, GroupOut) * P;
        int workers = Parallelism.WorkerCount(N, 1);
        _ = Workspace(ref _cols, Parallelism.Threads - 1, 0); // size the pools before the workers index them
        _ = Workspace(ref _dYBatch, Parallelism.Threads - 1, 0);
        _ = Workspace(ref _dWPartial, Parallelism.Threads - 1, 0);
        for (int t = 0; t < workers; t++) Workspace(ref _dWPartial, t, partial).Clear();
        var job = new BackwardJob
        {
            Layer = this, X = x.Data, DY = dOutput.Data, DX = dInputs[0]?.Data,
            H = x.H, W = x.W, OH = output.H, OW = output.W, Chunk = Math.Clamp(BackwardChunkFloats / Math.Max(1, perImage), 1, Math.Max(1, N)),
        };
        Parallelism.For(N, 1, ref job);
        // The partials hold dW_g^T [rows, og] per group: dW_g [og, rows] += their sum, transposed.
        Span<float> dW = Weight.Grad.Data;
        int og = GroupOut, rows = ColRows;
        for (int t = 0; t < workers; t++)
        {
            ReadOnlySpan<float> part = _dWPartial[t];
            for (int g = 0; g < Groups; g++)
                for (int r = 0; r < rows; r++)
                    for (int o = 0; o < og; o++)
                        dW[(g * og + o) * rows + r] += part[(g * rows + r) * og + o];
        }
        if (Bias is not null)
        {
            Span<float> dB = Bias.Grad.Data;
            for (int t = 0; t < workers; t++)
                System.Numerics.Tensors.TensorPrimitives.Add(dB, _dWPartial[t].AsSpan(wLen, OutChannels), dB);
        }
    }

    /// <summary>dX only (eq. 14), image by image: no im2col of x, no dW product, no bias sums (half the work of a
    /// training backward; Grad-CAM's path through a conv).</summary>
    public override void BackwardInputs(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        if (dInputs[0] is not { } dX) return;
        Tensor x = inputs[0];
        int N = x.N, C = x.C, H = x.H, W = x.W, OH = output.H, OW = output.W, P = OH * OW;
        float[] w = Weight.Value.Data, dy = dOutput.Data;
        _ = Workspace(ref _cols, Parallelism.Threads - 1, 0);
        Parallelism.For(N, 1, (n0, n1, worker) =>
        {
            Span<float> ws = Window.IsPointwise ? default : Workspace(ref _cols, worker, ColRows * P);
            for (int n = n0; n < n1; n++)
                AddInputGradient(w, Groups, Window, dy.AsSpan(n * OutChannels * P, OutChannels * P), OutChannels, OH, OW,
                    dX.Data.AsSpan(n * C * H * W, C * H * W), C, H, W, ws);
        });
    }

    /// <summary>One worker's images of the backward (a struct body: dispatching it allocates nothing).</summary>
    private struct BackwardJob : IParallelBody
    {
        public Conv2d Layer;
        public float[] X, DY;
        public float[]? DX;
        public int H, W, OH, OW, Chunk;

        public readonly void Run(int start, int end, int worker)
        {
            for (int n0 = start; n0 < end; n0 += Chunk)
                Layer.BackwardImages(this, n0, Math.Min(Chunk, end - n0), worker);
        }
    }

    private void BackwardImages(in BackwardJob j, int n0, int nb, int worker)
    {
        int C = InChannels, OC = OutChannels, cg = GroupIn, og = GroupOut, rows = ColRows;
        int H = j.H, W = j.W, OH = j.OH, OW = j.OW, P = OH * OW, K = nb * P;
        Span<float> col = Workspace(ref _cols, worker, rows * K);
        Span<float> dYg = Workspace(ref _dYBatch, worker, og * K);
        Span<float> partial = _dWPartial[worker];
        ReadOnlySpan<float> w = Weight.Value.Data;
        for (int g = 0; g < Groups; g++)
        {
            // col [rows, K]: image i's im2col in columns [i*P, (i+1)*P); dY_g [og, K] likewise.
            for (int i = 0; i < nb; i++)
            {
                int n = n0 + i;
                Im2Col.Unfold(j.X.AsSpan((n * C + g * cg) * H * W, cg * H * W), cg, H, W, Window, OH, OW, col[(i * P)..], K);
                for (int o = 0; o < og; o++)
                    j.DY.AsSpan(((n * OC) + g * og + o) * P, P).CopyTo(dYg.Slice(o * K + i * P, P));
            }
            // dW_g^T [rows, og] += col [rows, K] * dY_g^T [K, og]   (eq. 13: the layer's input times the error, summed over
            // the batch). Both operands are K-contiguous rows: with a long K (few rows and channels, so chunks of many
            // images) as dot products of those rows, unpacked; else by the GEMM with col as A, whose packing streams
            // its rows (dW_g itself would need col packed transposed as B, which costs more than the product here).
            Span<float> dWg = partial.Slice(g * rows * og, rows * og);
            // DotGemm runs on one thread: a batch too small to give every worker images keeps the GEMM's own split.
            bool alone = Parallelism.Threads > 1 && !Parallelism.InsideWorker;
            if (K >= DotGemmMinK && !alone) DotGemm.MultiplyAdd(rows, og, K, col, K, dYg, K, dWg, og);
            else Gemm.Multiply(false, true, rows, og, K, col, K, dYg, K, dWg, og, true);
            if (Bias is not null)
                for (int o = 0; o < og; o++)
                    partial[Weight.Value.Length + g * og + o] += System.Numerics.Tensors.TensorPrimitives.Sum(dYg.Slice(o * K, K));
            if (j.DX is not { } dX) continue;
            // dcol [rows, K] = W_g^T [rows, og] * dY_g [og, K], folded back into each image's dX (eq. 14); col is spent, so
            // dcol takes its place.
            Gemm.Multiply(true, false, rows, K, og, w.Slice(g * og * rows, og * rows), rows, dYg, K, col, K, false);
            for (int i = 0; i < nb; i++)
                Im2Col.FoldAdd(col[(i * P)..], cg, H, W, Window, OH, OW, dX.AsSpan(((n0 + i) * C + g * cg) * H * W, cg * H * W), K);
        }
    }

    /// <summary>
    /// dX [C, H, W] += the error of one sample carried back through the weights w [OC, C/G, KH, KW] (eq. 14): per
    /// group, dcol [rows, P] = W_g^T [rows, og] * dY_g [og, P], folded back onto the pixels it came from (col2im); a
    /// 1x1 stride-1 unpadded convolution adds W_g^T dY_g straight into dX. <paramref name="ws"/> holds rows * P floats
    /// (unused for 1x1). <paramref name="packedWT"/>, when given, holds each group's W_g^T already packed as GEMM A
    /// panels for the active path (a fixed snapshot such as the fused inference conv's); else W^T is packed per call.
    /// Shared by <see cref="Conv2d"/> and the fused inference conv.
    /// </summary>
    internal static unsafe void AddInputGradient(ReadOnlySpan<float> w, int groups, in Window2d window, ReadOnlySpan<float> dy, int OC, int OH, int OW,
        Span<float> dX, int C, int H, int W, Span<float> ws, PackedMatrix[]? packedWT = null)
    {
        int cg = C / groups, og = OC / groups, rows = cg * window.KH * window.KW, P = OH * OW;
        bool pointwise = window.IsPointwise;
        for (int g = 0; g < groups; g++)
        {
            ReadOnlySpan<float> dyg = dy.Slice(g * og * P, og * P);
            Span<float> dxg = dX.Slice(g * cg * H * W, cg * H * W);
            Span<float> dcol = pointwise ? dxg : ws[..(rows * P)];
            if (packedWT is null)
                Gemm.Multiply(true, false, rows, P, og, w.Slice(g * og * rows, og * rows), rows, dyg, P, dcol, P, pointwise);
            else
                fixed (float* pdy = dyg, pc = dcol)
                {
                    var b = new MatrixPanels(pdy, P, false);
                    GemmDriver.Run(packedWT[g].Path, new GemmDriver.ASource { Packed = packedWT[g] }, ref b, rows, P, og, pc, P, pointwise);
                }
            if (!pointwise) Im2Col.FoldAdd(dcol, cg, H, W, window, OH, OW, dxg);
        }
    }
}

/// <summary>
/// The scalar truth for <see cref="Conv2d"/>'s backward, straight from eq. (13)-(14) with plain loops in double:
/// dW[k,j,p,q] += sum dY[n,k,a,b] * x[n, j', a*SH + p*DH - PadTop, b*SW + q*DW - PadLeft], dX gets every dY times
/// the weight that carried it, dB[k] += sum dY[n,k,.,.]. Used by the tests against the batched GEMM path.
/// </summary>
public static class Conv2dReference
{
    public static void Backward(ReadOnlySpan<float> x, int N, int C, int H, int W, ReadOnlySpan<float> w, int OC, int groups,
        in Window2d g, ReadOnlySpan<float> dY, Span<float> dX, Span<float> dW, Span<float> dB)
    {
        int OH = g.OutH(H), OW = g.OutW(W), cg = C / groups, og = OC / groups;
        var dw = new double[dW.Length];
        var dx = new double[dX.Length];
        var db = new double[dB.Length];
        for (int n = 0; n < N; n++)
            for (int k = 0; k < OC; k++)
            {
                int grp = k / og;
                for (int a = 0; a < OH; a++)
                    for (int b = 0; b < OW; b++)
                    {
                        double d = dY[((n * OC + k) * OH + a) * OW + b];
                        if (db.Length > 0) db[k] += d;
                        for (int jc = 0; jc < cg; jc++)
                            for (int p = 0; p < g.KH; p++)
                                for (int q = 0; q < g.KW; q++)
                                {
                                    int ih = a * g.SH + p * g.DH - g.PadTop, iw = b * g.SW + q * g.DW - g.PadLeft;
                                    if ((uint)ih >= (uint)H || (uint)iw >= (uint)W) continue;
                                    int xi = ((n * C + grp * cg + jc) * H + ih) * W + iw, wi = ((k * cg + jc) * g.KH + p) * g.KW + q;
                                    dw[wi] += d * x[xi];
                                    if (!dX.IsEmpty) dx[xi] += d * w[wi];
                                }
                    }
            }
        for (int i = 0; i < dw.Length; i++) dW[i] += (float)dw[i];
        for (int i = 0; i < dx.Length; i++) dX[i] += (float)dx[i];
        for (int i = 0; i < db.Length; i++) dB[i] += (float)db[i];
    }
}
