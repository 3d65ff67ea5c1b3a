// Conv2d: 2-D convolution (lecture eq. 2 and 6) as im2col + GEMM, with stride, asymmetric zero padding,
// dilation and groups; backward is two GEMMs and col2im (eq. 13-14). 1x1 stride-1 convs skip im2col.
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

    // Per-worker im2col workspaces and weight-gradient partials, grown on demand and reused.
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

    private bool Pointwise => Window.IsPointwise;

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

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        Tensor x = inputs[0];
        Tensor? dX = dInputs[0];
        int N = x.N, C = x.C, H = x.H, W = x.W, OH = output.H, OW = output.W, P = OH * OW;
        if (P < BatchedColumns && N > 1)
        {
            BackwardBatched(x, dX, dOutput, output);
            return;
        }
        int cg = GroupIn, og = GroupOut, rows = ColRows, wLen = Weight.Value.Length;
        float[] w = Weight.Value.Data, xd = x.Data, dy = dOutput.Data;
        int workers = Parallelism.WorkerCount(N, 1);
        _ = Workspace(ref _cols, Parallelism.Threads - 1, 0);
        _ = Workspace(ref _dWPartial, Parallelism.Threads - 1, 0);
        for (int t = 0; t < workers; t++) Workspace(ref _dWPartial, t, wLen).Clear();
        Parallelism.For(N, 1, (n0, n1, worker) =>
        {
            Span<float> dW = Workspace(ref _dWPartial, worker, wLen);
            for (int n = n0; n < n1; n++)
                for (int g = 0; g < Groups; g++)
                {
                    ReadOnlySpan<float> xg = xd.AsSpan((n * C + g * cg) * H * W, cg * H * W);
                    ReadOnlySpan<float> dyg = dy.AsSpan((n * OutChannels + g * og) * P, og * P);
                    ReadOnlySpan<float> col = xg;
                    Span<float> ws = Pointwise ? default : Workspace(ref _cols, worker, rows * P);
                    if (!Pointwise)
                    {
                        Im2Col.Unfold(xg, cg, H, W, Window, OH, OW, ws);
                        col = ws;
                    }
                    // dW_g [og, rows] += dY_g [og, P] * col^T [P, rows]   (eq. 13: H * Delta^T)
                    Gemm.Multiply(false, true, og, rows, P, dyg, P, col, P, dW.Slice(g * og * rows, og * rows), rows, true);
                    if (dX is null) continue;
                    // dcol [rows, P] = W_g^T [rows, og] * dY_g [og, P]; then fold back into dX (eq. 14)
                    Span<float> dxg = dX.Data.AsSpan((n * C + g * cg) * H * W, cg * H * W);
                    if (Pointwise)
                        Gemm.Multiply(true, false, rows, P, og, w.AsSpan(g * og * rows, og * rows), rows, dyg, P, dxg, P, true);
                    else
                    {
                        Gemm.Multiply(true, false, rows, P, og, w.AsSpan(g * og * rows, og * rows), rows, dyg, P, ws, P, false);
                        Im2Col.FoldAdd(ws, cg, H, W, Window, OH, OW, dxg);
                    }
                }
        });
        SumPartials(workers, wLen);
        AddBiasGradient(dOutput, N, P);
    }

    /// <summary>Adds the workers' dW partials into Weight.Grad in worker order (the same sum for the same thread count).</summary>
    private void SumPartials(int workers, int wLen)
    {
        Span<float> dWTotal = Weight.Grad.Data;
        for (int t = 0; t < workers; t++)
            System.Numerics.Tensors.TensorPrimitives.Add(dWTotal, _dWPartial[t].AsSpan(0, wLen), dWTotal);
    }

    private void AddBiasGradient(Tensor dOutput, int N, int P)
    {
        float[] dy = dOutput.Data;
        if (Bias is not null)
        {
            float[] db = Bias.Grad.Data;
            for (int n = 0; n < N; n++)
                for (int k = 0; k < OutChannels; k++)
                    db[k] += System.Numerics.Tensors.TensorPrimitives.Sum(dy.AsSpan((n * OutChannels + k) * P, P));
        }
    }

    /// <summary>
    /// Below this many output pixels per image the backward batches images into one GEMM (ResNet's 7x7 and 14x14 maps);
    /// benchmarks set 0 to time the image-by-image backward against it.
    /// </summary>
    internal static int BatchedColumns = 256;

    // Per-worker scratch of the batched backward: im2col of a chunk of images side by side, dY of the chunk, one image's col.
    private float[][] _chunkCols = [], _chunkDy = [];

    /// <summary>
    /// The backward for small maps: a per-image product has only P = OH*OW columns (49 at 7x7), so K of the dW product and
    /// N of the dX product are tiny and the GEMM spends its time on C. Images are taken S at a time with their columns side
    /// by side, col_S [rows, S*P] and dY_S [og, S*P]: dW_g += dY_S col_S^T and dcol_S = W_g^T dY_S (eq. 13-14) are then
    /// products of depth and width S*P; dcol_S is folded back image by image. Workers take whole chunks.
    /// </summary>
    private void BackwardBatched(Tensor x, Tensor? dX, Tensor dOutput, Tensor output)
    {
        int N = x.N, C = x.C, H = x.H, W = x.W, OH = output.H, OW = output.W, P = OH * OW;
        int cg = GroupIn, og = GroupOut, rows = ColRows, wLen = Weight.Value.Length;
        float[] w = Weight.Value.Data, xd = x.Data, dy = dOutput.Data;
        int threads = Parallelism.Threads;
        // Chunks of about BatchedColumns columns, a multiple of the thread count so workers get equal shares.
        int chunks = Math.Min(N, Math.Max(1, (N * P + BatchedColumns - 1) / BatchedColumns));
        chunks = Math.Min(N, (chunks + threads - 1) / threads * threads);
        int maxImages = (N + chunks - 1) / chunks;
        int workers = Parallelism.WorkerCount(chunks, 1);
        _ = Workspace(ref _cols, threads - 1, 0);
        _ = Workspace(ref _dWPartial, threads - 1, 0);
        _ = Workspace(ref _chunkCols, threads - 1, 0);
        _ = Workspace(ref _chunkDy, threads - 1, 0);
        for (int t = 0; t < workers; t++) Workspace(ref _dWPartial, t, wLen).Clear();
        Parallelism.For(chunks, 1, (c0, c1, worker) =>
        {
            Span<float> dW = Workspace(ref _dWPartial, worker, wLen);
            Span<float> one = Workspace(ref _cols, worker, rows * P);
            Span<float> cols = Workspace(ref _chunkCols, worker, rows * maxImages * P);
            Span<float> dyS = Workspace(ref _chunkDy, worker, og * maxImages * P);
            for (int chunk = c0; chunk < c1; chunk++)
            {
                int n0 = (int)((long)N * chunk / chunks), n1 = (int)((long)N * (chunk + 1) / chunks), S = n1 - n0, SP = S * P;
                for (int g = 0; g < Groups; g++)
                {
                    for (int s = 0; s < S; s++)
                    {
                        int n = n0 + s;
                        ReadOnlySpan<float> xg = xd.AsSpan((n * C + g * cg) * H * W, cg * H * W);
                        ReadOnlySpan<float> col = xg;
                        if (!Pointwise)
                        {
                            Im2Col.Unfold(xg, cg, H, W, Window, OH, OW, one);
                            col = one;
                        }
                        for (int r = 0; r < rows; r++) col.Slice(r * P, P).CopyTo(cols.Slice(r * SP + s * P, P));
                        for (int o = 0; o < og; o++)
                            dy.AsSpan((n * OutChannels + g * og + o) * P, P).CopyTo(dyS.Slice(o * SP + s * P, P));
                    }
                    // dW_g [og, rows] += dY_S [og, SP] * col_S^T [SP, rows]   (eq. 13)
                    Gemm.Multiply(false, true, og, rows, SP, dyS, SP, cols, SP, dW.Slice(g * og * rows, og * rows), rows, true);
                    if (dX is null) continue;
                    // dcol_S [rows, SP] = W_g^T [rows, og] * dY_S [og, SP], then each image's columns folded into dX (eq. 14)
                    Gemm.Multiply(true, false, rows, SP, og, w.AsSpan(g * og * rows, og * rows), rows, dyS, SP, cols, SP, false);
                    for (int s = 0; s < S; s++)
                    {
                        Span<float> dxg = dX.Data.AsSpan(((n0 + s) * C + g * cg) * H * W, cg * H * W);
                        if (Pointwise)
                        {
                            for (int r = 0; r < rows; r++)
                                System.Numerics.Tensors.TensorPrimitives.Add(dxg.Slice(r * P, P), cols.Slice(r * SP + s * P, P), dxg.Slice(r * P, P));
                            continue;
                        }
                        for (int r = 0; r < rows; r++) cols.Slice(r * SP + s * P, P).CopyTo(one.Slice(r * P, P));
                        Im2Col.FoldAdd(one, cg, H, W, Window, OH, OW, dxg);
                    }
                }
            }
        });
        SumPartials(workers, wLen);
        AddBiasGradient(dOutput, N, P);
    }
}
