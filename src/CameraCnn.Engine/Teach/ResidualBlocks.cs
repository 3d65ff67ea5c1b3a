// ResidualBlocks: finds the residual blocks of a network by the graph's structure (an Add whose two operands come from
// a conv branch and a shortcut that start at one common node) and where a cut before the last N of them falls, for
// fine-tuning. Reads the graph only; it changes and trains nothing.
using CameraCnn.Engine.Layers;

namespace CameraCnn.Engine.Teach;

/// <summary>One residual block: y = relu?(branch(x) + shortcut(x)) with x the <see cref="Entry"/> node.</summary>
/// <param name="Entry">The node both paths start from (the block's input).</param>
/// <param name="Add">The join of the two paths.</param>
/// <param name="Output">The block's last node: the ReLU right after the Add when there is one, else the Add.</param>
/// <param name="Projection">The shortcut has a convolution of its own (a downsampling block), not the identity.</param>
public sealed record ResidualBlock(Node Entry, Node Add, Node Output, bool Projection);

/// <summary>Where a fine-tuning run cuts a network: the frozen part computes <see cref="Node"/>, the rest trains.</summary>
/// <param name="Node">The cut node: the entry of the first trained block.</param>
/// <param name="Blocks">Residual blocks after the cut (trained).</param>
/// <param name="TotalBlocks">Residual blocks in the network.</param>
/// <param name="Shape">The cut node's output for one sample, batch first (e.g. [1, 512, 7, 7]).</param>
public sealed record Cut(Node Node, int Blocks, int TotalBlocks, int[] Shape)
{
    /// <summary>Values per sample at the cut (C x H x W).</summary>
    public int Dimension => (int)(Tensor.CheckedLength(Shape) / Math.Max(1, Shape[0]));

    public override string ToString() => $"'{Node.Name}' {Tensor.Format(Shape.AsSpan(1))} (the last {Blocks} of {TotalBlocks} residual blocks trained)";
}

/// <summary>Residual blocks of a graph, found structurally.</summary>
public static class ResidualBlocks
{
    /// <summary>
    /// The residual blocks of <paramref name="graph"/> in order, among the ancestors of <paramref name="end"/> (default: the
    /// graph's first output). A block is an element-wise Add of two operands such that the two paths back
    /// from it meet at one node (the entry), at least one path has a convolution, and nothing outside the paths feeds
    /// them: the entry is the only way in.
    /// </summary>
    public static IReadOnlyList<ResidualBlock> Find(Graph graph, Node? end = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        end ??= graph.Output;
        var relevant = Ancestors(end, graph.Nodes.Count);
        var consumers = Consumers(graph);
        var blocks = new List<ResidualBlock>();
        foreach (var add in graph.Nodes)
        {
            if (add.Layer is not ResidualAdd || add.Inputs.Count != 2 || !relevant[add.Index]) continue;
            Node a = add.Inputs[0], b = add.Inputs[1];
            if (a == b) continue;
            var upA = Ancestors(a, graph.Nodes.Count);
            var upB = Ancestors(b, graph.Nodes.Count);
            // The entry: the newest node both operands depend on.
            Node? entry = null;
            for (int i = Math.Min(a.Index, b.Index); i >= 0 && entry is null; i--)
                if (upA[i] && upB[i]) entry = graph.Nodes[i];
            if (entry is null) continue;
            if (!IsEnclosed(graph, entry, add, upA, upB, out bool convA, out bool convB)) continue;
            if (!convA && !convB) continue;
            // Projection: the shortcut side (the operand that is not the conv branch, or the shorter path) has a conv.
            bool projection = convA && convB;
            Node output = consumers[add.Index] is [{ Layer: ReLU } relu] && relevant[relu.Index] ? relu : add;
            blocks.Add(new ResidualBlock(entry, add, output, projection));
        }
        return blocks;
    }

    /// <summary>
    /// The cut before the last <paramref name="blocks"/> residual blocks of <paramref name="graph"/> (up to
    /// <paramref name="end"/>, default the first output). Everything the trained part reads from the frozen part goes
    /// through the cut node.
    /// </summary>
    /// <exception cref="ArgumentException">The graph has no residual blocks, <paramref name="blocks"/> is not in
    /// 1..count, or the graph does not separate at the cut (the message says which, in one line).</exception>
    public static Cut CutBefore(Graph graph, int blocks, Node? end = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        end ??= graph.Output;
        var found = Find(graph, end);
        if (found.Count == 0)
            throw new ArgumentException("the model has no residual blocks (an Add of a conv branch and a shortcut), so there is nothing to fine-tune");
        if (blocks < 1 || blocks > found.Count)
            throw new ArgumentException($"--fine-tune must be in 1..{found.Count}: the model has {found.Count} residual blocks, {blocks} asked for");
        var cut = found[found.Count - blocks].Entry;
        var trained = Ancestors(end, graph.Nodes.Count);
        foreach (var n in graph.Nodes)
        {
            if (n.Index <= cut.Index || !trained[n.Index]) continue;
            foreach (var i in n.Inputs)
                if (i != cut && i.Index < cut.Index)
                    throw new ArgumentException($"the model does not separate at '{cut.Name}': '{n.Name}' after it reads '{i.Name}' before it");
        }
        var shapes = graph.InferShapes(graph.Inputs.Select(i => i.InputShape!.Select(d => d < 0 ? 1 : d).ToArray()).ToList());
        return new Cut(cut, blocks, found.Count, (int[])shapes[cut.Name].Clone());
    }

    /// <summary>The nodes after the cut that <paramref name="end"/> depends on, in graph order: what fine-tuning trains.</summary>
    public static IReadOnlyList<Node> TrainedNodes(Graph graph, Cut cut, Node? end = null)
    {
        end ??= graph.Output;
        var up = Ancestors(end, graph.Nodes.Count);
        return graph.Nodes.Where(n => n.Index > cut.Node.Index && up[n.Index]).ToArray();
    }

    /// <summary>ancestors[i] (for each of the graph's <paramref name="count"/> nodes): node i is <paramref name="node"/> or one of the nodes it is computed from.</summary>
    private static bool[] Ancestors(Node node, int count)
    {
        var seen = new bool[count];
        var stack = new Stack<Node>();
        stack.Push(node);
        seen[node.Index] = true;
        while (stack.Count > 0)
            foreach (var i in stack.Pop().Inputs)
                if (!seen[i.Index])
                {
                    seen[i.Index] = true;
                    stack.Push(i);
                }
        return seen;
    }

    private static List<Node>[] Consumers(Graph graph)
    {
        var consumers = new List<Node>[graph.Nodes.Count];
        for (int i = 0; i < consumers.Length; i++) consumers[i] = [];
        foreach (var n in graph.Nodes)
            foreach (var i in n.Inputs) consumers[i.Index].Add(n);
        return consumers;
    }

    /// <summary>
    /// True when every node on the two paths (after <paramref name="entry"/>, before <paramref name="add"/>) reads only
    /// the entry or other nodes of the paths; reports whether each operand's path holds a convolution.
    /// </summary>
    private static bool IsEnclosed(Graph graph, Node entry, Node add, bool[] upA, bool[] upB, out bool convA, out bool convB)
    {
        convA = convB = false;
        // Nodes of the body: descendants of the entry among the operands' ancestors.
        var body = new bool[add.Index];
        for (int i = entry.Index + 1; i < add.Index; i++)
        {
            var n = graph.Nodes[i];
            bool onPath = upA[i] || upB[i];
            if (!onPath) continue;
            bool fromEntry = n.Inputs.Any(x => x == entry || (x.Index > entry.Index && body[x.Index]));
            if (!fromEntry) continue;
            if (n.Inputs.Any(x => x != entry && !(x.Index > entry.Index && body[x.Index]))) return false;
            body[i] = true;
            if (n.Layer is Conv2d)
            {
                if (upA[i]) convA = true;
                if (upB[i]) convB = true;
            }
        }
        // Each operand is the entry or a body node.
        foreach (var x in add.Inputs)
            if (x != entry && !(x.Index > entry.Index && x.Index < add.Index && body[x.Index])) return false;
        return true;
    }
}
