// GraphChain: joins two graphs end to end into one new graph (e.g. an imported preprocessing graph feeding an
// imported backbone), so one forward runs both and every layer of both can be tapped, or cuts one after a node. It
// does not copy parameters: the layers move into the new graph, and a layer instance belongs to one graph only.
namespace CameraCnn.Engine.Models;

/// <summary>Builds one <see cref="Graph"/> out of two run one after the other.</summary>
public static class GraphChain
{
    /// <summary>
    /// A new graph with the inputs of <paramref name="first"/>, then the layers of <paramref name="first"/>, then
    /// the layers of <paramref name="second"/> with <paramref name="second"/>'s single input bound to
    /// <paramref name="first"/>'s single output; its outputs are <paramref name="second"/>'s outputs. Layer names
    /// are kept where they do not collide (a collision gets a "_1" suffix, as in <see cref="Graph.Add"/>).
    /// The layer instances are re-added, not copied: discard both source graphs afterwards.
    /// </summary>
    /// <exception cref="ArgumentException">The first graph has not exactly one output, or the second not exactly one input.</exception>
    /// <exception cref="ShapeException">The first graph's output shape is not what the second graph's input declares.</exception>
    public static Graph Chain(Graph first, Graph second)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        if (ReferenceEquals(first, second)) throw new ArgumentException("cannot chain a graph to itself");
        if (first.Outputs.Count != 1) throw new ArgumentException($"the first graph has {first.Outputs.Count} outputs; chaining needs exactly one");
        if (second.Inputs.Count != 1) throw new ArgumentException($"the second graph has {second.Inputs.Count} inputs; chaining needs exactly one");
        CheckJoin(first, second);

        var chained = new Graph();
        var map = new Dictionary<Node, Node>();
        foreach (var input in first.Inputs) map[input] = chained.AddInput(input.Name, input.InputShape!);
        AddLayers(first, chained, map);
        var join = map[first.Output];
        map.Clear();
        map[second.Inputs[0]] = join;
        AddLayers(second, chained, map);
        foreach (var output in second.Outputs) chained.MarkOutput(map[output]);
        return chained;
    }

    /// <summary>
    /// A new graph of every node of <paramref name="source"/> up to <paramref name="last"/> (in graph order), with
    /// <paramref name="last"/> as its only output. The layers move: discard <paramref name="source"/> afterwards.
    /// </summary>
    public static Graph Truncate(Graph source, Node last)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(last);
        if (source.Nodes.Count <= last.Index || source.Nodes[last.Index] != last) throw new ArgumentException($"{last} is not a node of this graph");
        var g = new Graph();
        var map = new Dictionary<Node, Node>();
        foreach (var input in source.Inputs) map[input] = g.AddInput(input.Name, input.InputShape!);
        foreach (var node in source.Nodes)
        {
            if (node.Layer is not { } layer || node.Index > last.Index) continue;
            map[node] = g.Add(layer, node.Inputs.Select(i => map[i]).ToArray());
        }
        g.MarkOutputOnly(map[last]);
        return g;
    }

    private static void AddLayers(Graph source, Graph target, Dictionary<Node, Node> map)
    {
        foreach (var node in source.Nodes)
        {
            if (node.Layer is not { } layer) continue;
            var inputs = new Node[node.Inputs.Count];
            for (int i = 0; i < inputs.Length; i++) inputs[i] = map[node.Inputs[i]];
            map[node] = target.Add(layer, inputs);
        }
    }

    /// <summary>
    /// The first graph's output shape (unknown input dimensions taken as 1) against the second graph's declared input
    /// shape; dimension 0 (the batch) is left to run time, as is any dimension the second graph declares as -1.
    /// </summary>
    private static void CheckJoin(Graph first, Graph second)
    {
        var shapes = first.InferShapes(first.Inputs.Select(i => i.InputShape!.Select(d => d < 0 ? 1 : d).ToArray()).ToList());
        int[] produced = shapes[first.Output.Name];
        int[] expected = second.Inputs[0].InputShape!;
        bool ok = produced.Length == expected.Length;
        for (int d = 1; ok && d < expected.Length; d++) ok = expected[d] < 0 || expected[d] == produced[d];
        if (!ok)
            throw new ShapeException($"cannot chain: '{first.Output.Name}' produces {Tensor.Format(produced)} but input '{second.Inputs[0].Name}' expects {Tensor.Format(expected).Replace("-1", "N")}");
    }
}
