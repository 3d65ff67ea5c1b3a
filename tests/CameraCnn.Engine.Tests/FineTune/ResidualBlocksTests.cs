// ResidualBlocksTests: residual blocks found by structure (identity and projection shortcuts), the cut before the last N
// of them, and the one-line refusals: N out of range, a network without residual blocks.
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Teach;

namespace CameraCnn.Engine.Tests.FineTune;

public sealed class ResidualBlocksTests
{
    [Fact]
    public void Finds_identity_and_projection_blocks_in_order()
    {
        var g = MiniResNet.Build();
        var blocks = ResidualBlocks.Find(g);
        Assert.Equal(["stem_relu", "b1_out", "b2_out"], blocks.Select(b => b.Entry.Name));
        Assert.Equal(["b1_add", "b2_add", "b3_add"], blocks.Select(b => b.Add.Name));
        Assert.Equal(["b1_out", "b2_out", "b3_out"], blocks.Select(b => b.Output.Name));
        Assert.Equal([false, true, false], blocks.Select(b => b.Projection));
    }

    [Theory]
    [InlineData(1, "b2_out", 6, 4)]
    [InlineData(2, "b1_out", 4, 8)]
    [InlineData(3, "stem_relu", 4, 8)]
    public void The_cut_is_the_entry_of_the_first_trained_block(int n, string node, int channels, int size)
    {
        var g = MiniResNet.Build();
        var cut = ResidualBlocks.CutBefore(g, n);
        Assert.Equal(node, cut.Node.Name);
        Assert.Equal(n, cut.Blocks);
        Assert.Equal(3, cut.TotalBlocks);
        Assert.Equal([1, channels, size, size], cut.Shape);
        Assert.Equal(channels * size * size, cut.Dimension);
        // Everything after the cut that the features need, and nothing before it.
        var trained = ResidualBlocks.TrainedNodes(g, cut);
        Assert.All(trained, t => Assert.True(t.Index > cut.Node.Index));
        Assert.Equal("features", trained[^1].Name);
    }

    [Fact]
    public void Nodes_after_the_end_node_are_not_part_of_the_cut()
    {
        // A head after the features (as in a saved teach model): the blocks and the trained part stop at the features.
        var g = MiniResNet.Build();
        var features = g.Output;
        var head = g.Add(new Dense(MiniResNet.Features, 3) { Name = "fc" }, g.Add(new Flatten { Name = "flat" }, features));
        g.MarkOutputOnly(g.Add(new Softmax { Name = "probabilities" }, head));
        Assert.Empty(ResidualBlocks.Find(g, head).Except(ResidualBlocks.Find(g, features)));
        var cut = ResidualBlocks.CutBefore(g, 2, features);
        Assert.Equal("b1_out", cut.Node.Name);
        Assert.Equal("features", ResidualBlocks.TrainedNodes(g, cut, features)[^1].Name);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    [InlineData(-1)]
    public void A_block_count_out_of_range_is_refused_in_one_line(int n)
    {
        var e = Assert.Throws<ArgumentException>(() => ResidualBlocks.CutBefore(MiniResNet.Build(), n));
        Assert.Contains("must be in 1..3", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void A_network_without_residual_blocks_is_refused()
    {
        var g = new Graph();
        var x = g.AddInput("x", -1, 3, 8, 8);
        var c = g.Add(new Conv2d(3, 4, 3, 1, 1) { Name = "conv" }, x);
        var r = g.Add(new ReLU { Name = "relu" }, c);
        // A broadcast Add of a constant is no block: its operands share no input.
        var bias = g.Add(new Constant(new Tensor([1, 4, 1, 1], [1f, 2f, 3f, 4f])) { Name = "bias" });
        var a = g.Add(new ResidualAdd { Name = "add" }, r, bias);
        g.MarkOutputOnly(g.Add(new GlobalAvgPool { Name = "pool" }, a));
        Assert.Empty(ResidualBlocks.Find(g));
        var e = Assert.Throws<ArgumentException>(() => ResidualBlocks.CutBefore(g, 1));
        Assert.Contains("no residual blocks", e.Message);
    }

    [Fact]
    public void An_add_fed_from_outside_its_paths_is_not_a_block()
    {
        // y = relu(conv(x)) + z with z a second input: the paths do not start at one node.
        var g = new Graph();
        var x = g.AddInput("x", -1, 2, 4, 4);
        var z = g.AddInput("z", -1, 2, 4, 4);
        var c = g.Add(new Conv2d(2, 2, 3, 1, 1) { Name = "conv" }, x);
        g.MarkOutputOnly(g.Add(new ResidualAdd { Name = "add" }, c, z));
        Assert.Empty(ResidualBlocks.Find(g));
    }
}
