// FusedConv2d: an inference-only convolution built by InferenceFusion: weights with the following batch norm folded
// in and pre-packed once into GEMM panels (or transformed for Winograd), bias, an optional residual input and ReLU
// applied in the GEMM epilogue (or the Winograd output transform). It has no backward and no parameters; train the
// source graph and fuse again.
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Layers;

namespace CameraCnn.Engine.Optimization;

/// <summary>
/// y = relu?(conv(x, W') + b' (+ residual)), with W' = a * W and b' = a * b + (shift - a * mean) per output channel
/// when a batch norm was folded (a = scale / sqrt(var + eps)). Inputs: x [N, C, H, W] and, when
/// <see cref="HasResidual"/>, residual [N, OC, OH, OW].
/// </summary>
public sealed partial class FusedConv2d : Layer
{
    private readonly float[] _weights; // [OC, C/G, KH, KW], kept unpacked so another GEMM path can repack
    private readonly float[] _bias;    // [OC]
    private readonly PackedMatrix[] _packed; // W as A panels for the GEMM, packed on its first forward (per path)
    private GemmPath? _packedPath;
    private PackedPanels[]? _packedT; // W^T as B panels, for the transposed form (packed on first use)

    public int InChannels { get; }
    public int OutChannels { get; }
    public int Groups { get; }
    public Window2d Window { get; }
    /// <summary>True when a batch norm was folded into the weights and bias.</summary>
    public bool FoldedBatchNorm { get; }
    /// <summary>True when a residual Add was fused: the second input is added before the ReLU.</summary>
    public bool HasResidual { get; }
    public bool Relu { get; }
    /// <summary>
    /// How the convolution is computed: "gemm" (im2col + packed GEMM), "winograd" (F(4x4, 3x3) or F(2x2, 3x3), for
    /// 3x3 stride-1 convs where <see cref="WinogradConvolution.Choose"/> says it is faster: it depends on the channels
    /// and the output size, not on the thread count) or "direct" (<see cref="DirectConvolution"/>: column-stride-2
    /// windows larger than 1x1 on AVX-512). It reports what the last forward ran; before the first, what a forward at
    /// the input shape known at fusion time (batch 1) will run.
    /// </summary>
    public string Algorithm => WinogradTile > 0 ? "winograd" : _directRuns ? "direct" : "gemm";

    /// <summary>The Winograd output tile side m of <see cref="Algorithm"/> (4 or 2), 0 for the GEMM.</summary>
    internal int WinogradTile { get; private set; }

    /// <summary>True when this conv may run as Winograd (a 3x3 stride-1 conv, and the fusion allowed it).</summary>
    private readonly bool _winogradAllowed;
    private WinogradConvolution? _winograd; // transformed at fusion when the expected shape chooses it, else on first use
    /// <summary>True when this conv may run the direct kernel (a column-stride-2 window, and the fusion allowed it).</summary>
    private readonly bool _directAllowed;
    private DirectConvolution? _direct; // packed at fusion when the active path chooses it, else on first use
    private bool _directRuns;

    internal FusedConv2d(Conv2d conv, BatchNorm2d? bn, bool residual, bool relu, bool winograd = false, int[]? inputShape = null,
        bool direct = false)
    {
        InChannels = conv.InChannels;
        OutChannels = conv.OutChannels;
        Groups = conv.Groups;
        Window = conv.Window;
        FoldedBatchNorm = bn is not null;
        HasResidual = residual;
        Relu = relu;
        _weights = (float[])conv.Weight.Value.Data.Clone();
        _bias = conv.Bias is null ? new float[OutChannels] : (float[])conv.Bias.Value.Data.Clone();
        if (bn is not null)
        {
            int perChannel = _weights.Length / OutChannels;
            for (int c = 0; c < OutChannels; c++)
            {
                // The same float arithmetic as BatchNorm2d's inference forward: y = x * a + b.
                float invStd = 1f / MathF.Sqrt(bn.RunningVar.Value.Data[c] + bn.Epsilon);
                float a = bn.Scale.Value.Data[c] * invStd, b = bn.Shift.Value.Data[c] - bn.RunningMean.Value.Data[c] * a;
                foreach (ref float w in _weights.AsSpan(c * perChannel, perChannel)) w *= a;
                _bias[c] = _bias[c] * a + b;
            }
        }
        _packed = Conv2d.NewPacks(Groups);
        _winogradAllowed = winograd && Groups == 1 && WinogradConvolution.Supports(Window);
        _directAllowed = direct && Groups == 1 && DirectConvolution.Supports(Window);
        // The weights are packed (or Winograd-transformed) now, for the shape the fusion expects: a Winograd or
        // direct conv needs no GEMM panels, and another shape or path packs what it needs on its first forward.
        if (inputShape is { Length: 4 } && WinogradTileFor(inputShape[2], inputShape[3]) is > 0 and var tile)
        {
            _winograd = new WinogradConvolution(_weights, OutChannels, InChannels, tile);
            _winograd.Prepare(Gemm.ActivePath, 1, Window.OutH(inputShape[2]), Window.OutW(inputShape[3]));
            WinogradTile = tile;
        }
        else if (DirectFor(Gemm.ActivePath))
        {
            _direct = new DirectConvolution(_weights, _bias, OutChannels, InChannels, Window);
            _directRuns = true;
        }
        else Pack(Gemm.ActivePath);
    }

    private bool DirectFor(GemmPath path) => _directAllowed && DirectConvolution.Choose(Window, Groups, path);

    private int WinogradTileFor(int h, int w)
        => _winogradAllowed ? WinogradConvolution.Choose(InChannels, OutChannels, Window.OutH(h), Window.OutW(w)) : 0;

    private int ColRows => InChannels / Groups * Window.KH * Window.KW;

    private void Pack(GemmPath path)
    {
        Conv2d.PackWeights(_weights, _packed, OutChannels / Groups, ColRows, path);
        _packedPath = path;
    }

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs, HasResidual ? 2 : 1);
        var x = ExpectRank(inputs[0], 4);
        if (x[1] != InChannels) throw ShapeError($"expects {InChannels} input channels, got {Tensor.Format(x)}");
        int oh = Window.OutH(x[2]), ow = Window.OutW(x[3]);
        if (oh <= 0 || ow <= 0)
            throw ShapeError($"kernel {Window.ExtentH}x{Window.ExtentW} does not fit input {Tensor.Format(x)} with its padding");
        int[] y = [x[0], OutChannels, oh, ow];
        if (HasResidual && !Tensor.SameShape(inputs[1], y))
            throw ShapeError($"residual {Tensor.Format(inputs[1])} does not match the output {Tensor.Format(y)}");
        return y;
    }

    public override long MultiplyAdds(IReadOnlyList<int[]> inputs)
    {
        var o = OutputShape(inputs);
        return (long)o[0] * OutChannels * o[2] * o[3] * ColRows;
    }

    public override unsafe void Forward(IReadOnlyList<Tensor> inputs, Tensor output)
    {
        Tensor x = inputs[0];
        GemmPath path = Gemm.ActivePath;
        WinogradTile = WinogradTileFor(x.H, x.W);
        if (WinogradTile > 0)
        {
            if (_winograd?.TileSize != WinogradTile) _winograd = new WinogradConvolution(_weights, OutChannels, InChannels, WinogradTile);
            fixed (float* px = x.Data, py = output.Data, pb = _bias, pr = HasResidual ? inputs[1].Data : null)
            {
                var wa = new WinogradConvolution.Args
                {
                    X = px, Y = py, Bias = pb, Residual = pr, Relu = Relu, N = x.N, H = x.H, W = x.W,
                    OH = output.H, OW = output.W, PadTop = Window.PadTop, PadLeft = Window.PadLeft, Path = path,
                };
                _winograd.Forward(wa);
            }
            return;
        }
        _directRuns = DirectFor(path);
        if (_directRuns)
        {
            _direct ??= new DirectConvolution(_weights, _bias, OutChannels, InChannels, Window);
            fixed (float* px = x.Data, py = output.Data, pr = HasResidual ? inputs[1].Data : null)
            {
                var da = new DirectConvolution.Args
                {
                    X = px, Y = py, Residual = pr, Relu = Relu, N = x.N, H = x.H, W = x.W, OH = output.H, OW = output.W,
                };
                _direct.Forward(da);
            }
            return;
        }
        if (_packedPath != path) Pack(path); // the first GEMM forward, or a test forced another micro-kernel
        int P = output.H * output.W, og = OutChannels / Groups;
        PackedPanels[]? wt = null;
        if (Convolution.PreferTransposed(P, og, path))
        {
            if (_packedT is null || _packedT[0].Path != path)
            {
                _packedT ??= Enumerable.Range(0, Groups).Select(_ => new PackedPanels()).ToArray();
                for (int g = 0; g < Groups; g++)
                    _packedT[g].Pack(_weights.AsSpan(g * og * ColRows, og * ColRows), ColRows, og, ColRows, true, path);
            }
            wt = _packedT;
        }
        fixed (float* px = x.Data, py = output.Data, pb = _bias, pr = HasResidual ? inputs[1].Data : null)
        {
            var args = new Convolution.Args
            {
                X = px, Y = py, Bias = pb, Residual = pr, Relu = Relu, N = x.N, C = x.C, H = x.H, W = x.W,
                OC = OutChannels, OH = output.H, OW = output.W, Groups = Groups, Window = Window,
                Weights = _packed, WeightsT = wt, Path = path,
            };
            Convolution.Forward(args);
        }
    }

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
        => throw new NotSupportedException($"{this} is inference-only (InferenceFusion); train the unfused graph");
}

/// <summary>
/// A node fused into an earlier one: its value is its input's tensor, shared, not copied (the graph binds it
/// instead of running anything). Keeps the node's name as a tap in a fused graph.
/// </summary>
public sealed class OutputAlias : Layer
{
    internal OutputAlias() { }

    /// <summary>What the node computed before it was fused ("BatchNorm2d", "ReLU", ...), for listings.</summary>
    public string FusedKind { get; internal init; } = "";

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs, 1);
        return (int[])inputs[0].Clone();
    }

    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output)
    {
        // Graph binds the alias without calling this; run standalone it is the identity.
        if (!ReferenceEquals(inputs[0], output)) inputs[0].Data.AsSpan().CopyTo(output.Data);
    }

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
        => throw new NotSupportedException($"{this} is inference-only (InferenceFusion); train the unfused graph");
}
