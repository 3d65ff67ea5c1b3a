// OnnxExporter: writes a Model as an ONNX file (opset 13) that ONNX Runtime, Netron and our importer read.
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
        foreach (var node in g.Nodes)
            if (node.Layer is { } layer)
                graph.Node.Add(ToNode(node, layer, graph));
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
            case MaxPool2d p:
                n.OpType = "MaxPool";
                WindowAttributes(n, p.Window);
                n.Attribute.Add(Int("ceil_mode", p.CeilMode ? 1 : 0));
                break;
            case AvgPool2d p:
                n.OpType = "AveragePool";
                WindowAttributes(n, p.Window, dilations: false);
                n.Attribute.Add(Int("ceil_mode", p.CeilMode ? 1 : 0));
                n.Attribute.Add(Int("count_include_pad", p.CountIncludePad ? 1 : 0));
                break;
            case GlobalAvgPool: n.OpType = "GlobalAveragePool"; break;
            case ReLU: n.OpType = "Relu"; break;
            case LeakyReLU l:
                n.OpType = "LeakyRelu";
                n.Attribute.Add(Float("alpha", l.Alpha));
                break;
            case Sigmoid: n.OpType = "Sigmoid"; break;
            case Tanh: n.OpType = "Tanh"; break;
            case Flatten:
                n.OpType = "Flatten";
                n.Attribute.Add(Int("axis", 1));
                break;
            case Dropout d:
                n.OpType = "Dropout";
                string ratio = node.Name + ".ratio";
                graph.Initializer.Add(OnnxTensors.FromTensor(ratio, new Tensor([], [d.Ratio])));
                n.Input.Add(ratio);
                break;
            case ResidualAdd: n.OpType = "Add"; break;
            case Softmax:
                n.OpType = "Softmax";
                n.Attribute.Add(Int("axis", 1));
                break;
            default:
                throw new NotSupportedException($"cannot export {layer} to ONNX");
        }
        return n;
    }

    private static void WindowAttributes(NodeProto n, Window2d w, bool dilations = true)
    {
        n.Attribute.Add(Ints("kernel_shape", w.KH, w.KW));
        n.Attribute.Add(Ints("strides", w.SH, w.SW));
        n.Attribute.Add(Ints("pads", w.PadTop, w.PadLeft, w.PadBottom, w.PadRight));
        if (dilations) n.Attribute.Add(Ints("dilations", w.DH, w.DW));
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
