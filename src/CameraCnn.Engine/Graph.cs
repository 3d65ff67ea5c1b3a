// Graph: a network as a DAG of layer nodes, run in insertion (= topological) order. Every node keeps its
// output after a forward, so any layer can be read ("tapped") without copies, e.g. for feature maps.
// A steady-state forward (same input shapes) allocates nothing: per-node scratch and output buffers are reused.
using CameraCnn.Engine.Layers;

namespace CameraCnn.Engine;

/// <summary>One value in the graph: a graph input (Layer null) or a layer applied to earlier nodes.</summary>
public sealed class Node
{
    internal Node(string name, Layer? layer, Node[] inputs, int index, int[]? inputShape)
    {
        Name = name;
        Layer = layer;
        Inputs = inputs;
        Index = index;
        InputShape = inputShape;
        Output = new Tensor(0);
    }

    public string Name { get; }
    public Layer? Layer { get; }
    public IReadOnlyList<Node> Inputs { get; }
    /// <summary>Position in topological order.</summary>
    public int Index { get; }
    /// <summary>For graph inputs: the declared shape, with -1 where any size is accepted (the batch).</summary>
    public int[]? InputShape { get; }
    public bool IsInput => Layer is null;

    /// <summary>The node's value after the last forward (a tap: read it, do not keep writing into it).</summary>
    public Tensor Output { get; internal set; }

    internal Tensor? Grad;
    internal bool GradLive;

    // Forward scratch, reused so a steady-state forward allocates nothing: the input tensors, the input shapes the
    // output shape was last computed for, and that output shape.
    internal Tensor[]? ForwardValues;
    internal int[][]? SeenShapes;
    internal int[]? OutputShapeCache;

    public override string ToString() => Layer is null ? $"input '{Name}'" : Layer.ToString();
}

/// <summary>A directed acyclic graph of layers with named inputs and outputs.</summary>
public sealed class Graph
{
    private readonly List<Node> _nodes = [];
    private readonly List<Node> _inputs = [];
    private readonly List<Node> _outputs = [];
    private readonly Dictionary<string, Node> _byName = new(StringComparer.Ordinal);
    private readonly List<Tensor> _inputGather = [];

    public IReadOnlyList<Node> Nodes => _nodes;
    public IReadOnlyList<Node> Inputs => _inputs;
    public IReadOnlyList<Node> Outputs => EffectiveOutputs;

    public Node this[string name] => _byName.TryGetValue(name, out var n) ? n : throw new KeyNotFoundException($"no node named '{name}' in the graph");
    public bool TryGetNode(string name, out Node node) => _byName.TryGetValue(name, out node!);

    /// <summary>Declares a graph input; use -1 for dimensions of any size (normally the batch).</summary>
    public Node AddInput(string name, params int[] shape)
    {
        var node = new Node(Unique(name), null, [], _nodes.Count, (int[])shape.Clone());
        Register(node);
        _inputs.Add(node);
        return node;
    }

    /// <summary>Adds a layer fed by earlier nodes; its name is the layer's (made unique) or "kindN".</summary>
    public Node Add(Layer layer, params Node[] inputs)
    {
        foreach (var i in inputs)
            if (i.Index >= _nodes.Count || _nodes[i.Index] != i)
                throw new ArgumentException($"{layer}: input {i} does not belong to this graph");
        if (_nodes.Any(n => ReferenceEquals(n.Layer, layer)))
            throw new ArgumentException($"{layer} is already in the graph; a layer instance is used once");
        string baseName = string.IsNullOrEmpty(layer.Name) ? layer.GetType().Name.ToLowerInvariant() + _nodes.Count : layer.Name;
        layer.Name = Unique(baseName);
        var node = new Node(layer.Name, layer, inputs, _nodes.Count, null);
        Register(node);
        return node;
    }

    /// <summary>Marks a node as a graph output (in order). With none marked, the last node is the output.</summary>
    public void MarkOutput(Node node)
    {
        if (!_outputs.Contains(node)) _outputs.Add(node);
    }

    /// <summary>Makes this node the graph's only output.</summary>
    public void MarkOutputOnly(Node node)
    {
        _outputs.Clear();
        _outputs.Add(node);
    }

    private IReadOnlyList<Node> EffectiveOutputs => _outputs.Count > 0 ? _outputs : _nodes.Count > 0 ? [_nodes[^1]] : [];

    /// <summary>The first output node.</summary>
    public Node Output => EffectiveOutputs.Count > 0 ? EffectiveOutputs[0] : throw new InvalidOperationException("the graph is empty");

    private void Register(Node node)
    {
        _nodes.Add(node);
        _byName.Add(node.Name, node);
    }

    private string Unique(string name)
    {
        if (!_byName.ContainsKey(name)) return name;
        for (int k = 1; ; k++)
            if (!_byName.ContainsKey($"{name}_{k}")) return $"{name}_{k}";
    }

    /// <summary>All parameters with their qualified names ("conv1.W").</summary>
    public IEnumerable<(string Name, Parameter Parameter)> NamedParameters =>
        _nodes.Where(n => n.Layer is not null)
              .SelectMany(n => n.Layer!.Parameters.Select(p => ($"{n.Name}.{p.Name}", p)));

    public IEnumerable<Parameter> Parameters => NamedParameters.Select(p => p.Parameter);

    /// <summary>Runs a forward on a single-input graph and returns the first output.</summary>
    public Tensor Forward(Tensor input, bool training = false)
    {
        _inputGather.Clear();
        _inputGather.Add(input);
        Forward(_inputGather, training);
        return Output.Output;
    }

    /// <summary>Runs every node in order. Outputs stay readable on the nodes until the next forward.</summary>
    public void Forward(IReadOnlyList<Tensor> inputs, bool training = false) => Run(inputs, training, default);

    /// <summary>
    /// A forward that also records each node's wall time in Stopwatch ticks, indexed by <see cref="Node.Index"/>
    /// (graph inputs get 0). For benchmarks; <paramref name="nodeTicks"/> needs one entry per node.
    /// </summary>
    public void ForwardTimed(IReadOnlyList<Tensor> inputs, Span<long> nodeTicks, bool training = false)
    {
        if (nodeTicks.Length < _nodes.Count) throw new ArgumentException($"nodeTicks needs {_nodes.Count} entries");
        nodeTicks[.._nodes.Count].Clear();
        Run(inputs, training, nodeTicks);
    }

    private void Run(IReadOnlyList<Tensor> inputs, bool training, Span<long> nodeTicks)
    {
        if (inputs.Count != _inputs.Count)
            throw new ShapeException($"the graph has {_inputs.Count} input(s), {inputs.Count} given");
        for (int i = 0; i < inputs.Count; i++) BindInput(_inputs[i], inputs[i]);
        bool timed = !nodeTicks.IsEmpty;
        for (int n = 0; n < _nodes.Count; n++)
        {
            var node = _nodes[n];
            if (node.Layer is not { } layer) continue;
            long t0 = timed ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
            var values = node.ForwardValues ??= new Tensor[node.Inputs.Count];
            for (int i = 0; i < values.Length; i++) values[i] = node.Inputs[i].Output;
            if (layer is Optimization.OutputAlias)
            {
                // A fused-away node: its value is its input's tensor (see InferenceFusion).
                node.Output = values[0];
            }
            else
            {
                node.Output.EnsureShape(OutputShapeFor(node, layer, values)); // same buffer when the size matches
                layer.Training = training;
                layer.Forward(values, node.Output);
            }
            if (timed) nodeTicks[n] = System.Diagnostics.Stopwatch.GetTimestamp() - t0;
        }
    }

    /// <summary>The layer's output shape, recomputed only when an input shape changed since the last forward.</summary>
    private static int[] OutputShapeFor(Node node, Layer layer, Tensor[] values)
    {
        var seen = node.SeenShapes;
        bool same = seen is not null && node.OutputShapeCache is not null;
        for (int i = 0; same && i < values.Length; i++) same = Tensor.SameShape(seen![i], values[i].Shape);
        if (same) return node.OutputShapeCache!;
        var shapes = new int[values.Length][];
        for (int i = 0; i < values.Length; i++) shapes[i] = (int[])values[i].Shape.Clone();
        int[] output = layer.OutputShape(shapes);
        node.SeenShapes = shapes;
        node.OutputShapeCache = output;
        return output;
    }

    private static void BindInput(Node node, Tensor value)
    {
        var want = node.InputShape!;
        bool ok = want.Length == value.Rank;
        for (int d = 0; ok && d < want.Length; d++) ok = want[d] < 0 || want[d] == value.Shape[d];
        if (!ok)
            throw new ShapeException($"input '{node.Name}' expects shape {Tensor.Format(want).Replace("-1", "N")}, got {value.ShapeString}");
        node.Output = value;
    }

    /// <summary>
    /// Backpropagates <paramref name="dOutput"/> (the loss gradient w.r.t. <paramref name="from"/>'s output)
    /// through every node before it, adding into the parameters' Grad tensors.
    /// </summary>
    public void Backward(Node from, Tensor dOutput) => Backward(from, dOutput, default);

    /// <summary>
    /// A backward that also records each node's wall time in Stopwatch ticks, indexed by <see cref="Node.Index"/>, as
    /// <see cref="ForwardTimed"/> does for the forward. For benchmarks.
    /// </summary>
    public void BackwardTimed(Node from, Tensor dOutput, Span<long> nodeTicks)
    {
        if (nodeTicks.Length < _nodes.Count) throw new ArgumentException($"nodeTicks needs {_nodes.Count} entries");
        nodeTicks[.._nodes.Count].Clear();
        Backward(from, dOutput, nodeTicks);
    }

    private void Backward(Node from, Tensor dOutput, Span<long> nodeTicks)
    {
        bool timed = !nodeTicks.IsEmpty;
        if (!dOutput.HasShape(from.Output.Shape))
            throw new ShapeException($"gradient {dOutput.ShapeString} does not match {from}'s output {from.Output.ShapeString}");
        foreach (var node in _nodes)
        {
            node.GradLive = false;
            if (node.IsInput || node.Index >= from.Index) continue;
            if (node.Grad is null) node.Grad = new Tensor(node.Output.Shape);
            else node.Grad.EnsureShape(node.Output.Shape);
            node.Grad.Clear();
        }
        from.GradLive = true;
        var values = new List<Tensor>(4);
        var grads = new List<Tensor?>(4);
        for (int k = from.Index; k >= 0; k--)
        {
            var node = _nodes[k];
            if (node.Layer is not { } layer || !node.GradLive) continue;
            values.Clear();
            grads.Clear();
            foreach (var i in node.Inputs)
            {
                values.Add(i.Output);
                grads.Add(i.IsInput ? null : i.Grad);
                if (!i.IsInput) i.GradLive = true;
            }
            long t0 = timed ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
            layer.Backward(values, node.Output, k == from.Index ? dOutput : node.Grad!, grads);
            if (timed) nodeTicks[k] = System.Diagnostics.Stopwatch.GetTimestamp() - t0;
        }
    }

    public void ZeroGrad()
    {
        foreach (var p in Parameters) p.Grad.Clear();
    }

    /// <summary>Output shapes of every node for the given input shapes, without running anything.</summary>
    public Dictionary<string, int[]> InferShapes(IReadOnlyList<int[]> inputShapes)
    {
        var map = new Dictionary<Node, int[]>();
        for (int i = 0; i < _inputs.Count; i++) map[_inputs[i]] = inputShapes[i];
        foreach (var node in _nodes)
            if (node.Layer is { } layer)
                map[node] = layer.OutputShape(node.Inputs.Select(i => map[i]).ToList());
        return map.ToDictionary(kv => kv.Key.Name, kv => kv.Value);
    }
}
