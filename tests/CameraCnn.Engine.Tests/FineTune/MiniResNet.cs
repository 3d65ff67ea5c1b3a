// MiniResNet: a small residual network built from engine layers the way CNTK exported ResNet18 (conv, batch norm, ReLU,
// Add with an identity or a projection shortcut, average pooling), seeded, with batch-norm statistics that are not the
// identity, for the fine-tuning tests; plus labelled inputs whose classes differ in where the bright patch is.
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Training;

namespace CameraCnn.Engine.Tests.FineTune;

internal static class MiniResNet
{
    public const int Channels = 3, Size = 8, Features = 6;

    /// <summary>
    /// image [N, 3, 8, 8] -> stem (conv 3x3, BN, ReLU "stem_relu") -> identity block ("b1_out") -> projection block with
    /// stride 2 ("b2_out") -> identity block ("b3_out") -> global average pooling "features" [N, 6, 1, 1]. Same seed, same
    /// weights: call it twice for two independent instances.
    /// </summary>
    public static Graph Build(int seed = 5)
    {
        var g = new Graph();
        var x = g.AddInput("image", -1, Channels, Size, Size);
        var stem = g.Add(new ReLU { Name = "stem_relu" }, Bn(g, g.Add(new Conv2d(Channels, 4, 3, 1, 1, bias: false) { Name = "stem_conv" }, x), 4, "stem_bn"));
        var b1 = Block(g, stem, 4, 4, 1, "b1");
        var b2 = Block(g, b1, 4, 6, 2, "b2");
        var b3 = Block(g, b2, 6, 6, 1, "b3");
        g.MarkOutputOnly(g.Add(new GlobalAvgPool { Name = "features" }, b3));
        Initializer.Initialize(g, seed);
        var rng = new Random(seed + 1);
        foreach (var n in g.Nodes)
            if (n.Layer is BatchNorm2d bn)
                for (int c = 0; c < bn.Channels; c++)
                {
                    bn.Scale.Value.Data[c] = 0.5f + rng.NextSingle();
                    bn.Shift.Value.Data[c] = 0.4f * rng.NextSingle() - 0.2f;
                    bn.RunningMean.Value.Data[c] = 0.4f * rng.NextSingle() - 0.2f;
                    bn.RunningVar.Value.Data[c] = 0.5f + rng.NextSingle();
                }
        return g;
    }

    private static Node Bn(Graph g, Node x, int c, string name) => g.Add(new BatchNorm2d(c) { Name = name }, x);

    /// <summary>relu(bn(conv(relu(bn(conv(x))))) + shortcut(x)); the shortcut is conv 1x1 + BN when the shape changes.</summary>
    private static Node Block(Graph g, Node x, int cin, int cout, int stride, string name)
    {
        Node shortcut = x;
        if (stride != 1 || cin != cout)
            shortcut = Bn(g, g.Add(new Conv2d(cin, cout, 1, stride, 0, bias: false) { Name = name + "_proj" }, x), cout, name + "_proj_bn");
        var a = g.Add(new ReLU { Name = name + "_relu1" }, Bn(g, g.Add(new Conv2d(cin, cout, 3, stride, 1, bias: false) { Name = name + "_conv1" }, x), cout, name + "_bn1"));
        var b = Bn(g, g.Add(new Conv2d(cout, cout, 3, 1, 1, bias: false) { Name = name + "_conv2" }, a), cout, name + "_bn2");
        var sum = g.Add(new ResidualAdd { Name = name + "_add" }, b, shortcut);
        return g.Add(new ReLU { Name = name + "_out" }, sum);
    }

    /// <summary>
    /// <paramref name="count"/> images of <paramref name="classes"/> classes (in class order, round robin): noise plus a
    /// bright 3x3 patch whose corner depends on the class. Deterministic for a seed.
    /// </summary>
    public static (Tensor Images, int[] Labels) Images(int count, int classes, int seed)
    {
        var rng = new Random(seed);
        var x = new Tensor(count, Channels, Size, Size);
        var labels = new int[count];
        for (int i = 0; i < count; i++)
        {
            int label = labels[i] = i % classes;
            int oy = (label % 2) * 4 + rng.Next(2), ox = (label / 2 % 2) * 4 + rng.Next(2);
            for (int c = 0; c < Channels; c++)
                for (int y = 0; y < Size; y++)
                    for (int xx = 0; xx < Size; xx++)
                    {
                        bool patch = y >= oy && y < oy + 3 && xx >= ox && xx < ox + 3;
                        x[i, c, y, xx] = (patch ? 1.5f : 0f) + 0.5f * (rng.NextSingle() - 0.5f);
                    }
        }
        return (x, labels);
    }
}
