// GraphChainTests: chaining two graphs gives the same values as running them one after the other, keeps every
// layer tappable under its name, and refuses joins that cannot work (counts and shapes).
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Training;

namespace CameraCnn.Engine.Tests.Backbone;

public sealed class GraphChainTests
{
    /// <summary>[N,3,8,8] -> conv 3x3 pad 1 -> ReLU -> [N,4,8,8]: a stand-in for a preprocessing graph.</summary>
    private static Graph Front(int seed)
    {
        var g = new Graph();
        var x = g.AddInput("image", -1, 3, 8, 8);
        var c = g.Add(new Conv2d(3, 4, 3, pad: 1) { Name = "conv" }, x);
        g.Add(new ReLU { Name = "relu" }, c);
        Initializer.Initialize(g, seed);
        return g;
    }

    /// <summary>[N,4,8,8] -> conv + residual add (fan-out of the input) -> pool -> dense: a stand-in for a backbone.</summary>
    private static Graph Back(int seed)
    {
        var g = new Graph();
        var x = g.AddInput("features", -1, 4, 8, 8);
        var c = g.Add(new Conv2d(4, 4, 3, pad: 1) { Name = "conv" }, x); // same name as in Front: must not clash
        var sum = g.Add(new ResidualAdd { Name = "sum" }, c, x);
        var pooled = g.Add(new GlobalAvgPool { Name = "pool" }, sum);
        var flat = g.Add(new Flatten { Name = "flat" }, pooled);
        var dense = g.Add(new Dense(4, 5) { Name = "dense" }, flat);
        g.MarkOutput(dense);
        Initializer.Initialize(g, seed);
        return g;
    }

    private static Tensor Input(int batch, int seed)
    {
        var rng = new Random(seed);
        var t = new Tensor(batch, 3, 8, 8);
        for (int i = 0; i < t.Length; i++) t.Data[i] = rng.NextSingle() * 2 - 1;
        return t;
    }

    [Fact]
    public void Chained_graph_equals_running_both_in_sequence()
    {
        var x = Input(2, 5);
        var middle = Front(1).Forward(x).Clone();
        float[] expected = Back(2).Forward(middle).Data.ToArray();

        // Fresh graphs with the same seeds: the chained graph owns their layers.
        var chained = GraphChain.Chain(Front(1), Back(2));
        float[] actual = chained.Forward(x).Data;

        Assert.Equal(expected, actual); // the same kernels in the same order: bit-identical
        Assert.Equal([2, 5], chained.Output.Output.Shape);
    }

    [Fact]
    public void Chain_keeps_inputs_outputs_and_taps_of_both_graphs()
    {
        var chained = GraphChain.Chain(Front(1), Back(2));
        Assert.Single(chained.Inputs);
        Assert.Equal("image", chained.Inputs[0].Name);
        Assert.Equal([-1, 3, 8, 8], chained.Inputs[0].InputShape!);
        Assert.Equal("dense", chained.Output.Name);
        // 1 input + 2 front layers + 5 back layers; the second "conv" gets a suffix instead of clashing.
        Assert.Equal(["image", "conv", "relu", "conv_1", "sum", "pool", "flat", "dense"], chained.Nodes.Select(n => n.Name));
        // The back graph's input is bound to the front graph's output: the residual add reads relu.
        Assert.Equal(["conv_1", "relu"], chained["sum"].Inputs.Select(n => n.Name));
        Assert.Equal(["relu"], chained["conv_1"].Inputs.Select(n => n.Name));
        chained.Forward(Input(1, 3));
        Assert.Equal([1, 4, 8, 8], chained["relu"].Output.Shape); // a tap inside the first part
        Assert.Equal(2 + 2 + 2, chained.Parameters.Count()); // conv W,b + conv W,b + dense W,b
    }

    [Fact]
    public void Chain_trains_through_the_join()
    {
        var chained = GraphChain.Chain(Front(1), Back(2));
        var x = Input(2, 9);
        chained.Forward(x, training: true);
        chained.ZeroGrad();
        var dOut = new Tensor(chained.Output.Output.Shape);
        dOut.Data.AsSpan().Fill(1f);
        chained.Backward(chained.Output, dOut);
        var frontConv = (Conv2d)chained["conv"].Layer!;
        Assert.Contains(frontConv.Weight.Grad.Data, v => v != 0); // the gradient crossed from the back part into the front
    }

    [Fact]
    public void Shape_mismatch_at_the_join_is_refused()
    {
        var front = new Graph();
        var x = front.AddInput("x", -1, 3, 8, 8);
        front.Add(new Conv2d(3, 4, 3) { Name = "valid_conv" }, x); // no padding: [N,4,6,6]
        var e = Assert.Throws<ShapeException>(() => GraphChain.Chain(front, Back(2)));
        Assert.Contains("valid_conv", e.Message);
        Assert.Contains("features", e.Message);
    }

    [Fact]
    public void Counts_that_cannot_join_are_refused()
    {
        var twoOutputs = Front(1);
        twoOutputs.MarkOutput(twoOutputs["conv"]);
        twoOutputs.MarkOutput(twoOutputs["relu"]);
        Assert.Throws<ArgumentException>(() => GraphChain.Chain(twoOutputs, Back(2)));

        var twoInputs = new Graph();
        var a = twoInputs.AddInput("a", -1, 4, 8, 8);
        var b = twoInputs.AddInput("b", -1, 4, 8, 8);
        twoInputs.Add(new ResidualAdd(), a, b);
        Assert.Throws<ArgumentException>(() => GraphChain.Chain(Front(1), twoInputs));

        var g = Front(1);
        Assert.Throws<ArgumentException>(() => GraphChain.Chain(g, g));
    }
}
