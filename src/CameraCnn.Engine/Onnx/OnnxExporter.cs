// OnnxExporter: writes a Model as an ONNX file (opset 13) that ONNX Runtime, Netron and our importer read. Every layer
// the importer makes can be written back, except the few forms opset 13 cannot express (named in the refusal).
using CameraCnn.Engine.IO;
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Onnx.Proto;
using Google.Protobuf;

namespace CameraCnn.Engine.Onnx;

/// <summary>Graph -> ONNX. Node outputs are named after our nodes, initialisers "node.param".</summary>
public static class OnnxExporter
{
    public const int Opset = 13;
    public const long IrVersion = 8;

    public static void Save(Model model, string path)
    {
        var proto = ToProto(model);
        AtomicFile.Write(path, stream => proto.WriteTo(stream));
    }

    public static byte[] ToBytes(Model model) => ToProto(model).ToByteArray();

    internal static ModelProto ToProto(Model model)
    {
        var g = model.Graph;
        var graph = new GraphProto { Name = "camcnn" };
        foreach (var input in g.Inputs)
            graph.Input.Add(ValueInfo(input.Name, input.InputShape!));
        var splits = new Dictionary<(Node, long, int, string), NodeProto>();
        foreach (var node in g.Nodes)
            switch (node.Layer)
            {
                case null: break;
                case Constant c:
                    // A constant is an initializer named like the node, so its consumers read it unchanged.
                    graph.Initializer.Add(OnnxTensors.FromTensor(node.Name, c.Value.Value));
                    break;
                case SplitPart p:
                    // The parts of one Split share a single ONNX Split node; outputs nobody kept get placeholder names.
                    var key = (node.Inputs[0], p.Axis, p.Count, p.Sizes is null ? "" : string.Join(",", p.Sizes));
                    if (!splits.TryGetValue(key, out var split))
                    {
                        split = SplitNode(node, p, graph);
                        splits[key] = split;
                        graph.Node.Add(split);
                    }
                    split.Output[p.Index] = node.Name;
                    break;
                default:
                    graph.Node.Add(ToNode(node, node.Layer, graph));
                    break;
            }
        foreach (var output in g.Outputs)
            graph.Output.Add(ValueInfo(output.Name, null));
        var m = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "camcnn",
            ProducerVersion = typeof(OnnxExporter).Assembly.GetName().Version?.ToString() ?? "0",
            Graph = graph,
        };
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        foreach (var (k, v) in model.AllMetadata().OrderBy(kv => kv.Key, StringComparer.Ordinal))
            m.MetadataProps.Add(new StringStringEntryProto { Key = k, Value = v });
        return m;
    }

    private static ValueInfoProto ValueInfo(string name, int[]? shape)
    {
        var tensorType = new TypeProto.Types.Tensor { ElemType = OnnxTensors.Float };
        if (shape is not null)
        {
            tensorType.Shape = new TensorShapeProto();
            foreach (int d in shape)
                tensorType.Shape.Dim.Add(d < 0 ? new TensorShapeProto.Types.Dimension { DimParam = "N" }
                                               : new TensorShapeProto.Types.Dimension { DimValue = d });
        }
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tensorType } };
    }

    private static NodeProto SplitNode(Node node, SplitPart p, GraphProto graph)
    {
        var n = new NodeProto { Name = node.Name + ".split", OpType = "Split" };
        n.Input.Add(node.Inputs[0].Name);
        if (p.Sizes is not null)
        {
            graph.Initializer.Add(OnnxTensors.FromInt64(n.Name + ".sizes", p.Sizes));
            n.Input.Add(n.Name + ".sizes");
        }
        for (int k = 0; k < p.Count; k++) n.Output.Add($"{node.Name}.unused{k}");
        n.Attribute.Add(Int("axis", p.Axis));
        return n;
    }

    private static NodeProto ToNode(Node node, Layer layer, GraphProto graph)
    {
        var n = new NodeProto { Name = node.Name };
        foreach (var i in node.Inputs) n.Input.Add(i.Name);
        n.Output.Add(node.Name);
        void Param(Parameter? p)
        {
            if (p is null) return;
            string name = $"{node.Name}.{p.Name}";
            graph.Initializer.Add(OnnxTensors.FromTensor(name, p.Value));
            n.Input.Add(name);
        }
        // Attributes that became inputs in opsets 11-13 (shapes, axes, pads, bounds) are initializers named after the node.
        void IntsInput(string role, long[] values)
        {
            graph.Initializer.Add(OnnxTensors.FromInt64($"{node.Name}.{role}", values));
            n.Input.Add($"{node.Name}.{role}");
        }
        void ScalarInput(string role, float value)
        {
            graph.Initializer.Add(OnnxTensors.FromTensor($"{node.Name}.{role}", new Tensor([], [value])));
            n.Input.Add($"{node.Name}.{role}");
        }
        switch (layer)
        {
            case Conv2d c:
                n.OpType = "Conv";
                Param(c.Weight);
                Param(c.Bias);
                WindowAttributes(n, c.Window);
                n.Attribute.Add(Int("group", c.Groups));
                break;
            case Dense d:
                n.OpType = "Gemm";
                Param(d.Weight);
                Param(d.Bias);
                n.Attribute.Add(Int("transB", 1));
                break;
            case BatchNorm2d b:
                n.OpType = "BatchNormalization";
                Param(b.Scale);
                Param(b.Shift);
                Param(b.RunningMean);
                Param(b.RunningVar);
                n.Attribute.Add(Float("epsilon", b.Epsilon));
                n.Attribute.Add(Float("momentum", b.Momentum));
                break;
            case MaxPool2d or AvgPool2d:
                PoolNode(n, layer, oneD: false);
                break;
            case GlobalAvgPool: n.OpType = "GlobalAveragePool"; break;
            case ReLU: n.OpType = "Relu"; break;
            case LeakyReLU l:
                n.OpType = "LeakyRelu";
                n.Attribute.Add(Float("alpha", l.Alpha));
                break;
            case Sigmoid: n.OpType = "Sigmoid"; break;
            case Tanh: n.OpType = "Tanh"; break;
            case Flatten f:
                n.OpType = "Flatten";
                n.Attribute.Add(Int("axis", f.Axis));
                break;
            case Dropout d:
                n.OpType = "Dropout";
                string ratio = node.Name + ".ratio";
                graph.Initializer.Add(OnnxTensors.FromTensor(ratio, new Tensor([], [d.Ratio])));
                n.Input.Add(ratio);
                break;
            case ResidualAdd: n.OpType = "Add"; break;
            case Softmax s:
                // Opset 13 normalises one axis; the older whole-suffix form equals it only when the axis is the last.
                if (s.Coerce2d && s.Axis != -1)
                    throw new NotSupportedException($"cannot export {layer} to ONNX opset {Opset}: it normalises every axis from {s.Axis} on together");
                n.OpType = "Softmax";
                n.Attribute.Add(Int("axis", s.Axis));
                break;
            case Elementwise e:
                n.OpType = (e.Op, node.Inputs.Count) switch
                {
                    (ElementwiseOp.Add, 2) => "Add",
                    (ElementwiseOp.Add, _) => "Sum",
                    (ElementwiseOp.Sub, 2) => "Sub",
                    (ElementwiseOp.Mul, 2) => "Mul",
                    (ElementwiseOp.Div, 2) => "Div",
                    (ElementwiseOp.Max, _) => "Max",
                    (ElementwiseOp.Min, _) => "Min",
                    _ => throw new NotSupportedException($"cannot export {layer} with {node.Inputs.Count} inputs to ONNX"),
                };
                break;
            case Identity: n.OpType = "Identity"; break;
            case Neg: n.OpType = "Neg"; break;
            case Exp: n.OpType = "Exp"; break;
            case Clip c:
                n.OpType = "Clip";
                ScalarInput("min", c.Min);
                ScalarInput("max", c.Max);
                break;
            case GlobalMaxPool: n.OpType = "GlobalMaxPool"; break;
            case Spatial1d { Inner: Conv2d c }:
                n.OpType = "Conv";
                var w = c.Weight.Value;
                string wName = $"{node.Name}.{c.Weight.Name}";
                graph.Initializer.Add(OnnxTensors.FromTensor(wName, new Tensor([w.Shape[0], w.Shape[1], w.Shape[3]], w.Data)));
                n.Input.Add(wName);
                Param(c.Bias);
                WindowAttributes1d(n, c.Window);
                n.Attribute.Add(Int("group", c.Groups));
                break;
            case Spatial1d { Inner: MaxPool2d or AvgPool2d } s:
                PoolNode(n, s.Inner, oneD: true);
                break;
            case MatMul: n.OpType = "MatMul"; break;
            case GemmOp m:
                n.OpType = "Gemm";
                n.Attribute.Add(Float("alpha", m.Alpha));
                n.Attribute.Add(Float("beta", m.Beta));
                n.Attribute.Add(Int("transA", m.TransA ? 1 : 0));
                n.Attribute.Add(Int("transB", m.TransB ? 1 : 0));
                break;
            case Reshape r:
                // allowzero is an opset-14 attribute; without a 0 in the target it makes no difference.
                if (r.AllowZero && r.Target.Contains(0))
                    throw new NotSupportedException($"cannot export {layer} to ONNX opset {Opset}: allowzero needs opset 14");
                n.OpType = "Reshape";
                IntsInput("shape", r.Target);
                break;
            case Squeeze q:
                n.OpType = "Squeeze";
                if (q.Axes is not null) IntsInput("axes", q.Axes);
                break;
            case Unsqueeze u:
                n.OpType = "Unsqueeze";
                IntsInput("axes", u.Axes);
                break;
            case Transpose t:
                n.OpType = "Transpose";
                if (t.Perm is not null) n.Attribute.Add(Ints("perm", t.Perm.Select(v => (long)v).ToArray()));
                break;
            case Concat c:
                n.OpType = "Concat";
                n.Attribute.Add(Int("axis", c.Axis));
                break;
            case Pad p:
                n.OpType = "Pad";
                n.Attribute.Add(new AttributeProto
                {
                    Name = "mode", Type = AttributeProto.Types.AttributeType.String,
                    S = ByteString.CopyFromUtf8(p.Mode.ToString().ToLowerInvariant()),
                });
                IntsInput("pads", p.Pads);
                ScalarInput("value", p.Value);
                break;
            default:
                throw new NotSupportedException($"cannot export {layer} to ONNX");
        }
        return n;
    }

    /// <summary>MaxPool / AveragePool for a 2-D pool, or the 1-D pool <see cref="Spatial1d"/> wraps.</summary>
    private static void PoolNode(NodeProto n, Layer pool, bool oneD)
    {
        var (window, ceil) = pool switch
        {
            MaxPool2d m => (m.Window, m.CeilMode),
            AvgPool2d a => (a.Window, a.CeilMode),
            _ => throw new NotSupportedException($"cannot export {pool} as a pool"),
        };
        bool average = pool is AvgPool2d;
        n.OpType = average ? "AveragePool" : "MaxPool";
        if (oneD) WindowAttributes1d(n, window, dilations: !average);
        else WindowAttributes(n, window, dilations: !average);
        n.Attribute.Add(Int("ceil_mode", ceil ? 1 : 0));
        if (pool is AvgPool2d avg) n.Attribute.Add(Int("count_include_pad", avg.CountIncludePad ? 1 : 0));
    }

    private static void WindowAttributes(NodeProto n, Window2d w, bool dilations = true)
    {
        n.Attribute.Add(Ints("kernel_shape", w.KH, w.KW));
        n.Attribute.Add(Ints("strides", w.SH, w.SW));
        n.Attribute.Add(Ints("pads", w.PadTop, w.PadLeft, w.PadBottom, w.PadRight));
        if (dilations) n.Attribute.Add(Ints("dilations", w.DH, w.DW));
    }

    /// <summary>The attributes of a 1-D window: the width half of the height-1 window <see cref="Spatial1d"/> runs.</summary>
    private static void WindowAttributes1d(NodeProto n, Window2d w, bool dilations = true)
    {
        n.Attribute.Add(Ints("kernel_shape", w.KW));
        n.Attribute.Add(Ints("strides", w.SW));
        n.Attribute.Add(Ints("pads", w.PadLeft, w.PadRight));
        if (dilations) n.Attribute.Add(Ints("dilations", w.DW));
    }

    private static AttributeProto Int(string name, long v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = v };
    private static AttributeProto Float(string name, float v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = v };

    private static AttributeProto Ints(string name, params long[] v)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.Add(v);
        return a;
    }
}
