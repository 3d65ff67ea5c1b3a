// TrainedPart: the part of a network after a fine-tuning cut as a graph of its own, built from COPIES of the layers
// (new instances, weights copied), so it trains on one thread while the source network runs inference on another;
// and the way back: trained weights copied into another instance of the network by node name. No training here.
using CameraCnn.Engine.Layers;

namespace CameraCnn.Engine.Teach;

/// <summary>Builds the trainable graph after a <see cref="Cut"/> and copies weights between graphs by node name.</summary>
public static class TrainedPart
{
    /// <summary>Name of the trained graph's input: the activations at the cut.</summary>
    public const string InputName = "cut_activations";

    /// <summary>
    /// A new graph: input <see cref="InputName"/> [-1, C, H, W] (the cut's shape), then a copy of every node after the
    /// cut that <paramref name="end"/> depends on, under the same names; its output is the copy of <paramref name="end"/>
    /// (default: the source's first output). <paramref name="source"/> is not changed and shares nothing with the result.
    /// </summary>
    /// <exception cref="NotSupportedException">A layer after the cut is of a kind this copy does not know.</exception>
    public static Graph Build(Graph source, Cut cut, Node? end = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(cut);
        end ??= source.Output;
        var g = new Graph();
        var shape = (int[])cut.Shape.Clone();
        shape[0] = -1;
        var map = new Dictionary<Node, Node> { [cut.Node] = g.AddInput(InputName, shape) };
        foreach (var n in ResidualBlocks.TrainedNodes(source, cut, end))
        {
            var copy = Copy(n.Layer!);
            copy.Name = n.Name;
            map[n] = g.Add(copy, n.Inputs.Select(i => map[i]).ToArray());
        }
        g.MarkOutputOnly(map[end]);
        return g;
    }

    /// <summary>
    /// A new instance of <paramref name="layer"/> with the same configuration and a copy of its parameters (values
    /// only: gradients start at zero, scratch is its own).
    /// </summary>
    /// <exception cref="NotSupportedException">A kind of layer fine-tuning does not expect in a backbone's last blocks.</exception>
    public static Layer Copy(Layer layer)
    {
        Layer copy = layer switch
        {
            Conv2d c => new Conv2d(c.InChannels, c.OutChannels, c.Window, c.Groups, c.Bias is not null),
            BatchNorm2d b => new BatchNorm2d(b.Channels, b.Epsilon, b.Momentum),
            Dense d => new Dense(d.InFeatures, d.OutFeatures, d.Bias is not null),
            ReLU => new ReLU(),
            LeakyReLU l => new LeakyReLU(l.Alpha),
            ResidualAdd => new ResidualAdd(),
            AvgPool2d a => new AvgPool2d(a.Window, a.CeilMode, a.CountIncludePad),
            MaxPool2d m => new MaxPool2d(m.Window, m.CeilMode),
            GlobalAvgPool => new GlobalAvgPool(),
            Flatten f => new Flatten(f.Axis),
            _ => throw new NotSupportedException($"fine-tuning cannot train {layer}: a {layer.GetType().Name} after the cut is not supported"),
        };
        copy.Name = layer.Name;
        CopyValues(layer, copy);
        return copy;
    }

    /// <summary>
    /// Copies the parameter values of every layer of <paramref name="from"/> into the same-named node of
    /// <paramref name="into"/> (running statistics included). Returns how many nodes were copied.
    /// </summary>
    /// <exception cref="InvalidDataException">A node of <paramref name="from"/> is missing from <paramref name="into"/>, or
    /// its layer differs in kind or parameter shapes.</exception>
    public static int CopyWeights(Graph from, Graph into)
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(into);
        int copied = 0;
        foreach (var n in from.Nodes)
        {
            if (n.Layer is not { } layer || layer.Parameters.Count == 0) continue;
            if (!into.TryGetNode(n.Name, out var target) || target.Layer is not { } t || t.GetType() != layer.GetType())
                throw new InvalidDataException($"the network has no {layer.GetType().Name} named '{n.Name}' to take the trained weights");
            CopyValues(layer, t);
            copied++;
        }
        return copied;
    }

    private static void CopyValues(Layer from, Layer to)
    {
        var a = from.Parameters;
        var b = to.Parameters;
        if (a.Count != b.Count) throw new InvalidDataException($"{from} and {to} have different parameters");
        for (int i = 0; i < a.Count; i++)
        {
            if (!a[i].Value.HasShape(b[i].Value.Shape))
                throw new InvalidDataException($"{from}.{a[i].Name} is {a[i].Value.ShapeString}, the target's is {b[i].Value.ShapeString}");
            a[i].Value.Data.AsSpan().CopyTo(b[i].Value.Data);
        }
    }
}
