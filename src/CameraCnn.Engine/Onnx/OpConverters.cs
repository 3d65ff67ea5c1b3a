// OpConverters: the op-table entries that need more than one line: attribute defaults as in the ONNX spec,
// constant inputs turned into layer parameters, and refusals for what our layers do not compute exactly.
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Layers;
using static CameraCnn.Engine.Onnx.OnnxImporter;

namespace CameraCnn.Engine.Onnx;

internal static class OpConverters
{
    /// <summary>Reads kernel_shape/strides/pads/dilations/auto_pad of a 2-D window op.</summary>
    private static Window2d Window(OpContext op, long[]? kernelFromWeights, bool allowDilation = true)
    {
        long[] kernel = op.Ints("kernel_shape") ?? kernelFromWeights ?? throw op.Unsupported("without kernel_shape");
        if (kernel.Length != 2) throw op.Unsupported($"kernel_shape={OpContext.Format(kernel)} (2-D only)");
        if (kernelFromWeights is not null && !kernel.SequenceEqual(kernelFromWeights))
            throw new InvalidDataException($"node '{op.Name}': kernel_shape {OpContext.Format(kernel)} does not match the weights");
        long[] strides = op.Ints("strides") ?? [1, 1];
        long[] dilations = op.Ints("dilations") ?? [1, 1];
        string autoPad = op.String("auto_pad", "NOTSET");
        long[] pads = op.Ints("pads") ?? [0, 0, 0, 0];
        if (autoPad is not ("NOTSET" or "VALID")) throw op.Unsupported($"auto_pad={autoPad}");
        if (autoPad == "VALID") pads = [0, 0, 0, 0];
        if (strides.Length != 2 || dilations.Length != 2 || pads.Length != 4)
            throw op.Unsupported($"strides={OpContext.Format(strides)} dilations={OpContext.Format(dilations)} pads={OpContext.Format(pads)}");
        if (!allowDilation && (dilations[0] != 1 || dilations[1] != 1)) throw op.Unsupported($"dilations={OpContext.Format(dilations)}");
        foreach (long v in kernel.Concat(strides).Concat(dilations).Concat(pads))
            if (v < 0 || v > 1 << 16) throw new InvalidDataException($"node '{op.Name}': window value {v} out of range");
        var w = new Window2d((int)kernel[0], (int)kernel[1], (int)strides[0], (int)strides[1],
            (int)pads[0], (int)pads[1], (int)pads[2], (int)pads[3], (int)dilations[0], (int)dilations[1]);
        try { w.Validate($"node '{op.Name}'"); }
        catch (ShapeException e) { throw new InvalidDataException(e.Message); }
        return w;
    }

    public static Imported Conv(OpContext op)
    {
        Tensor w = op.Constant(1, "weights");
        if (w.Rank != 4) throw op.Unsupported($"with {w.Rank - 2}-D kernels (2-D only)");
        long group = op.Int("group", 1);
        if (group <= 0 || group > w.Shape[0]) throw new InvalidDataException($"node '{op.Name}': group={group}");
        var window = Window(op, [w.Shape[2], w.Shape[3]]);
        bool hasBias = op.HasInput(2);
        int oc = w.Shape[0], ic = w.Shape[1] * (int)group;
        Conv2d conv;
        try { conv = new Conv2d(ic, oc, window, (int)group, hasBias); }
        catch (ShapeException e) { throw new InvalidDataException($"node '{op.Name}': {e.Message}"); }
        w.Data.CopyTo(conv.Weight.Value.Data, 0);
        if (hasBias) CopyVector(op, op.Constant(2, "bias"), conv.Bias!.Value, "bias");
        return new(conv, [0]);
    }

    public static Imported Gemm(OpContext op)
    {
        if (op.Int("transA", 0) != 0) throw op.Unsupported("transA=1");
        float alpha = op.Float("alpha", 1f), beta = op.Float("beta", 1f);
        bool transB = op.Int("transB", 0) != 0;
        Tensor b = op.Constant(1, "weights");
        if (b.Rank != 2) throw new InvalidDataException($"node '{op.Name}': Gemm weights must be 2-D, got {b.ShapeString}");
        int outF = transB ? b.Shape[0] : b.Shape[1], inF = transB ? b.Shape[1] : b.Shape[0];
        Dense dense;
        try { dense = new Dense(inF, outF, bias: op.HasInput(2)); }
        catch (ShapeException e) { throw new InvalidDataException($"node '{op.Name}': {e.Message}"); }
        float[] dst = dense.Weight.Value.Data;
        for (int o = 0; o < outF; o++)
            for (int i = 0; i < inF; i++)
                dst[o * inF + i] = alpha * (transB ? b.Data[o * inF + i] : b.Data[i * outF + o]);
        if (op.HasInput(2))
        {
            Tensor c = op.Constant(2, "bias");
            if (c.Length == 1) dense.Bias!.Value.Data.AsSpan().Fill(beta * c.Data[0]);
            else if (c.Length == outF && (c.Rank == 1 || c.Rank == 2 && c.Shape[0] == 1))
                for (int o = 0; o < outF; o++) dense.Bias!.Value.Data[o] = beta * c.Data[o];
            else throw op.Unsupported($"bias of shape {c.ShapeString} (per-output bias only)");
        }
        return new(dense, [0]);
    }

    public static Imported BatchNormalization(OpContext op)
    {
        if (op.Int("spatial", 1) != 1) throw op.Unsupported("spatial=0");
        if (op.Int("training_mode", 0) != 0) throw op.Unsupported("training_mode=1");
        op.Ignore("is_test"); // opset < 7: inference either way for an imported model
        op.Ignore("consumed_inputs");
        Tensor scale = op.Constant(1, "scale");
        BatchNorm2d bn;
        try { bn = new BatchNorm2d(scale.Length, op.Float("epsilon", 1e-5f), op.Float("momentum", 0.9f)); }
        catch (ShapeException e) { throw new InvalidDataException($"node '{op.Name}': {e.Message}"); }
        CopyVector(op, scale, bn.Scale.Value, "scale");
        CopyVector(op, op.Constant(2, "bias"), bn.Shift.Value, "bias");
        CopyVector(op, op.Constant(3, "mean"), bn.RunningMean.Value, "mean");
        CopyVector(op, op.Constant(4, "var"), bn.RunningVar.Value, "var");
        return new(bn, [0]);
    }

    public static Imported MaxPool(OpContext op)
    {
        if (op.Int("storage_order", 0) != 0) throw op.Unsupported("storage_order=1");
        var w = Window(op, null);
        return new(new MaxPool2d(w, op.Int("ceil_mode", 0) != 0), [0]);
    }

    public static Imported AveragePool(OpContext op)
    {
        var w = Window(op, null, allowDilation: false);
        return new(new AvgPool2d(w, op.Int("ceil_mode", 0) != 0, op.Int("count_include_pad", 0) != 0), [0]);
    }

    public static Imported Flatten(OpContext op)
    {
        long axis = op.Int("axis", 1);
        if (axis != 1) throw op.Unsupported($"axis={axis} (axis 1 only)");
        return new(new Flatten(), [0]);
    }

    public static Imported Dropout(OpContext op)
    {
        op.Ignore("is_test");
        op.Ignore("seed");
        float ratio = op.Float("ratio", 0.5f);
        if (op.HasInput(1)) ratio = Scalar(op, op.Constant(1, "ratio"), "ratio");
        if (op.HasInput(2) && (!op.IsConstant(2) || Scalar(op, op.Constant(2, "training_mode"), "training_mode") != 0))
            throw op.Unsupported("training_mode=true");
        if (!(ratio >= 0 && ratio < 1)) throw new InvalidDataException($"node '{op.Name}': dropout ratio {ratio}");
        return new(new Layers.Dropout(ratio), [0]);
    }

    public static Imported Add(OpContext op)
    {
        if (op.InputCount != 2) throw new InvalidDataException($"node '{op.Name}': Add needs 2 inputs");
        return new(new ResidualAdd(), [0, 1]);
    }

    public static Imported Softmax(OpContext op)
    {
        long axis = op.Int("axis", op.Opset >= 13 ? -1 : 1);
        if (axis is not (1 or -1)) throw op.Unsupported($"axis={axis}");
        return new(new Layers.Softmax(), [0]);
    }

    private static float Scalar(OpContext op, Tensor t, string role) => t.Length == 1 ? t.Data[0]
        : throw new InvalidDataException($"node '{op.Name}': {role} has {t.Length} values, expected 1");

    private static void CopyVector(OpContext op, Tensor src, Tensor dst, string role)
    {
        if (src.Length != dst.Length)
            throw new InvalidDataException($"node '{op.Name}': {role} has {src.Length} values, expected {dst.Length}");
        src.Data.CopyTo(dst.Data, 0);
    }
}
