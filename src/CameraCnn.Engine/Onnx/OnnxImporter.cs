// OnnxImporter: reads an ONNX file (opsets 1-17 of the default domain) into a Graph through an op table keyed by
// op_type. Every attribute is read with its ONNX name and default; an op or attribute value we do not compute exactly
// is refused by name. Constants feed attributes-turned-inputs at load time, or become Constant nodes when used as data.
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

    /// <summary>
    /// What an op-table entry produces: a layer, and which node inputs carry data (the rest are read as constants
    /// at load time). A multi-output op gives one layer per output in <paramref name="Parts"/>, each fed the same data.
    /// </summary>
    internal readonly record struct Imported(Layer? Layer, int[] DataInputs, Layer[]? Parts = null)
    {
        /// <summary>The node is an alias of its first data input (Identity).</summary>
        public static Imported Alias => new(null, [0]);
    }

    internal delegate Imported OpFactory(OpContext op);

    /// <summary>The op table: one line per op_type. Constant is handled by the importer itself (it makes no layer).</summary>
    internal static readonly Dictionary<string, OpFactory> Ops = new(StringComparer.Ordinal)
    {
        ["Conv"] = OpConverters.Conv,
        ["Gemm"] = OpConverters.Gemm,
        ["MatMul"] = _ => new(new MatMul(), [0, 1]),
        ["BatchNormalization"] = OpConverters.BatchNormalization,
        ["MaxPool"] = OpConverters.MaxPool,
        ["AveragePool"] = OpConverters.AveragePool,
        ["GlobalAveragePool"] = _ => new(new GlobalAvgPool(), [0]),
        ["GlobalMaxPool"] = _ => new(new GlobalMaxPool(), [0]),
        ["Relu"] = _ => new(new ReLU(), [0]),
        ["LeakyRelu"] = op => new(new LeakyReLU(op.Float("alpha", 0.01f)), [0]),
        ["Sigmoid"] = _ => new(new Sigmoid(), [0]),
        ["Tanh"] = _ => new(new Tanh(), [0]),
        ["Neg"] = _ => new(new Neg(), [0]),
        ["Exp"] = _ => new(new Exp(), [0]),
        ["Clip"] = OpConverters.Clip,
        ["Add"] = OpConverters.Add,
        ["Sub"] = OpConverters.Binary(ElementwiseOp.Sub),
        ["Mul"] = OpConverters.Binary(ElementwiseOp.Mul),
        ["Div"] = OpConverters.Binary(ElementwiseOp.Div),
        ["Sum"] = OpConverters.Variadic(ElementwiseOp.Add),
        ["Max"] = OpConverters.Variadic(ElementwiseOp.Max),
        ["Min"] = OpConverters.Variadic(ElementwiseOp.Min),
        ["Flatten"] = OpConverters.Flatten,
        ["Reshape"] = OpConverters.Reshape,
        ["Squeeze"] = OpConverters.Squeeze,
        ["Unsqueeze"] = OpConverters.Unsqueeze,
        ["Transpose"] = OpConverters.Transpose,
        ["Concat"] = OpConverters.Concat,
        ["Split"] = OpConverters.Split,
        ["Pad"] = OpConverters.Pad,
        ["Softmax"] = OpConverters.Softmax,
        ["Dropout"] = OpConverters.Dropout,
        ["Identity"] = _ => Imported.Alias,
    };

    /// <summary>Every op_type the importer reads: the table plus Constant.</summary>
    public static IReadOnlyCollection<string> SupportedOps => [.. Ops.Keys, "Constant"];

    private sealed class Importer(GraphProto g, int opset)
    {
        private readonly Dictionary<string, TensorProto> _constants = new(StringComparer.Ordinal);
        private readonly Dictionary<string, Node> _values = new(StringComparer.Ordinal);
        private readonly Graph _graph = new();
        private readonly HashSet<Node> _marked = [];

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
                if (output.Type?.TensorType is { } tt && tt.ElemType != OnnxTensors.Float && tt.ElemType != 0)
                    throw new NotSupportedException($"unsupported: output '{output.Name}' has element type {OnnxTensors.DataTypeName(tt.ElemType)} (float only)");
                if (output.Type is { } type && type.TensorType is null)
                    throw new NotSupportedException($"unsupported: output '{output.Name}' is not a tensor");
                if (!_values.TryGetValue(output.Name, out var n))
                    throw _constants.ContainsKey(output.Name)
                        ? new NotSupportedException($"unsupported: graph output '{output.Name}' is a constant")
                        : new InvalidDataException($"graph output '{output.Name}' is not produced by any node");
                // An output that aliases another value (Identity, or a graph input passed through) gets its own node,
                // so it carries its ONNX name and two outputs never share one node.
                if (n.IsInput || n.Name != output.Name || _marked.Contains(n))
                    n = _graph.Add(new Identity { Name = output.Name }, n);
                _graph.MarkOutput(n);
                _marked.Add(n);
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
            if (n.Output.Count == 0) throw new InvalidDataException($"node '{NodeName(n)}' has no output");
            var ctx = new OpContext(n, NodeName(n), opset, _constants);
            if (opset < 6) ctx.Ignore("consumed_inputs"); // an in-place hint of opsets 1-5, meaningless here
            Imported imported;
            // Layer constructors check their arguments with ShapeException; from a file that is bad data.
            try { imported = factory(ctx); }
            catch (ShapeException e) { throw new InvalidDataException($"node '{NodeName(n)}': {e.Message}"); }
            ctx.CheckAllAttributesRead();
            int produced = imported.Parts?.Length ?? 1;
            for (int k = produced; k < n.Output.Count; k++)
                if (!string.IsNullOrEmpty(n.Output[k]) && IsUsed(n.Output[k]))
                    throw new NotSupportedException($"unsupported: {n.OpType} output {k} ('{n.Output[k]}') in node '{NodeName(n)}'");
            if (imported.Layer is null && imported.Parts is null)
            {
                // An alias: of a constant it stays a constant (so it can still be a shape or weight), else of a node.
                string source = imported.DataInputs[0] < n.Input.Count ? n.Input[imported.DataInputs[0]] : "";
                if (_constants.TryGetValue(source, out var constant)) _constants[n.Output[0]] = constant;
                else _values[n.Output[0]] = DataValue(n, imported.DataInputs[0]);
                return;
            }
            var inputs = imported.DataInputs.Select(i => DataValue(n, i)).ToArray();
            if (imported.Parts is { } parts)
            {
                for (int k = 0; k < parts.Length; k++)
                {
                    if (string.IsNullOrEmpty(n.Output[k])) continue;
                    parts[k].Name = n.Output[k];
                    _values[n.Output[k]] = _graph.Add(parts[k], inputs);
                }
                return;
            }
            imported.Layer!.Name = n.Output[0];
            _values[n.Output[0]] = _graph.Add(imported.Layer, inputs);
        }

        /// <summary>The node that computes input i of n; a constant used as data becomes a Constant node (once).</summary>
        private Node DataValue(NodeProto n, int i)
        {
            string name = i < n.Input.Count ? n.Input[i] : "";
            if (_values.TryGetValue(name, out var v)) return v;
            if (!_constants.TryGetValue(name, out var c))
                throw new InvalidDataException($"node '{NodeName(n)}' input '{name}' is missing");
            if (c.DataType is not (OnnxTensors.Float or OnnxTensors.Double))
                throw new NotSupportedException(
                    $"unsupported: {n.OpType} with {OnnxTensors.DataTypeName(c.DataType)} data '{name}' in node '{NodeName(n)}' (float only)");
            var node = _graph.Add(new Layers.Constant(OnnxTensors.ToTensor(c)) { Name = name });
            _values[name] = node;
            return node;
        }

        private bool IsUsed(string value) => g.Node.Any(x => x.Input.Contains(value)) || g.Output.Any(o => o.Name == value);

        /// <summary>A Constant node's value becomes a constant like an initializer: read at load time, or data when used as data.</summary>
        private void AddConstant(NodeProto n)
        {
            if (n.Output.Count == 0 || string.IsNullOrEmpty(n.Output[0]))
                throw new InvalidDataException($"node '{NodeName(n)}' has no output");
            var ctx = new OpContext(n, NodeName(n), opset, _constants);
            TensorProto value;
            if (ctx.TensorAttribute("value") is { } t) value = t.Clone();
            else if (ctx.Attribute("value_float") is { } f) value = new TensorProto { DataType = OnnxTensors.Float, FloatData = { f.F } };
            else if (ctx.Attribute("value_floats") is { } fs) value = new TensorProto { DataType = OnnxTensors.Float, Dims = { fs.Floats.Count }, FloatData = { fs.Floats } };
            else if (ctx.Attribute("value_int") is { } i) value = new TensorProto { DataType = OnnxTensors.Int64, Int64Data = { i.I } };
            else if (ctx.Attribute("value_ints") is { } iv) value = new TensorProto { DataType = OnnxTensors.Int64, Dims = { iv.Ints.Count }, Int64Data = { iv.Ints } };
            else throw new NotSupportedException($"unsupported: Constant without a 'value' tensor in node '{NodeName(n)}'");
            ctx.CheckAllAttributesRead();
            value.Name = n.Output[0];
            _constants[n.Output[0]] = value;
        }
    }

    internal static string NodeName(NodeProto n) => string.IsNullOrEmpty(n.Name) ? (n.Output.Count > 0 ? n.Output[0] : n.OpType) : n.Name;
}
