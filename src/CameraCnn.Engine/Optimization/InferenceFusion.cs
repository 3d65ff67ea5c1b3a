// InferenceFusion: an explicit pass that turns a graph into a faster inference-only graph. Each Conv2d becomes a
// FusedConv2d with pre-packed weights, absorbing what follows it when it is the conv's only consumer:
// BatchNorm2d (folded into weights and bias), a ResidualAdd (the other operand added in the GEMM epilogue) and ReLU.
// It does not change the source graph, which keeps training as before.
using CameraCnn.Engine.Layers;

namespace CameraCnn.Engine.Optimization;

/// <summary>
/// Builds the fused inference graph of a graph.
/// <para>
/// Taps: every node name of the source graph exists in the fused graph. A node absorbed into a fused conv becomes an
/// <see cref="OutputAlias"/> node whose output is the fused conv's output tensor (no copy). So the conv, its batch
/// norm, the residual add and the ReLU of a fused chain all read the chain's final value (after the ReLU): a feature
/// map view of "conv1" shows the activation the next layer sees. Pooling and every other layer keep their exact
/// outputs.
/// </para>
/// <para>
/// Snapshot: conv weights and batch-norm statistics are copied (folded and packed) when <see cref="Fuse"/> runs;
/// fuse again after training changes them. Every layer that is not fused (pooling, dense, activations, ...) is the
/// source graph's own instance, shared: do not run the source and the fused graph at the same time on different
/// threads (layers keep per-call scratch). Dropout becomes an alias (identity at inference). A residual Add is
/// fused only when shape inference (batch 1) shows both operands have the conv's output shape.
/// </para>
/// </summary>
public static class InferenceFusion
{
    /// <summary>Returns the fused inference graph of <paramref name="source"/> (same inputs, outputs and node names).</summary>
    public static Graph Fuse(Graph source, FusionOptions? options = null)
    {
        options ??= FusionOptions.Default;
        var nodes = source.Nodes;
        var consumers = new int[nodes.Count];
        var lastConsumer = new Node?[nodes.Count];
        foreach (var n in nodes)
            foreach (var i in n.Inputs)
            {
                consumers[i.Index]++;
                lastConsumer[i.Index] = n;
            }
        var isOutput = new bool[nodes.Count];
        foreach (var o in source.Outputs) isOutput[o.Index] = true;
        var shapes = TryInferShapes(source);
        bool SameShape(Node a, Node b) => shapes is not null && shapes.TryGetValue(a.Name, out var sa)
            && shapes.TryGetValue(b.Name, out var sb) && Tensor.SameShape(sa, sb);

        // chainOf[i]: the chain (conv first) that node i belongs to.
        var chainOf = new List<Node>?[nodes.Count];

        // The only consumer of a node, when it may be fused into it: one consumer, not a graph output, in no chain yet
        // (an Add fed by two convs joins the first one's chain only).
        Node? Single(Node n) => consumers[n.Index] == 1 && !isOutput[n.Index] && lastConsumer[n.Index] is { } c
            && chainOf[c.Index] is null ? c : null;

        foreach (var n in nodes)
        {
            if (n.Layer is not Conv2d conv || chainOf[n.Index] is not null) continue;
            var chain = new List<Node> { n };
            Node cur = n;
            if (Single(cur) is { Layer: BatchNorm2d bn } b && bn.Channels == conv.OutChannels && b.Inputs.Count == 1)
            {
                chain.Add(b);
                cur = b;
            }
            if (Single(cur) is { Layer: ResidualAdd } add && add.Inputs.Count == 2 && add.Inputs[0] != add.Inputs[1]
                && SameShape(add.Inputs[0], add.Inputs[1]))
            {
                chain.Add(add);
                cur = add;
            }
            if (Single(cur) is { Layer: ReLU } relu)
            {
                chain.Add(relu);
                cur = relu;
            }
            foreach (var c in chain) chainOf[c.Index] = chain;
        }

        var g = new Graph();
        var map = new Node[nodes.Count];
        foreach (var n in nodes)
        {
            if (n.Layer is not { } layer)
            {
                map[n.Index] = g.AddInput(n.Name, n.InputShape!);
                continue;
            }
            if (chainOf[n.Index] is { } chain)
            {
                // A chain is emitted where its last node was: by then the residual operand exists too.
                if (chain[^1] != n) continue;
                EmitChain(g, chain, map, options, shapes);
                continue;
            }
            Layer copy = layer is Dropout ? new OutputAlias { Name = n.Name, FusedKind = nameof(Dropout) } : layer;
            map[n.Index] = g.Add(copy, n.Inputs.Select(i => map[i.Index]).ToArray());
        }
        foreach (var o in source.Outputs) g.MarkOutput(map[o.Index]);
        return g;
    }

    private static void EmitChain(Graph g, List<Node> chain, Node[] map, FusionOptions options, Dictionary<string, int[]>? shapes)
    {
        var convNode = chain[0];
        var conv = (Conv2d)convNode.Layer!;
        BatchNorm2d? bn = null;
        Node? residual = null;
        bool relu = false;
        Node prev = convNode;
        foreach (var n in chain.Skip(1))
        {
            switch (n.Layer)
            {
                case BatchNorm2d b: bn = b; break;
                case ResidualAdd: residual = n.Inputs[0] == prev ? n.Inputs[1] : n.Inputs[0]; break;
                case ReLU: relu = true; break;
            }
            prev = n;
        }
        int[]? inputShape = shapes is not null && shapes.TryGetValue(convNode.Inputs[0].Name, out var xs) ? xs : null;
        var fused = new FusedConv2d(conv, bn, residual is not null, relu, options.Winograd, inputShape, options.Direct) { Name = convNode.Name };
        Node[] inputs = residual is null ? [map[convNode.Inputs[0].Index]] : [map[convNode.Inputs[0].Index], map[residual.Index]];
        Node last = map[convNode.Index] = g.Add(fused, inputs);
        foreach (var n in chain.Skip(1))
            last = map[n.Index] = g.Add(new OutputAlias { Name = n.Name, FusedKind = n.Layer!.GetType().Name }, last);
    }

    /// <summary>Every node's output shape for a batch of 1, or null when the graph's inputs do not say enough.</summary>
    private static Dictionary<string, int[]>? TryInferShapes(Graph g)
    {
        try
        {
            var inputs = g.Inputs.Select(i => i.InputShape!.Select(d => d < 0 ? 1 : d).ToArray()).ToList();
            return g.InferShapes(inputs);
        }
        catch (Exception e) when (e is ShapeException or ArgumentException or InvalidOperationException or KeyNotFoundException)
        {
            return null;
        }
    }
}
