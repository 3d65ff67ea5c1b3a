// ProtoKit: hand-built ONNX protos for importer tests: value infos, initialisers, nodes, attributes and a minimal
// valid Conv model to mutate.
using CameraCnn.Engine.Onnx.Proto;
using Google.Protobuf;

namespace CameraCnn.Engine.Tests.OnnxInterop;

internal static class ProtoKit
{
    public static ValueInfoProto Value(string name, params long[] dims)
    {
        var t = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = new TensorShapeProto() };
        foreach (long d in dims)
            t.Shape.Dim.Add(d < 0 ? new TensorShapeProto.Types.Dimension { DimParam = "N" } : new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = t } };
    }

    /// <summary>A float initialiser; values default to a deterministic ramp of the right length.</summary>
    public static TensorProto Init(string name, long[] dims, float[]? values = null)
    {
        var p = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        p.Dims.Add(dims);
        long n = dims.Aggregate(1L, (a, b) => a * b);
        values ??= Enumerable.Range(0, (int)n).Select(i => 0.1f * ((i % 7) - 3)).ToArray();
        p.FloatData.Add(values);
        return p;
    }

    public static NodeProto Node(string op, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var n = new NodeProto { OpType = op, Name = outputs.FirstOrDefault() ?? op };
        n.Input.Add(inputs);
        n.Output.Add(outputs);
        n.Attribute.Add(attributes);
        return n;
    }

    public static AttributeProto Int(string name, long v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = v };
    public static AttributeProto Float(string name, float v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = v };
    public static AttributeProto Str(string name, string v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(v) };

    public static AttributeProto Ints(string name, params long[] v)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.Add(v);
        return a;
    }

    public static ModelProto OnnxModel(GraphProto graph, long opset = 13)
    {
        var m = new ModelProto { IrVersion = 8, ProducerName = "test", Graph = graph };
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        return m;
    }

    public static GraphProto OnnxGraph(ValueInfoProto[] inputs, ValueInfoProto[] outputs, TensorProto[] initializers, params NodeProto[] nodes)
    {
        var g = new GraphProto { Name = "test" };
        g.Input.Add(inputs);
        g.Output.Add(outputs);
        g.Initializer.Add(initializers);
        g.Node.Add(nodes);
        return g;
    }

    /// <summary>x [N,2,7,6] -> Conv(W [3,2,3,3], B [3], extra attributes) -> y.</summary>
    public static ModelProto ConvModel(params AttributeProto[] attributes) => OnnxModel(OnnxGraph(
        [Value("x", -1, 2, 7, 6)], [Value("y")],
        [Init("W", [3, 2, 3, 3]), Init("B", [3])],
        Node("Conv", ["x", "W", "B"], ["y"], attributes)));

    /// <summary>x [N,2,7,6] -> op(extra attributes) -> y, for parameter-free ops.</summary>
    public static ModelProto UnaryModel(string op, params AttributeProto[] attributes) => OnnxModel(OnnxGraph(
        [Value("x", -1, 2, 7, 6)], [Value("y")], [], Node(op, ["x"], ["y"], attributes)));

    public static byte[] Bytes(ModelProto m) => m.ToByteArray();
}
