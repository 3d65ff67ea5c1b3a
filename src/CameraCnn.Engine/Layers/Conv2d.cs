// Conv2d: 2-D convolution (lecture eq. 2 and 6) as im2col + GEMM, with stride, asymmetric zero padding,
// dilation and groups; backward is two GEMMs over the whole batch and col2im (eq. 13-14). 1x1 stride-1 convs skip
// im2col in the forward.
// The forward runs Kernels/Convolution (im2col packed straight into GEMM panels, bias in the GEMM epilogue); the
// training backward is in Conv2d.Backward.cs.
using CameraCnn.Engine.Kernels;

namespace CameraCnn.Engine.Layers;

/// <summary>
/// Z_k = sum_j W_{j,k} * I_j + B_k (eq. 6), as cross-correlation like every CNN framework (eq. 2).
/// Weights are [OC, C/groups, KH, KW], bias [OC]. Input [N, C, H, W] -> output [N, OC, OH, OW].
/// </summary>
public sealed partial class Conv2d : Layer
{
    public int InChannels { get; }
    public int OutChannels { get; }
    public int Groups { get; }
    public Window2d Window { get; }
    public Parameter Weight { get; }
    public Parameter? Bias { get; }

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
