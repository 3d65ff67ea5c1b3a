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
        => Backward(inputs, output, dOutput, dInputs, parameters: true);

    /// <summary>dX only: no im2col of x, no dW GEMM, no bias sums (half the work of a training backward).</summary>
    public override void BackwardInputs(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        if (dInputs[0] is not null) Backward(inputs, output, dOutput, dInputs, parameters: false);
    }

    private void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs, bool parameters)
    {
        Tensor x = inputs[0];
        Tensor? dX = dInputs[0];
        int N = x.N, C = x.C, H = x.H, W = x.W, OH = output.H, OW = output.W, P = OH * OW;
        int cg = GroupIn, og = GroupOut, rows = ColRows, wLen = Weight.Value.Length;
        float[] w = Weight.Value.Data, xd = x.Data, dy = dOutput.Data;
        int workers = Parallelism.WorkerCount(N, 1);
        _ = Workspace(ref _cols, Parallelism.Threads - 1, 0);
        _ = Workspace(ref _dWPartial, Parallelism.Threads - 1, 0);
        if (parameters)
            for (int t = 0; t < workers; t++) Workspace(ref _dWPartial, t, wLen).Clear();
        Parallelism.For(N, 1, (n0, n1, worker) =>
        {
            Span<float> dW = parameters ? Workspace(ref _dWPartial, worker, wLen) : default;
            Span<float> ws = Pointwise ? default : Workspace(ref _cols, worker, rows * P);
            for (int n = n0; n < n1; n++)
            {
                if (parameters)
                    for (int g = 0; g < Groups; g++)
                    {
                        ReadOnlySpan<float> xg = xd.AsSpan((n * C + g * cg) * H * W, cg * H * W);
                        ReadOnlySpan<float> col = xg;
                        if (!Pointwise)
                        {
                            Im2Col.Unfold(xg, cg, H, W, Window, OH, OW, ws);
                            col = ws;
                        }
                        // dW_g [og, rows] += dY_g [og, P] * col^T [P, rows]   (eq. 13: H * Delta^T)
                        Gemm.Multiply(false, true, og, rows, P, dy.AsSpan((n * OutChannels + g * og) * P, og * P), P, col, P,
                            dW.Slice(g * og * rows, og * rows), rows, true);
                    }
                if (dX is not null)
                    AddInputGradient(w, Groups, Window, dy.AsSpan(n * OutChannels * P, OutChannels * P), OutChannels, OH, OW,
                        dX.Data.AsSpan(n * C * H * W, C * H * W), C, H, W, ws);
            }
        });
        if (!parameters) return;
        Span<float> dWTotal = Weight.Grad.Data;
        for (int t = 0; t < workers; t++)
            System.Numerics.Tensors.TensorPrimitives.Add(dWTotal, _dWPartial[t].AsSpan(0, wLen), dWTotal);
        if (Bias is not null)
        {
            float[] db = Bias.Grad.Data;
            for (int n = 0; n < N; n++)
                for (int k = 0; k < OutChannels; k++)
                    db[k] += System.Numerics.Tensors.TensorPrimitives.Sum(dy.AsSpan((n * OutChannels + k) * P, P));
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
