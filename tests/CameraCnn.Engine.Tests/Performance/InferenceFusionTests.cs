// InferenceFusionTests: the fused inference graph computes what the unfused graph computes (conv + batch norm
// folded, residual add and ReLU in the GEMM epilogue), on every micro-kernel path and thread count; every node name
// of the source graph is still a tap; what may not be fused (fan-out, graph outputs, broadcast adds) is not; the
// source graph is left untouched and still trains.
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Optimization;
using CameraCnn.Engine.Tests.Kernels;
using CameraCnn.Engine.Tests.Layers;

namespace CameraCnn.Engine.Tests.Performance;

[Collection("Parallelism")]
public sealed class InferenceFusionTests
{
    /// <summary>Random weights and trained-like batch-norm statistics (non-trivial scale, shift, mean, variance).</summary>
    internal static void Randomize(Graph g, int seed)
    {
        var rng = new Random(seed);
        foreach (var node in g.Nodes)
            switch (node.Layer)
            {
                case BatchNorm2d bn:
                    TestKit.Randomize(bn.Scale, rng, 0.5f, 1.5f);
                    TestKit.Randomize(bn.Shift, rng, -0.5f, 0.5f);
                    TestKit.Randomize(bn.RunningMean, rng, -0.3f, 0.3f);
                    TestKit.Randomize(bn.RunningVar, rng, 0.5f, 2f);
                    break;
                case { } layer:
                    foreach (var p in layer.Parameters) TestKit.Randomize(p, rng, -0.3f, 0.3f);
                    break;
            }
    }

    private static void AssertSame(Graph source, Graph fused, Tensor x, string what)
    {
        source.Forward(x);
        var want = source.Nodes.ToDictionary(n => n.Name, n => n.Output.Clone());
        fused.Forward(x);
        var tol = 1e-4;
        foreach (var n in source.Nodes)
        {
            Assert.True(fused.TryGetNode(n.Name, out var f), $"{what}: tap '{n.Name}' is missing from the fused graph");
            // Absorbed nodes alias the fused chain's final value; every other node must match its source exactly-ish.
            if (f.Layer is OutputAlias || f.Layer is FusedConv2d) continue;
            TestKit.AssertShape(want[n.Name].Shape, f.Output, $"{what}: {n.Name}");
            TestKit.AssertClose(TestKit.ToDouble(want[n.Name].Data), f.Output.Data, tol, tol, $"{what}: node {n.Name}");
        }
        // A chain's last node (what the rest of the network reads) carries the value of the source node of that name.
        foreach (var f in fused.Nodes.Where(n => n.Layer is OutputAlias or FusedConv2d))
        {
            bool isLastOfChain = !fused.Nodes.Any(m => m.Layer is OutputAlias && m.Inputs[0] == f);
            if (!isLastOfChain) continue;
            TestKit.AssertClose(TestKit.ToDouble(want[f.Name].Data), f.Output.Data, tol, tol, $"{what}: chain end {f.Name}");
        }
        for (int i = 0; i < source.Outputs.Count; i++)
        {
            Assert.Equal(source.Outputs[i].Name, fused.Outputs[i].Name);
            TestKit.AssertClose(TestKit.ToDouble(want[source.Outputs[i].Name].Data), fused.Outputs[i].Output.Data, tol, tol, $"{what}: output {i}");
        }
    }

    [Theory]
    [MemberData(nameof(KernelSettings.PathsAndThreads), MemberType = typeof(KernelSettings))]
    public void Fused_architectures_match_the_source(GemmPath path, int threads)
    {
        KernelSettings.Run(path, threads, () =>
        {
            foreach (var (arch, c, h, w) in new[] { ("lenet", 1, 28, 28), ("small-resnet", 3, 19, 17) })
            {
                var g = Architectures.Build(arch, c, h, w, 7);
                Randomize(g, 5);
                var fused = InferenceFusion.Fuse(g);
                foreach (int batch in new[] { 1, 3 })
                    AssertSame(g, fused, TestKit.RandomTensor(new Random(batch), -1, 1, batch, c, h, w), $"{arch} path={path} threads={threads} batch={batch}");
            }
        });
    }

    [Fact]
    public void Small_ResNet_fuses_every_conv_chain()
    {
        var g = Architectures.Build("small-resnet", 3, 16, 16, 5);
        var fused = InferenceFusion.Fuse(g);
        var convs = fused.Nodes.Select(n => n.Layer).OfType<FusedConv2d>().ToList();
        Assert.Equal(g.Nodes.Count(n => n.Layer is Conv2d), convs.Count);
        Assert.All(convs, c => Assert.True(c.FoldedBatchNorm));
        Assert.Equal(3, convs.Count(c => c.HasResidual && c.Relu)); // each block's second conv absorbs add + relu
        Assert.DoesNotContain(fused.Nodes, n => n.Layer is BatchNorm2d || n.Layer is ResidualAdd);
        Assert.Equal(g.Nodes.Select(n => n.Name).Order(), fused.Nodes.Select(n => n.Name).Order()); // every tap survives
    }

    [Fact]
    public void Fan_out_graph_outputs_and_broadcast_adds_are_not_fused()
    {
        var g = new Graph();
        var x = g.AddInput("x", -1, 4, 9, 9);
        var conv = g.Add(new Conv2d(4, 4, 3, 1, 1) { Name = "conv" }, x);
        var bn = g.Add(new BatchNorm2d(4) { Name = "bn" }, conv);
        var relu = g.Add(new ReLU { Name = "relu" }, bn);
        var side = g.Add(new Sigmoid { Name = "side" }, bn);            // bn has two consumers: relu stays apart
        var conv2 = g.Add(new Conv2d(4, 4, 1) { Name = "conv2" }, relu);
        g.MarkOutput(conv2);                                             // a graph output keeps its own value
        var bn2 = g.Add(new BatchNorm2d(4) { Name = "bn2" }, conv2);
        var pooled = g.Add(new GlobalAvgPool { Name = "gap" }, x);
        var add = g.Add(new ResidualAdd { Name = "badd" }, bn2, pooled); // broadcast add: not a residual
        g.MarkOutput(add);
        g.MarkOutput(side);
        Randomize(g, 9);
        var fused = InferenceFusion.Fuse(g);
        Assert.IsType<FusedConv2d>(fused["conv"].Layer);
        Assert.IsType<OutputAlias>(fused["bn"].Layer);
        Assert.IsType<ReLU>(fused["relu"].Layer);
        Assert.False(((FusedConv2d)fused["conv2"].Layer!).FoldedBatchNorm);
        Assert.IsType<BatchNorm2d>(fused["bn2"].Layer);
        Assert.IsType<ResidualAdd>(fused["badd"].Layer);
        AssertSame(g, fused, TestKit.RandomTensor(new Random(2), -1, 1, 2, 4, 9, 9), "fan-out");
    }

    [Fact]
    public void Source_graph_is_untouched_and_still_trains()
    {
        var g = Architectures.Build("small-resnet", 3, 12, 12, 4);
        Randomize(g, 3);
        var x = TestKit.RandomTensor(new Random(4), -1, 1, 2, 3, 12, 12);
        var before = g.Forward(x).Clone();
        var weights = g.Parameters.Select(p => p.Value.Data.ToArray()).ToList();
        var fused = InferenceFusion.Fuse(g);
        fused.Forward(x);
        Assert.Equal(before.Data, g.Forward(x).Data);
        Assert.Equal(weights, g.Parameters.Select(p => p.Value.Data.ToArray()).ToList());
        // A training forward and backward on the source still work; the fused graph refuses to train.
        g.ZeroGrad();
        var y = g.Forward(x, training: true);
        var dy = new Tensor(y.Shape);
        dy.Data.AsSpan().Fill(1f);
        g.Backward(g.Output, dy);
        Assert.Contains(g.Parameters, p => p.Grad.Data.Any(v => v != 0));
        var fy = fused.Forward(x);
        Assert.Throws<NotSupportedException>(() => fused.Backward(fused.Output, new Tensor(fy.Shape)));
    }
}
