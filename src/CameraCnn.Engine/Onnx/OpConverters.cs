// OpConverters: the op-table entries that need more than one line: attribute defaults as in the ONNX spec,
// constant inputs turned into layer parameters, and refusals for what our layers do not compute exactly.
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Layers;
using static CameraCnn.Engine.Onnx.OnnxImporter;

namespace CameraCnn.Engine.Onnx;

internal static class OpConverters
{
    /// <summary>
    /// Reads kernel_shape/strides/pads/dilations/auto_pad of a 1-D or 2-D window op. A 1-D window comes back as the
    /// 2-D window of height 1 that <see cref="Spatial1d"/> runs it with.
    /// </summary>
    private static (Window2d Window, bool OneD) Window(OpContext op, long[]? kernelFromWeights, bool allowDilation = true)
    {
        long[] kernel = op.Ints("kernel_shape") ?? kernelFromWeights ?? throw op.Unsupported("without kernel_shape");
        int dims = kernel.Length;
        if (dims is not (1 or 2)) throw op.Unsupported($"kernel_shape={OpContext.Format(kernel)} (1-D and 2-D only)");
        if (kernelFromWeights is not null && !kernel.SequenceEqual(kernelFromWeights))
            throw new InvalidDataException($"node '{op.Name}': kernel_shape {OpContext.Format(kernel)} does not match the weights");
        long[] strides = op.Ints("strides") ?? Enumerable.Repeat(1L, dims).ToArray();
        long[] dilations = op.Ints("dilations") ?? Enumerable.Repeat(1L, dims).ToArray();
        string autoPad = op.String("auto_pad", "NOTSET");
        long[] pads = op.Ints("pads") ?? new long[2 * dims];
        if (autoPad is not ("NOTSET" or "VALID")) throw op.Unsupported($"auto_pad={autoPad}");
        if (autoPad == "VALID") pads = new long[2 * dims];
        if (strides.Length != dims || dilations.Length != dims || pads.Length != 2 * dims)
            throw op.Unsupported($"strides={OpContext.Format(strides)} dilations={OpContext.Format(dilations)} pads={OpContext.Format(pads)}");
        if (!allowDilation && dilations.Any(d => d != 1)) throw op.Unsupported($"dilations={OpContext.Format(dilations)}");
        foreach (long v in kernel.Concat(strides).Concat(dilations).Concat(pads))
            if (v < 0 || v > 1 << 16) throw new InvalidDataException($"node '{op.Name}': window value {v} out of range");
        if (dims == 1)
        {
            kernel = [1, kernel[0]];
            strides = [1, strides[0]];
            dilations = [1, dilations[0]];
            pads = [0, pads[0], 0, pads[1]];
        }
        var w = new Window2d((int)kernel[0], (int)kernel[1], (int)strides[0], (int)strides[1],
            (int)pads[0], (int)pads[1], (int)pads[2], (int)pads[3], (int)dilations[0], (int)dilations[1]);
        try { w.Validate($"node '{op.Name}'"); }
        catch (ShapeException e) { throw new InvalidDataException(e.Message); }
        return (w, dims == 1);
    }

    /// <summary>The layer itself, or wrapped to run on [N, C, L] when its window is 1-D.</summary>
    private static Layer Lift(Layer layer, bool oneD) => oneD ? new Spatial1d(layer) : layer;

    public static Imported Conv(OpContext op)
    {
        Tensor w = op.Constant(1, "weights");
        if (w.Rank is not (3 or 4)) throw op.Unsupported($"with {w.Rank - 2}-D kernels (1-D and 2-D only)");
        long group = op.Int("group", 1);
        if (group <= 0 || group > w.Shape[0]) throw new InvalidDataException($"node '{op.Name}': group={group}");
        var (window, oneD) = Window(op, w.Shape[2..].Select(d => (long)d).ToArray());
        bool hasBias = op.HasInput(2);
        int oc = w.Shape[0], ic = w.Shape[1] * (int)group;
        Conv2d conv;
        try { conv = new Conv2d(ic, oc, window, (int)group, hasBias); }
        catch (ShapeException e) { throw new InvalidDataException($"node '{op.Name}': {e.Message}"); }
        w.Data.CopyTo(conv.Weight.Value.Data, 0); // [OC, C/g, K] is [OC, C/g, 1, K] in memory
        if (hasBias) CopyVector(op, op.Constant(2, "bias"), conv.Bias!.Value, "bias");
        return new(Lift(conv, oneD), [0]);
    }

    public static Imported Gemm(OpContext op)
    {
        float alpha = op.Float("alpha", 1f), beta = op.Float("beta", 1f);
        bool transA = op.Int("transA", 0) != 0, transB = op.Int("transB", 0) != 0;
        if (op.Opset < 7) op.Ignore("broadcast"); // numpy broadcasting of C gives the same for every shape opset 6 accepted
        if (!op.HasInput(0) || !op.HasInput(1)) throw new InvalidDataException($"node '{op.Name}': Gemm needs A and B");
        if (op.IsConstant(1))
        {
            Tensor b = op.Constant(1, "weights");
            if (b.Rank != 2) throw new InvalidDataException($"node '{op.Name}': Gemm weights must be 2-D, got {b.ShapeString}");
            float[]? bias = op.HasInput(2) ? (op.IsConstant(2) ? DenseBias(op.Constant(2, "bias"), b, transB) : null) : [];
            if (!transA && bias is not null) return GemmAsDense(op, b, bias, alpha, beta, transB);
        }
        // Computed operands, transA, or a C that is not one value per output: the general product.
        return new(new GemmOp(alpha, beta, transA, transB), op.HasInput(2) ? [0, 1, 2] : [0, 1]);
    }

    /// <summary>C as a Dense bias of one value per output (a scalar, [N] or [1, N]), or null when it is anything else.</summary>
    private static float[]? DenseBias(Tensor c, Tensor b, bool transB)
    {
        int outF = transB ? b.Shape[0] : b.Shape[1];
        if (c.Length == 1) return Enumerable.Repeat(c.Data[0], outF).ToArray();
        if (c.Length == outF && (c.Rank == 1 || c.Rank == 2 && c.Shape[0] == 1)) return c.Data;
        return null;
    }

    /// <summary>Gemm with constant weights and a per-output bias: a Dense layer holding alpha * op(B) and beta * C.</summary>
    private static Imported GemmAsDense(OpContext op, Tensor b, float[] bias, float alpha, float beta, bool transB)
    {
        int outF = transB ? b.Shape[0] : b.Shape[1], inF = transB ? b.Shape[1] : b.Shape[0];
        Dense dense;
        try { dense = new Dense(inF, outF, bias: bias.Length > 0); }
        catch (ShapeException e) { throw new InvalidDataException($"node '{op.Name}': {e.Message}"); }
        float[] dst = dense.Weight.Value.Data;
        for (int o = 0; o < outF; o++)
            for (int i = 0; i < inF; i++)
                dst[o * inF + i] = alpha * (transB ? b.Data[o * inF + i] : b.Data[i * outF + o]);
        for (int o = 0; o < bias.Length; o++) dense.Bias!.Value.Data[o] = beta * bias[o];
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
        var (w, oneD) = Window(op, null);
        return new(Lift(new MaxPool2d(w, op.Int("ceil_mode", 0) != 0), oneD), [0]);
    }

    public static Imported AveragePool(OpContext op)
    {
        var (w, oneD) = Window(op, null, allowDilation: false);
        return new(Lift(new AvgPool2d(w, op.Int("ceil_mode", 0) != 0, op.Int("count_include_pad", 0) != 0), oneD), [0]);
    }

    public static Imported Flatten(OpContext op) => new(new Flatten(SmallInt(op, "axis", op.Int("axis", 1))), [0]);

    public static Imported Dropout(OpContext op)
    {
        op.Ignore("is_test");
        op.Ignore("seed");
        float ratio = op.Opset < 12 ? op.Float("ratio", 0.5f) : 0.5f;
        if (op.HasInput(1)) ratio = op.ConstantScalar(1, "ratio");
        if (!(ratio >= 0 && ratio < 1)) throw new InvalidDataException($"node '{op.Name}': dropout ratio {ratio}");
        // Training-mode dropout draws a random mask we cannot reproduce, except at ratio 0 where it is the identity.
        if (op.HasInput(2) && (!op.IsConstant(2) || op.ConstantScalar(2, "training_mode") != 0) && ratio != 0)
            throw op.Unsupported("training_mode=true");
        return new(new Layers.Dropout(ratio), [0]);
    }

    /// <summary>Opsets before 7 broadcast with 'broadcast' and 'axis' attributes instead of numpy rules.</summary>
    private static void LegacyBroadcast(OpContext op)
    {
        if (op.Opset >= 7) return;
        // broadcast=0 demands equal shapes and broadcast=1 without an axis aligns B with A's trailing axes: numpy rules
        // give the same result for both. An explicit axis aligns B elsewhere, which numpy rules cannot express.
        op.Ignore("broadcast");
        if (op.Attribute("axis") is { } axis) throw op.Unsupported($"legacy broadcast axis={axis.I}");
    }

    public static Imported Add(OpContext op)
    {
        LegacyBroadcast(op);
        if (op.InputCount != 2) throw new InvalidDataException($"node '{op.Name}': Add needs 2 inputs");
        return new(new ResidualAdd(), [0, 1]);
    }

    /// <summary>Sub, Mul, Div: two inputs, numpy broadcasting.</summary>
    public static OpFactory Binary(ElementwiseOp kind) => op =>
    {
        LegacyBroadcast(op);
        if (op.InputCount != 2) throw new InvalidDataException($"node '{op.Name}': {op.OpType} needs 2 inputs");
        return new(new Elementwise(kind), [0, 1]);
    };

    /// <summary>Sum, Max, Min: one or more inputs folded left to right.</summary>
    public static OpFactory Variadic(ElementwiseOp kind) => op =>
    {
        if (op.InputCount == 0) throw new InvalidDataException($"node '{op.Name}': {op.OpType} needs at least 1 input");
        return new(new Elementwise(kind), Enumerable.Range(0, op.InputCount).ToArray());
    };

    public static Imported Clip(OpContext op)
    {
        float min, max;
        if (op.Opset < 11)
        {
            // Before opset 11 the bounds are attributes whose defaults are the float range, not infinity.
            min = op.Float("min", float.MinValue);
            max = op.Float("max", float.MaxValue);
        }
        else
        {
            min = op.HasInput(1) ? op.ConstantScalar(1, "min") : float.NegativeInfinity;
            max = op.HasInput(2) ? op.ConstantScalar(2, "max") : float.PositiveInfinity;
        }
        if (float.IsNaN(min) || float.IsNaN(max)) throw op.Unsupported($"bounds min={min} max={max}");
        return new(new Layers.Clip(min, max), [0]);
    }

    public static Imported Softmax(OpContext op)
    {
        // Before opset 13 the default axis is 1 and the input is coerced to 2-D at the axis; from 13 on it is one axis.
        int axis = SmallInt(op, "axis", op.Int("axis", op.Opset >= 13 ? -1 : 1));
        return new(new Layers.Softmax(axis, coerce2d: op.Opset < 13 && axis != -1), [0]);
    }

    public static Imported Reshape(OpContext op)
    {
        long[] shape = op.Opset < 5 ? op.Ints("shape") ?? throw new InvalidDataException($"node '{op.Name}': Reshape without a shape")
            : op.ConstantInts(1, "shape");
        return new(new Layers.Reshape(shape, op.Int("allowzero", 0) != 0), [0]);
    }

    /// <summary>Axes of Squeeze/Unsqueeze: an attribute before opset 13, a constant input from 13 on.</summary>
    private static long[]? Axes(OpContext op) =>
        op.Opset < 13 ? op.Ints("axes") : op.HasInput(1) ? op.ConstantInts(1, "axes") : null;

    public static Imported Squeeze(OpContext op) => new(new Layers.Squeeze(Axes(op)), [0]);

    public static Imported Unsqueeze(OpContext op) =>
        new(new Layers.Unsqueeze(Axes(op) ?? throw new InvalidDataException($"node '{op.Name}': Unsqueeze without axes")), [0]);

    public static Imported Transpose(OpContext op)
    {
        long[]? perm = op.Ints("perm");
        if (perm is not null && !perm.Order().SequenceEqual(Enumerable.Range(0, perm.Length).Select(i => (long)i)))
            throw new InvalidDataException($"node '{op.Name}': perm={OpContext.Format(perm)} is not a permutation");
        return new(new Layers.Transpose(perm?.Select(p => (int)p).ToArray()), [0]);
    }

    public static Imported Concat(OpContext op)
    {
        if (op.InputCount == 0) throw new InvalidDataException($"node '{op.Name}': Concat needs at least 1 input");
        long axis = op.Attribute("axis") is { } a ? a.I
            : op.Opset < 4 ? 1 : throw new InvalidDataException($"node '{op.Name}': Concat without an axis");
        return new(new Layers.Concat(axis), Enumerable.Range(0, op.InputCount).ToArray());
    }

    /// <summary>Split: one <see cref="SplitPart"/> per output; sizes from the 'split' attribute (before 13) or input.</summary>
    public static Imported Split(OpContext op)
    {
        long axis = op.Int("axis", 0);
        long[]? sizes = op.Opset < 13 ? op.Ints("split") : op.HasInput(1) ? op.ConstantInts(1, "split") : null;
        int count = op.Node.Output.Count;
        if (count == 0) throw new InvalidDataException($"node '{op.Name}' has no output");
        if (sizes is not null && (sizes.Length != count || sizes.Any(v => v < 0 || v > Tensor.MaxElements)))
            throw new InvalidDataException($"node '{op.Name}': split={OpContext.Format(sizes)} for {count} outputs");
        var parts = Enumerable.Range(0, count).Select(k => (Layer)new SplitPart(axis, k, count, sizes)).ToArray();
        return new(null, [0], parts);
    }

    public static Imported Pad(OpContext op)
    {
        string modeName = op.String("mode", "constant");
        PadMode mode = modeName switch
        {
            "constant" => PadMode.Constant,
            "reflect" => PadMode.Reflect,
            "edge" => PadMode.Edge,
            _ => throw op.Unsupported($"mode={modeName}"),
        };
        long[] pads;
        float value = 0f;
        if (op.Opset < 11)
        {
            pads = op.Ints("pads") ?? throw new InvalidDataException($"node '{op.Name}': Pad without pads");
            value = op.Float("value", 0f);
        }
        else
        {
            pads = op.ConstantInts(1, "pads");
            if (op.HasInput(2)) value = op.ConstantScalar(2, "constant_value");
            if (op.HasInput(3)) throw op.Unsupported("with an axes input");
        }
        if (pads.Length % 2 != 0 || pads.Any(p => Math.Abs(p) > Tensor.MaxElements))
            throw new InvalidDataException($"node '{op.Name}': pads={OpContext.Format(pads)}");
        return new(new Layers.Pad(pads, mode, value), [0]);
    }

    /// <summary>An axis-like attribute value that fits an int (any real axis does); the layer checks it against the rank.</summary>
    private static int SmallInt(OpContext op, string attr, long value) => Math.Abs(value) <= 1 << 16 ? (int)value
        : throw new InvalidDataException($"node '{op.Name}': {attr}={value}");

    private static void CopyVector(OpContext op, Tensor src, Tensor dst, string role)
    {
        if (src.Length != dst.Length)
            throw new InvalidDataException($"node '{op.Name}': {role} has {src.Length} values, expected {dst.Length}");
        src.Data.CopyTo(dst.Data, 0);
    }
}
