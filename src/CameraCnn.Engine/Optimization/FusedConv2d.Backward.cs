// FusedConv2d.Backward: the input gradients of the fused inference conv, so gradients with respect to activations
// (Grad-CAM in the live window) can cross the fused graph: dX through the folded weights, the ReLU mask read from the
// output, the residual input's gradient. No weight gradients: Backward (training) still refuses; train the source graph.
using System.Numerics.Tensors;
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Layers;

namespace CameraCnn.Engine.Optimization;

public sealed partial class FusedConv2d
{
    private float[] _dZ = [];   // the error at the pre-ReLU sum z, [N, OC, OH, OW]
    private float[] _dCol = []; // dcol [rows, P] of one group (col2im workspace)
    private PackedMatrix[]? _packedWT; // each group's W^T [rows, og] as GEMM A panels, packed on the first backward

    /// <summary>
    /// With z = conv(x, W') + b' (+ residual) and y = relu?(z): dZ = dY where y &gt; 0 (all of dY without the ReLU; y &gt; 0
    /// exactly where z &gt; 0), dResidual += dZ, dX += W'^T dZ folded back onto the pixels (col2im, the lecture's eq. 14).
    /// Reads the folded weights, whatever algorithm the forward runs; W'^T is packed once (per GEMM path) on the first
    /// call. Allocates only then and when a shape grows; not thread-safe (one graph, one thread, like the forward).
    /// </summary>
    public override void BackwardInputs(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        Tensor? dX = dInputs[0], dResidual = HasResidual ? dInputs[1] : null;
        if (dX is null && dResidual is null) return;
        ReadOnlySpan<float> dZ = dOutput.Data;
        if (Relu)
        {
            if (_dZ.Length < output.Length) _dZ = new float[output.Length];
            Span<float> masked = _dZ.AsSpan(0, output.Length);
            masked.Clear();
            TrainingMath.AddWherePositive(output.Data, dOutput.Data, masked);
            dZ = masked;
        }
        if (dResidual is not null) TensorPrimitives.Add(dResidual.Data, dZ, dResidual.Data);
        if (dX is null) return;
        Tensor x = inputs[0];
        int OH = output.H, OW = output.W, xLength = x.C * x.H * x.W, yLength = OutChannels * OH * OW;
        if (!Window.IsPointwise && _dCol.Length < ColRows * OH * OW) _dCol = new float[ColRows * OH * OW];
        GemmPath path = Gemm.ActivePath;
        if (_packedWT is null || _packedWT[0].Path != path)
        {
            _packedWT ??= Conv2d.NewPacks(Groups);
            int og = OutChannels / Groups;
            for (int g = 0; g < Groups; g++)
                _packedWT[g].Pack(_weights.AsSpan(g * og * ColRows, og * ColRows), ColRows, og, ColRows, true, path);
        }
        for (int n = 0; n < x.N; n++)
            Conv2d.AddInputGradient(_weights, Groups, Window, dZ.Slice(n * yLength, yLength), OutChannels, OH, OW,
                dX.Data.AsSpan(n * xLength, xLength), x.C, x.H, x.W, _dCol, _packedWT);
    }
}
