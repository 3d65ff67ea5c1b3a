// GradientPathTests: the gradient of a class score (a logit) with respect to a layer's output, by GradientPath, against
// central finite differences of that score (the layer's output perturbed, the rest of the network re-run) on lenet and
// on a small ResNet (residual blocks, strided projections), for the graph as built and for its fused inference graph;
// the fused graph's gradients against the unfused graph's; only the layers between the two nodes run; a layer without
// a backward is named in the error.
using CameraCnn.Engine.Explain;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Optimization;
using CameraCnn.Engine.Tests.Layers;
using CameraCnn.Engine.Tests.Performance;
using Xunit.Abstractions;

namespace CameraCnn.Engine.Tests.Explain;

[Collection("Parallelism")]
public sealed class GradientPathTests(ITestOutputHelper output)
{
    internal static (Graph Graph, Tensor Input) Network(string arch, int seed)
    {
        var (c, h, w) = arch == "lenet" ? (1, 28, 28) : (3, 16, 16);
        var g = Architectures.Build(arch, c, h, w, 6);
        InferenceFusionTests.Randomize(g, seed);
        return (g, TestKit.RandomTensor(new Random(seed + 100), 0, 1, 1, c, h, w));
    }

    /// <summary>Re-runs every node after <paramref name="from"/> as Graph's forward does, and reads logit k.</summary>
    internal static float ScoreAfter(Graph g, Node from, Node logits, int k)
    {
        for (int i = from.Index + 1; i <= logits.Index; i++)
        {
            var n = g.Nodes[i];
            if (n.Layer is null) continue;
            var values = n.Inputs.Select(v => v.Output).ToArray();
            if (n.Layer is OutputAlias) n.Output = values[0];
            else n.Layer.Forward(values, n.Output);
        }
        return logits.Output.Data[k];
    }

    /// <summary>
    /// Finite differences of logit k with respect to elements of the target's output (all of them, or a seeded sample
    /// of <paramref name="sample"/>), against the analytic gradient. The networks are piecewise linear at inference, so
    /// the one-sided slopes agree unless a ReLU or max-pool kink lies within h: such elements are skipped and counted
    /// (many sit exactly on one: a zero activation tied with others in an all-zero max-pool window), but at least 40 %
    /// of the sample must be checked. The forward is float: its rounding moves the score by a few 1e-6, so the slopes at
    /// h = 5e-3 carry noise up to ~3e-4 (measured: the left and right slopes of smooth elements differ by that much);
    /// the tolerance is 5e-4 + 2e-3 max|grad| + 1 % of the value. Kinks on both sides that change the slope alike escape that check, so up to 2 % of the
    /// checked elements may miss (each is printed); a wrong gradient misses everywhere. The per-layer checks
    /// (InputGradientTests, GradientTests) hold every element against double-precision references.
    /// </summary>
    private void CheckAgainstFiniteDifferences(Graph g, Node target, Node logits, int k, Tensor analytic, int sample, string what)
    {
        const float h = 5e-3f;
        float[] a = target.Output.Data;
        Assert.Equal(a.Length, analytic.Length);
        double scale = analytic.Data.Max(v => Math.Abs(v));
        Assert.True(scale > 1e-4, $"{what}: the gradient is (near) zero everywhere ({scale:g3}); the check would prove nothing");
        var rng = new Random(TestKit.Seed(what));
        int[] elements = sample >= a.Length ? Enumerable.Range(0, a.Length).ToArray()
            : Enumerable.Range(0, a.Length).OrderBy(_ => rng.Next()).Take(sample).ToArray();
        int checkedCount = 0, kinks = 0, nonzero = 0, misses = 0;
        double worst = 0;
        float s0 = ScoreAfter(g, target, logits, k);
        const double noise = 5e-4;
        double atol = 2e-3 * scale + noise, rtol = 1e-2;
        foreach (int e in elements)
        {
            float keep = a[e];
            a[e] = keep + h;
            double plus = ScoreAfter(g, target, logits, k);
            a[e] = keep - h;
            double minus = ScoreAfter(g, target, logits, k);
            a[e] = keep;
            double right = (plus - s0) / h, left = (s0 - minus) / h;
            if (Math.Abs(right - left) > atol + rtol * Math.Abs(right))
            {
                kinks++;
                continue;
            }
            double fd = (plus - minus) / (2 * h), an = analytic.Data[e];
            double err = Math.Abs(an - fd);
            worst = Math.Max(worst, err);
            if (err > atol + rtol * Math.Abs(fd))
            {
                misses++;
                output.WriteLine($"{what}: element {e}: analytic {an:g6}, finite differences {fd:g6} (left {left:g6}, right {right:g6}; tolerance {atol + rtol * Math.Abs(fd):g3})");
            }
            checkedCount++;
            if (Math.Abs(fd) > 1e-2 * scale) nonzero++;
        }
        ScoreAfter(g, target, logits, k); // leave the graph's values as the forward left them
        output.WriteLine($"{what}: {checkedCount} elements checked ({nonzero} with a gradient above 1 % of the largest), {kinks} skipped at kinks, " +
                         $"{misses} outside the tolerance; max |analytic - fd| {worst:g3} of max |grad| {scale:g3}");
        Assert.True(misses <= checkedCount / 50, $"{what}: {misses} of {checkedCount} elements differ from the finite differences");
        Assert.True(checkedCount >= elements.Length * 2 / 5, $"{what}: {kinks} of {elements.Length} elements at kinks, only {checkedCount} checked");
        Assert.True(nonzero >= Math.Min(20, elements.Length / 4), $"{what}: only {nonzero} elements with a non-trivial gradient");
    }

    public static TheoryData<string, bool, string> Targets => new()
    {
        { "lenet", false, "pool2" }, { "lenet", false, "conv2_relu" }, { "lenet", false, "conv2_bn" }, { "lenet", false, "pool1" },
        { "lenet", false, "conv1" },
        { "lenet", true, "pool2" }, { "lenet", true, "conv2_relu" }, { "lenet", true, "conv1_relu" },
        { "small-resnet", false, "block3_relu" }, { "small-resnet", false, "block3_conv1_relu" }, { "small-resnet", false, "block2_add" },
        { "small-resnet", false, "block1_relu" }, { "small-resnet", false, "stem_relu" },
        { "small-resnet", true, "block3_relu" }, { "small-resnet", true, "block3_conv1_relu" }, { "small-resnet", true, "block2_relu" },
        { "small-resnet", true, "stem_relu" },
    };

    [Theory]
    [MemberData(nameof(Targets))]
    public void Class_score_gradient_matches_finite_differences(string arch, bool fused, string layer)
    {
        var (source, x) = Network(arch, 3);
        var g = fused ? InferenceFusion.Fuse(source) : source;
        g.Forward(x);
        var logits = g["logits"];
        var target = g[layer];
        var path = new GradientPath(g, target, logits);
        foreach (int k in new[] { 0, 4 })
        {
            var seed = new float[logits.Output.Length];
            seed[k] = 1;
            var analytic = path.Run(seed).Clone();
            TestKit.AssertShape(target.Output.Shape, analytic, layer);
            CheckAgainstFiniteDifferences(g, target, logits, k, analytic, 400, $"{arch}{(fused ? " fused" : "")} d logit{k} / d {layer}");
        }
    }

    [Theory]
    [InlineData("lenet")]
    [InlineData("small-resnet")]
    public void Fused_graph_gradients_equal_the_unfused_graphs(string arch)
    {
        var (source, x) = Network(arch, 5);
        var fused = InferenceFusion.Fuse(source);
        source.Forward(x);
        fused.Forward(x);
        int checkedLayers = 0;
        // Every node whose value both graphs share: a fused chain's last node, and every node outside chains.
        foreach (var f in fused.Nodes.Where(n => n.Layer is not null && n.Index < fused["logits"].Index))
        {
            if (fused.Nodes.Any(m => m.Layer is OutputAlias && m.Inputs[0] == f)) continue; // an alias later holds this value
            var s = source[f.Name];
            var seed = new float[6];
            seed[2] = 1;
            var want = new GradientPath(source, s, source["logits"]).Run(seed);
            var got = new GradientPath(fused, f, fused["logits"]).Run(seed);
            double scale = want.Data.Max(v => Math.Abs(v));
            double diff = want.Data.Zip(got.Data, (p, q) => Math.Abs(p - q)).Max();
            output.WriteLine($"{arch} d logit2 / d {f.Name}: max |fused - unfused| {diff:g3}, max |grad| {scale:g3}");
            Assert.True(diff <= 1e-4 * scale + 1e-7, $"{f.Name}: fused and unfused gradients differ by {diff:g3} (scale {scale:g3})");
            checkedLayers++;
        }
        Assert.True(checkedLayers >= 6, $"only {checkedLayers} layers compared");
    }

    [Fact]
    public void Only_the_layers_between_the_two_nodes_run_and_no_parameter_gradient_changes()
    {
        var (g, x) = Network("small-resnet", 7);
        g.Forward(x);
        foreach (var p in g.Parameters) p.Grad.Data.AsSpan().Fill(0.5f);
        var path = new GradientPath(g, g["block3_relu"], g["logits"]);
        Assert.Equal(["logits", "flatten", "gap"], path.Steps.Select(n => n.Name));
        var seed = new float[6];
        seed[1] = 1;
        path.Run(seed);
        var deep = new GradientPath(g, g["stem_relu"], g["logits"]);
        Assert.DoesNotContain(deep.Steps, n => n.Name.StartsWith("stem", StringComparison.Ordinal));
        Assert.Contains(deep.Steps, n => n.Name == "block1_conv1");
        deep.Run(seed);
        foreach (var (name, p) in g.NamedParameters)
            Assert.True(p.Grad.Data.All(v => v == 0.5f), $"{name}: its gradient changed");
    }

    [Fact]
    public void The_target_must_feed_the_source()
    {
        var (g, _) = Network("lenet", 1);
        var e = Assert.Throws<ArgumentException>(() => new GradientPath(g, g["logits"], g["pool2"]));
        Assert.Contains("does not feed", e.Message);
        var other = Network("lenet", 2).Graph;
        Assert.Throws<ArgumentException>(() => new GradientPath(g, other["pool2"], g["logits"]));
    }

    [Fact]
    public void A_layer_without_a_backward_is_named()
    {
        var g = new Graph();
        var x = g.AddInput("input", 1, 1, 6, 6);
        var conv = g.Add(new Conv2d(1, 2, 3, 1, 1) { Name = "conv" }, x);
        var odd = g.Add(new NoBackward { Name = "odd" }, conv);
        var gap = g.Add(new GlobalAvgPool { Name = "gap" }, odd);
        var flat = g.Add(new Flatten { Name = "flat" }, gap);
        var logits = g.Add(new Dense(2, 3) { Name = "logits" }, flat);
        g.MarkOutput(logits);
        g.Forward(TestKit.RandomTensor(new Random(1), 0, 1, 1, 1, 6, 6));
        var path = new GradientPath(g, conv, logits);
        var e = Assert.Throws<NotSupportedException>(() => path.Run([1f, 0f, 0f]));
        Assert.Contains("NoBackward 'odd'", e.Message);
        // Above that layer the gradient flows.
        Assert.Equal(2 * 6 * 6, new GradientPath(g, odd, logits).Run([1f, 0f, 0f]).Length);
    }
}
