// OnnxImporter: reads an ONNX file into a Graph through an op table keyed by op_type. Every attribute is read
// with its ONNX name and default; an op or attribute value we do not compute exactly is refused by name.
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Onnx.Proto;
using Google.Protobuf;

namespace CameraCnn.Engine.Onnx;

/// <summary>ONNX -> Model. Bad files throw <see cref="InvalidDataException"/>, unsupported content <see cref="NotSupportedException"/>.</summary>
public static class OnnxImporter
{
    /// <summary>Refuse files larger than this before parsing (the protobuf parser would read them whole).</summary>
    public const long MaxFileBytes = 2L << 30;

    public static Model Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"model not found: {path}");
        var info = new FileInfo(path);
        if (info.Length > MaxFileBytes) throw new InvalidDataException($"{path}: {info.Length} bytes is too large for a model");
        try
        {
            return FromBytes(File.ReadAllBytes(path));
        }
        catch (InvalidDataException e) { throw new InvalidDataException($"{Path.GetFileName(path)}: {e.Message}"); }
        catch (NotSupportedException e) { throw new NotSupportedException($"{Path.GetFileName(path)}: {e.Message}"); }
    }

    public static Model FromBytes(byte[] bytes)
    {
        ModelProto proto;
        try
        {
            proto = ModelProto.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"not a valid ONNX model ({e.Message.TrimEnd('.')})");
        }
        if (proto.Graph is null || proto.Graph.Node.Count == 0 && proto.Graph.Output.Count == 0)
            throw new InvalidDataException("not a valid ONNX model (no graph)");
        int opset = 0;
        foreach (var o in proto.OpsetImport)
            if (string.IsNullOrEmpty(o.Domain) || o.Domain == "ai.onnx") opset = (int)o.Version;
        if (opset == 0) opset = 1;
        var (labels, pre, rest) = Model.SplitMetadata(proto.MetadataProps.Select(p => KeyValuePair.Create(p.Key, p.Value)));
        var graph = new Importer(proto.Graph, opset).Build();
        return new Model(graph, labels, pre, rest);
    }

    /// <summary>What an op-table entry produces: a layer, and which node inputs carry data (the rest are constants).</summary>
    internal readonly record struct Imported(Layer? Layer, int[] DataInputs)
    {
        /// <summary>The node is an alias of its first data input (Identity, inference Dropout).</summary>
        public static Imported Alias => new(null, [0]);
    }

    internal delegate Imported OpFactory(OpContext op);

    /// <summary>The op table: one line per op_type.</summary>
    internal static readonly Dictionary<string, OpFactory> Ops = new(StringComparer.Ordinal)
    {
        ["Conv"] = OpConverters.Conv,
        ["Gemm"] = OpConverters.Gemm,
        ["BatchNormalization"] = OpConverters.BatchNormalization,
        ["MaxPool"] = OpConverters.MaxPool,
        ["AveragePool"] = OpConverters.AveragePool,
        ["GlobalAveragePool"] = _ => new(new GlobalAvgPool(), [0]),
        ["Relu"] = _ => new(new ReLU(), [0]),
        ["LeakyRelu"] = op => new(new LeakyReLU(op.Float("alpha", 0.01f)), [0]),
        ["Sigmoid"] = _ => new(new Sigmoid(), [0]),
        ["Tanh"] = _ => new(new Tanh(), [0]),
        ["Flatten"] = OpConverters.Flatten,
        ["Dropout"] = OpConverters.Dropout,
        ["Identity"] = _ => Imported.Alias,
        ["Add"] = OpConverters.Add,
        ["Softmax"] = OpConverters.Softmax,
    };

    private sealed class Importer(GraphProto g, int opset)
    {
        private readonly Dictionary<string, TensorProto> _constants = new(StringComparer.Ordinal);
        private readonly Dictionary<string, Node> _values = new(StringComparer.Ordinal);
        private readonly Graph _graph = new();

        public Graph Build()
        {
            foreach (var t in g.Initializer)
            {
                if (string.IsNullOrEmpty(t.Name)) throw new InvalidDataException("an initializer has no name");
                _constants[t.Name] = t;
            }
            if (g.SparseInitializer.Count > 0) throw new NotSupportedException("unsupported: sparse initializers");
            foreach (var input in g.Input)
            {
                if (_constants.ContainsKey(input.Name)) continue; // IR < 4 lists initializers as inputs too
                _values[input.Name] = _graph.AddInput(input.Name, InputShape(input));
            }
            foreach (var node in TopologicalOrder())
                AddNode(node);
            foreach (var output in g.Output)
            {
                if (!_values.TryGetValue(output.Name, out var n))
                    throw _constants.ContainsKey(output.Name)
                        ? new NotSupportedException($"unsupported: graph output '{output.Name}' is a constant")
                        : new InvalidDataException($"graph output '{output.Name}' is not produced by any node");
                _graph.MarkOutput(n);
            }
            if (_graph.Inputs.Count == 0) throw new InvalidDataException("the graph has no inputs");
            return _graph;
        }

        private static int[] InputShape(ValueInfoProto v)
        {
            var t = v.Type?.TensorType ?? throw new NotSupportedException($"unsupported: input '{v.Name}' is not a tensor");
            if (t.ElemType != OnnxTensors.Float)
                throw new NotSupportedException($"unsupported: input '{v.Name}' has element type {OnnxTensors.DataTypeName(t.ElemType)} (float only)");
            if (t.Shape is null) throw new NotSupportedException($"unsupported: input '{v.Name}' has no shape");
            return t.Shape.Dim.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && d.DimValue > 0
                ? (d.DimValue <= int.MaxValue ? (int)d.DimValue : throw new InvalidDataException($"input '{v.Name}' has dimension {d.DimValue}"))
                : -1).ToArray();
        }

        /// <summary>Kahn's algorithm over value names; what is left over sits on a cycle or needs a missing value.</summary>
        private List<NodeProto> TopologicalOrder()
        {
            var available = new HashSet<string>(_values.Keys, StringComparer.Ordinal);
            available.UnionWith(_constants.Keys);
            available.Add("");
            var pending = g.Node.ToList();
            var order = new List<NodeProto>(pending.Count);
            bool progress = true;
            while (pending.Count > 0 && progress)
            {
                progress = false;
                for (int i = 0; i < pending.Count; i++)
                {
                    var n = pending[i];
                    if (!n.Input.All(available.Contains)) continue;
                    order.Add(n);
                    foreach (var o in n.Output) available.Add(o);
                    pending.RemoveAt(i--);
                    progress = true;
                }
            }
            if (pending.Count > 0)
            {
                var produced = new HashSet<string>(g.Node.SelectMany(n => n.Output), StringComparer.Ordinal);
                var first = pending[0];
                string missing = first.Input.First(i => !available.Contains(i));
                throw new InvalidDataException(produced.Contains(missing)
                    ? $"the graph has a cycle through node '{NodeName(first)}'"
                    : $"node '{NodeName(first)}' input '{missing}' is not produced by any node, initializer or graph input");
            }
            return order;
        }

        private void AddNode(NodeProto n)
        {
            if (!string.IsNullOrEmpty(n.Domain) && n.Domain != "ai.onnx")
                throw new NotSupportedException($"unsupported: op {n.Domain}.{n.OpType} in node '{NodeName(n)}'");
            if (n.OpType == "Constant")
            {
                AddConstant(n);
                return;
            }
            if (!Ops.TryGetValue(n.OpType, out var factory))
                throw new NotSupportedException($"unsupported: op {n.OpType} in node '{NodeName(n)}'");
            var ctx = new OpContext(n, NodeName(n), opset, _constants);
            var imported = factory(ctx);
            ctx.CheckAllAttributesRead();
            if (n.Output.Count == 0) throw new InvalidDataException($"node '{NodeName(n)}' has no output");
            for (int k = 1; k < n.Output.Count; k++)
                if (!string.IsNullOrEmpty(n.Output[k]) && IsUsed(n.Output[k]))
                    throw new NotSupportedException($"unsupported: {n.OpType} output {k} ('{n.Output[k]}') in node '{NodeName(n)}'");
            var inputs = imported.DataInputs.Select(i =>
            {
                string name = i < n.Input.Count ? n.Input[i] : "";
                if (_values.TryGetValue(name, out var v)) return v;
                throw _constants.ContainsKey(name)
                    ? new NotSupportedException($"unsupported: {n.OpType} with constant input '{name}' in node '{NodeName(n)}'")
                    : new InvalidDataException($"node '{NodeName(n)}' input '{name}' is missing");
            }).ToArray();
            if (imported.Layer is null)
            {
                _values[n.Output[0]] = inputs[0];
                return;
            }
            imported.Layer.Name = n.Output[0];
            _values[n.Output[0]] = _graph.Add(imported.Layer, inputs);
        }

        private bool IsUsed(string value) => g.Node.Any(x => x.Input.Contains(value)) || g.Output.Any(o => o.Name == value);

        private void AddConstant(NodeProto n)
        {
            if (n.Output.Count == 0 || string.IsNullOrEmpty(n.Output[0]))
                throw new InvalidDataException($"node '{NodeName(n)}' has no output");
            var ctx = new OpContext(n, NodeName(n), opset, _constants);
            var value = ctx.TensorAttribute("value") ?? throw new NotSupportedException($"unsupported: Constant without a 'value' tensor in node '{NodeName(n)}'");
            ctx.CheckAllAttributesRead();
            value.Name = n.Output[0];
            _constants[n.Output[0]] = value;
        }
    }

    internal static string NodeName(NodeProto n) => string.IsNullOrEmpty(n.Name) ? (n.Output.Count > 0 ? n.Output[0] : n.OpType) : n.Name;
}
