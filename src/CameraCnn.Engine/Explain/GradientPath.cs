// GradientPath: the gradient of a scalar with respect to one node's output, by backpropagation through only the part of
// a graph between that node and the node the scalar is read from, with every layer's BackwardInputs (no parameter
// gradients). What Grad-CAM runs after a forward; not a trainer (that is Graph.Backward).
using CameraCnn.Engine.Optimization;

namespace CameraCnn.Engine.Explain;

/// <summary>
/// ds / d(<see cref="Target"/>'s output) for a scalar s whose gradient with respect to <see cref="Source"/>'s output the
/// caller gives (for a class score s = z_k read at the logits: the one-hot e_k). The layers on the paths from Target to
/// Source run their <see cref="Layers.Layer.BackwardInputs"/> in reverse graph order on the activations of the graph's
/// last forward; nothing else runs and no parameter's Grad changes. An <see cref="OutputAlias"/> of a fused graph shares
/// the gradient buffer of the value it aliases (it is that value), so the gradient passes through it at no cost.
/// <para>
/// Buffers are sized on the first run and reused: a run with the shapes of the previous one allocates nothing. Not
/// thread-safe: call <see cref="Run"/> on the thread that runs the graph's forward, after that forward (layers read state
/// it left, e.g. max-pool arg-maxes) and before the next.
/// </para>
/// </summary>
public sealed class GradientPath
{
    private readonly Node[] _steps;          // layer nodes after Target on the path (aliases excluded), last first
    private readonly int[] _stepBuffer;      // per step: the buffer of its own output's gradient
    private readonly int[][] _inputBuffer;   // per step and input: the input's buffer when it is on the path, else -1
    private readonly Tensor[][] _values;     // per step: its inputs' values, refreshed every run
    private readonly Tensor?[][] _dInputs;   // per step: its inputs' gradient buffers (null off the path)
    private readonly Node[] _bufferNode;     // per buffer: the node whose value it is the gradient of
    private readonly Tensor[] _buffers;
    private readonly int _sourceBuffer, _targetBuffer;

    /// <exception cref="ArgumentException">A node is not in the graph, or <paramref name="target"/> does not feed
    /// <paramref name="source"/>.</exception>
    public GradientPath(Graph graph, Node target, Node source)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(source);
        var nodes = graph.Nodes;
        foreach (var n in new[] { target, source })
            if (n.Index >= nodes.Count || nodes[n.Index] != n) throw new ArgumentException($"{n} is not a node of this graph");
        Target = target;
        Source = source;

        // On the path: fed by the target (or it) and feeding the source (or it).
        var below = new bool[nodes.Count];
        var above = new bool[nodes.Count];
        below[target.Index] = true;
        for (int k = target.Index + 1; k < nodes.Count; k++)
            foreach (var i in nodes[k].Inputs) below[k] |= below[i.Index];
        above[source.Index] = true;
        for (int k = source.Index; k >= 0; k--)
            if (above[k]) foreach (var i in nodes[k].Inputs) above[i.Index] = true;
        bool OnPath(Node n) => below[n.Index] && above[n.Index];
        if (!OnPath(target))
            throw new ArgumentException($"'{target.Name}' does not feed '{source.Name}': no gradient flows from one to the other");

        var bufferOf = new Dictionary<Node, int>();
        var bufferNodes = new List<Node>();
        int Buffer(Node n)
        {
            var root = Root(n);
            if (!bufferOf.TryGetValue(root, out int b))
            {
                bufferOf[root] = b = bufferNodes.Count;
                bufferNodes.Add(root);
            }
            return b;
        }
        _targetBuffer = Buffer(target);
        _sourceBuffer = Buffer(source);
        var steps = new List<Node>();
        for (int k = source.Index; k > target.Index; k--)
            if (OnPath(nodes[k]) && nodes[k].Layer is { } layer && layer is not OutputAlias) steps.Add(nodes[k]);
        _steps = steps.ToArray();
        _stepBuffer = _steps.Select(Buffer).ToArray();
        _inputBuffer = _steps.Select(s => s.Inputs.Select(i => OnPath(i) ? Buffer(i) : -1).ToArray()).ToArray();
        _values = _steps.Select(s => new Tensor[s.Inputs.Count]).ToArray();
        _dInputs = _steps.Select(s => new Tensor?[s.Inputs.Count]).ToArray();
        _bufferNode = bufferNodes.ToArray();
        _buffers = _bufferNode.Select(_ => new Tensor(0)).ToArray();
    }

    /// <summary>The node whose output's gradient <see cref="Run"/> returns.</summary>
    public Node Target { get; }
    /// <summary>The node whose output's gradient the caller gives.</summary>
    public Node Source { get; }
    /// <summary>The layer nodes whose backward runs, in the order they run (aliases are free and not listed).</summary>
    public IReadOnlyList<Node> Steps => _steps;

    /// <summary>
    /// Backpropagates <paramref name="dSource"/> (as many values as <see cref="Source"/>'s output) to
    /// <see cref="Target"/>. Returns the gradient with <see cref="Target"/>'s output shape: a buffer of this path,
    /// valid until the next run.
    /// </summary>
    /// <exception cref="InvalidOperationException">The graph has not run a forward.</exception>
    /// <exception cref="ArgumentException"><paramref name="dSource"/> has the wrong length.</exception>
    /// <exception cref="NotSupportedException">A layer on the path has no backward; the message names it.</exception>
    public Tensor Run(ReadOnlySpan<float> dSource)
    {
        if (Source.Output.Length == 0)
            throw new InvalidOperationException($"'{Source.Name}' holds no value: run a forward of the graph first");
        if (dSource.Length != Source.Output.Length)
            throw new ArgumentException($"the gradient has {dSource.Length} values, '{Source.Name}' outputs {Source.Output.ShapeString}", nameof(dSource));
        for (int b = 0; b < _buffers.Length; b++)
        {
            _buffers[b].EnsureShape(_bufferNode[b].Output.Shape);
            _buffers[b].Clear();
        }
        dSource.CopyTo(_buffers[_sourceBuffer].Data);
        for (int s = 0; s < _steps.Length; s++)
        {
            var node = _steps[s];
            Tensor[] values = _values[s];
            Tensor?[] dInputs = _dInputs[s];
            for (int i = 0; i < values.Length; i++)
            {
                values[i] = node.Inputs[i].Output;
                dInputs[i] = _inputBuffer[s][i] is int b and >= 0 ? _buffers[b] : null;
            }
            try
            {
                node.Layer!.BackwardInputs(values, node.Output, _buffers[_stepBuffer[s]], dInputs);
            }
            catch (NotSupportedException e)
            {
                throw new NotSupportedException($"no gradient through {node.Layer}: {e.Message}", e);
            }
        }
        return _buffers[_targetBuffer];
    }

    /// <summary>The node whose tensor <paramref name="n"/>'s output is: itself, or what a chain of aliases aliases.</summary>
    public static Node Root(Node n)
    {
        while (n.Layer is OutputAlias) n = n.Inputs[0];
        return n;
    }
}
