// GradCamTests: the Grad-CAM map against a straightforward reference computed here (the training backward's gradient
// of the logit, channel weights = its spatial means, the weighted sum of the activations, ReLU, divided by the maximum)
// on the graph as built and on its fused inference graph; a head outside the graph (ClassifierHead, with and without a
// hidden layer) gives the map of the same head composed into one graph; an empty map; peak and centroid on a map made by
// hand; which layers are listed and which is the default; a Flatten + Dense right after the layer crossed by its weights'
// channel sums (and not when the layer also reaches the score another way); bad requests; and a steady-state Compute
// that allocates nothing.
using CameraCnn.Engine.Explain;
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Optimization;
using CameraCnn.Engine.Teach;
using CameraCnn.Engine.Tests.Layers;
using CameraCnn.Engine.Tests.Performance;
using CameraCnn.Engine.Training;
using Xunit.Abstractions;

namespace CameraCnn.Engine.Tests.Explain;

[Collection("Parallelism")]
public sealed class GradCamTests(ITestOutputHelper output)
{
    /// <summary>
    /// The reference of logit <paramref name="k"/> of <paramref name="g"/>'s "logits" node at <paramref name="layer"/>: the
    /// training backward (Graph.Backward) of that logit on the graph as built, then <see cref="Reference(float[], float[], int, int)"/>.
    /// Leaves the forward of <paramref name="x"/> in the graph.
    /// </summary>
    private static (double[] Map, double[] Weights) Reference(Graph g, Tensor x, Node layer, int k)
    {
        g.Forward(x);
        var logits = g["logits"];
        var dLogits = new Tensor(logits.Output.Shape);
        dLogits[k] = 1;
        g.Backward(logits, dLogits);
        var a = layer.Output;
        return Reference(a.Data, layer.Grad!.Data, a.C, a.H * a.W);
    }

    /// <summary>Grad-CAM in double from the activations [C, H, W] and the gradient of the score with respect to them.</summary>
    private static (double[] Map, double[] Weights) Reference(float[] a, float[] dA, int c, int p)
    {
        var weights = new double[c];
        var map = new double[p];
        for (int ch = 0; ch < c; ch++)
        {
            for (int i = 0; i < p; i++) weights[ch] += dA[ch * p + i];
            weights[ch] /= p;
            for (int i = 0; i < p; i++) map[i] += weights[ch] * a[ch * p + i];
        }
        double max = 0;
        for (int i = 0; i < p; i++) max = Math.Max(max, map[i] = Math.Max(0, map[i]));
        for (int i = 0; i < p; i++) map[i] = max > 0 ? map[i] / max : 0;
        return (map, weights);
    }

    public static TheoryData<string, string> Layers => new()
    {
        { "lenet", "pool2" }, { "lenet", "conv2_relu" }, { "lenet", "conv1_relu" },
        { "small-resnet", "block3_relu" }, { "small-resnet", "block2_relu" }, { "small-resnet", "stem_relu" },
    };

    [Theory]
    [MemberData(nameof(Layers))]
    public void Map_equals_the_reference_on_the_graph_and_on_its_fused_graph(string arch, string layer)
    {
        var (g, x) = GradientPathTests.Network(arch, 11);
        var fused = InferenceFusion.Fuse(g);
        int nonEmpty = 0;
        for (int k = 0; k < 6; k++)
        {
            var node = g[layer];
            var a = node.Output;
            var (want, weights) = Reference(g, x, node, k);

            var cam = new GradCam(g, g["logits"], node);
            var r = cam.Compute(k);
            Assert.Equal((a.H, a.W, a.C), (r.Height, r.Width, cam.Channels));
            Assert.Equal(want.All(v => v == 0), r.IsEmpty);
            if (!r.IsEmpty) nonEmpty++;
            TestKit.AssertClose(want, cam.Map, 1e-5, 0, $"{arch} {layer} class {k} map");
            TestKit.AssertClose(weights, cam.Weights, 1e-5, 1e-4, $"{arch} {layer} class {k} weights");

            fused.Forward(x);
            var fusedCam = new GradCam(fused, fused["logits"], fused[layer]);
            fusedCam.Compute(k);
            double diff = want.Zip(fusedCam.Map.ToArray(), (p, q) => Math.Abs(p - q)).Max();
            output.WriteLine($"{arch} {layer} class {k}: {r.Height}x{r.Width} map, peak ({r.PeakX}, {r.PeakY}); fused vs reference max |diff| {diff:g3}");
            TestKit.AssertClose(want, fusedCam.Map, 1e-5, 0, $"{arch} {layer} class {k} fused map");
        }
        Assert.True(nonEmpty >= 2, $"{arch} {layer}: {nonEmpty} of 6 maps are non-empty; the comparison shows too little");
    }

    /// <summary>conv 3x3 (8) + ReLU + conv 3x3 stride 2 (8) + ReLU + global average pooling: [1, 3, 16, 16] -> [1, 8, 1, 1].</summary>
    private static Model TinyBackbone()
    {
        var g = new Graph();
        var x = g.AddInput("image", 1, 3, 16, 16);
        x = g.Add(new Conv2d(3, 8, 3, 1, 1) { Name = "conv1" }, x);
        x = g.Add(new ReLU { Name = "relu1" }, x);
        x = g.Add(new Conv2d(8, 8, 3, 2, 1) { Name = "conv2" }, x);
        x = g.Add(new ReLU { Name = "relu2" }, x);
        x = g.Add(new GlobalAvgPool { Name = "pool" }, x);
        g.MarkOutput(x);
        Initializer.Initialize(g, seed: 5);
        return new Model(g, [], new Preprocessing { Height = 16, Width = 16 });
    }

    private static ClassifierHead RandomHead(int hidden, int seed)
    {
        var rng = new Random(seed);
        float[] R(int n) => TestKit.RandomFloats(rng, n);
        string[] labels = ["a", "b", "c"];
        return hidden == 0 ? new ClassifierHead(8, 0, labels, R(3 * 8), R(3), null, null)
            : new ClassifierHead(8, hidden, labels, R(hidden * 8), R(hidden), R(3 * hidden), R(3));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(6)]
    public void A_head_outside_the_graph_gives_the_map_of_the_composed_model(int hidden)
    {
        var head = RandomHead(hidden, 3 + hidden);
        var x = TestKit.RandomTensor(new Random(4), 0, 1, 1, 3, 16, 16);
        var backbone = InferenceFusion.Fuse(TinyBackbone().Graph);
        backbone.Forward(x);
        var composed = TeachModel.Compose(TinyBackbone(), head, "tiny");
        var graph = InferenceFusion.Fuse(composed.Graph);
        graph.Forward(x);
        var viaHead = new GradCam(backbone, backbone["pool"]);
        var inGraph = new GradCam(graph, graph[composed.Logits.Name]);
        Assert.Equal("relu2", viaHead.Layer.Name);
        Assert.Equal("relu2", inGraph.Layer.Name);
        int nonEmpty = 0;
        for (int k = 0; k < 3; k++)
        {
            var r1 = viaHead.Compute(head, k);
            var r2 = inGraph.Compute(k);
            Assert.Equal(r2 with { RawMax = 0 }, r1 with { RawMax = 0 });
            Assert.Equal(r2.RawMax, r1.RawMax, 1e-5f);
            TestKit.AssertClose(TestKit.ToDouble(inGraph.Map.ToArray()), viaHead.Map, 1e-5, 0, $"hidden {hidden} class {k}");
            if (!r1.IsEmpty) nonEmpty++;
        }
        Assert.True(nonEmpty >= 1, "every map is empty: the comparison shows nothing");
    }

    [Fact]
    public void A_flatten_and_dense_after_the_layer_are_crossed_by_the_dense_weights_channel_sums()
    {
        // lenet's pool2 -> flatten -> fc1: the backward stops at fc1's output (the map still equals the reference above).
        var (g, x) = GradientPathTests.Network("lenet", 11);
        g.Forward(x);
        var cam = new GradCam(g, g["logits"], g["pool2"]);
        Assert.Equal("fc1", cam.Path.Target.Name);
        Assert.DoesNotContain(cam.Path.Steps, n => n.Layer is Flatten || n.Name == "fc1");
        Assert.Equal("conv2_relu", new GradCam(g, g["logits"], g["conv2_relu"]).Path.Target.Name); // a pool between: the whole way

        // The layer's value also reaches the score another way (a second branch): no shortcut, and the map is still exact.
        var b = new Graph();
        var input = b.AddInput("input", 1, 2, 4, 4);
        var a = b.Add(new ReLU { Name = "relu" }, b.Add(new Conv2d(2, 3, 3, 1, 1) { Name = "conv" }, input));
        var viaDense = b.Add(new Dense(3 * 16, 4) { Name = "dense" }, b.Add(new Flatten { Name = "flat" }, a));
        var viaPool = b.Add(new Dense(3, 4) { Name = "dense2" }, b.Add(new Flatten { Name = "flat2" }, b.Add(new GlobalAvgPool { Name = "gap" }, a)));
        b.MarkOutput(b.Add(new Elementwise(ElementwiseOp.Add) { Name = "logits" }, viaDense, viaPool));
        Initializer.Initialize(b, seed: 3);
        var bx = TestKit.RandomTensor(new Random(2), 0, 1, 1, 2, 4, 4);
        var both = new GradCam(b, b["logits"], b["relu"]);
        Assert.Equal("relu", both.Path.Target.Name);
        int nonEmpty = 0;
        for (int k = 0; k < 4; k++)
        {
            var (want, weights) = Reference(b, bx, a, k);
            if (!both.Compute(k).IsEmpty) nonEmpty++;
            TestKit.AssertClose(want, both.Map, 1e-5, 0, $"two branches, class {k} map");
            TestKit.AssertClose(weights, both.Weights, 1e-5, 1e-4, $"two branches, class {k} weights");
        }
        Assert.True(nonEmpty >= 1, "every map is empty: the comparison shows nothing");
    }

    [Fact]
    public void A_class_without_positive_evidence_gives_an_empty_map()
    {
        var g = new Graph();
        var x = g.AddInput("input", 1, 1, 4, 4);
        var conv = new Conv2d(1, 2, 1) { Name = "conv" };
        conv.Weight.Value.Data.AsSpan().Fill(1f);
        var a = g.Add(new ReLU { Name = "relu" }, g.Add(conv, x));
        var flat = g.Add(new Flatten { Name = "flat" }, g.Add(new GlobalAvgPool { Name = "gap" }, a));
        var dense = new Dense(2, 2) { Name = "logits" };
        dense.Weight.Value.Data.AsSpan().Clear();
        float[] w = [1, 1, -1, -1];
        w.CopyTo(dense.Weight.Value.Data, 0);
        g.MarkOutput(g.Add(dense, flat));
        g.Forward(TestKit.RandomTensor(new Random(1), 0.5f, 1, 1, 1, 4, 4));
        var cam = new GradCam(g, g["logits"]);
        Assert.Equal("relu", cam.Layer.Name);
        var positive = cam.Compute(0);
        Assert.False(positive.IsEmpty);
        Assert.Equal(1f, cam.Map.ToArray().Max());
        var empty = cam.Compute(1);
        Assert.True(empty.IsEmpty);
        Assert.Equal((-1, -1, 0f), (empty.PeakX, empty.PeakY, empty.RawMax));
        Assert.True(float.IsNaN(empty.CentroidX) && float.IsNaN(empty.CentroidY) && float.IsNaN(empty.PeakFractionX));
        Assert.All(cam.Map.ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void Peak_and_centroid_of_a_map_made_by_hand()
    {
        // Channel 0 (weight 1): 2 at (x 3, y 1) and 0.5 at (0, 0); channel 1 (weight -0.25): 1 everywhere.
        // map = ReLU(A0 - 0.25): 1.75 at (3, 1), 0.25 at (0, 0), 0 elsewhere.
        const int H = 3, W = 4, P = H * W;
        var a = new float[2 * P];
        a[1 * W + 3] = 2f;
        a[0] = 0.5f;
        a.AsSpan(P, P).Fill(1f);
        var dA = new float[2 * P];
        dA.AsSpan(0, P).Fill(1f);
        dA.AsSpan(P, P).Fill(-0.25f);
        var weights = new float[2];
        var map = new float[P];
        var r = GradCam.Reduce(a, dA, 2, H, W, 7, weights, map);
        Assert.Equal([1f, -0.25f], weights);
        Assert.Equal(new GradCamResult(7, H, W, 1.75f, 3, 1, (float)((1.75 * 3.5 + 0.25 * 0.5) / 2.0 / W), (float)((1.75 * 1.5 + 0.25 * 0.5) / 2.0 / H)), r);
        Assert.Equal(1f, map[1 * W + 3]);
        Assert.Equal(0.25f / 1.75f, map[0], 6);
        Assert.Equal(10, map.Count(v => v == 0));
        Assert.Equal((3.5f / 4, 1.5f / 3), (r.PeakFractionX, r.PeakFractionY));
    }

    [Fact]
    public void Spatial_layers_and_the_default_layer()
    {
        var (lenet, _) = GradientPathTests.Network("lenet", 1);
        Assert.Equal(["conv1", "conv1_bn", "conv1_relu", "pool1", "conv2", "conv2_bn", "conv2_relu", "pool2"],
            GradCam.SpatialLayers(lenet, lenet["logits"]).Select(n => n.Name));
        var fused = InferenceFusion.Fuse(lenet);
        // A fused chain's nodes share one tensor: listed once, under the chain's last name.
        Assert.Equal(["conv1_relu", "pool1", "conv2_relu", "pool2"], GradCam.SpatialLayers(fused, fused["logits"]).Select(n => n.Name));
        Assert.Equal("pool2", GradCam.DefaultLayer(fused, fused["logits"]).Name);
        var (resnet, _) = GradientPathTests.Network("small-resnet", 1);
        var fusedResNet = InferenceFusion.Fuse(resnet);
        var listed = GradCam.SpatialLayers(fusedResNet, fusedResNet["logits"]).Select(n => n.Name).ToArray();
        Assert.Equal("block3_relu", listed[^1]);
        Assert.Contains("block2_proj_bn", listed);      // the projection shortcut's value (a chain of its own)
        Assert.DoesNotContain("block2_conv2", listed);  // inside the chain that ends in block2_relu
        Assert.Equal("block3_relu", new GradCam(fusedResNet, fusedResNet["logits"]).Layer.Name);
        Assert.Equal(["conv1"], GradCam.SpatialLayers(lenet, lenet["conv1"]).Select(n => n.Name));
    }

    [Fact]
    public void Bad_requests_fail_with_a_clear_message()
    {
        var (g, x) = GradientPathTests.Network("lenet", 2);
        var logits = g["logits"];
        Assert.Contains("not spatial", Assert.Throws<ArgumentException>(() => new GradCam(g, logits, g["fc1"])).Message);
        Assert.Contains("not spatial", Assert.Throws<ArgumentException>(() => new GradCam(g, logits, g["flatten"])).Message);
        Assert.Contains("does not feed", Assert.Throws<ArgumentException>(() => new GradCam(g, g["pool1"], g["pool2"])).Message);
        var dense = new Graph();
        var flatIn = dense.AddInput("x", 1, 4);
        dense.MarkOutput(dense.Add(new Dense(4, 2) { Name = "logits" }, flatIn));
        Assert.Contains("no spatial layer", Assert.Throws<ArgumentException>(() => new GradCam(dense, dense["logits"])).Message);

        var cam = new GradCam(g, logits);
        Assert.Throws<InvalidOperationException>(() => cam.Compute(0)); // no forward yet
        g.Forward(x);
        Assert.Throws<ArgumentOutOfRangeException>(() => cam.Compute(6));
        Assert.Throws<ArgumentOutOfRangeException>(() => cam.Compute(-1));
        Assert.Throws<ArgumentException>(() => cam.Compute(RandomHead(0, 1), 0)); // reads 8 features, the logits are 6
        g.Forward(TestKit.RandomTensor(new Random(3), 0, 1, 2, 1, 28, 28));
        Assert.Contains("batch 1", Assert.Throws<InvalidOperationException>(() => cam.Compute(0)).Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void A_steady_state_compute_after_each_forward_allocates_nothing(int threads)
    {
        int saved = Parallelism.Threads;
        try
        {
            Parallelism.Threads = threads;
            foreach (var (arch, layer) in new[] { ("lenet", "pool2"), ("lenet", "conv1_relu"), ("small-resnet", "block3_relu"), ("small-resnet", "stem_relu") })
            {
                var (g, x) = GradientPathTests.Network(arch, 1);
                var fused = InferenceFusion.Fuse(g);
                var cam = new GradCam(fused, fused["logits"], fused[layer]);
                int k = 0;
                long bytes = AllocationTests.BytesOverFrames(() =>
                {
                    fused.Forward(x);
                    cam.Compute(k++ % 6);
                }, 50);
                Assert.True(bytes == 0, $"{arch} at {layer}, {threads} thread(s): {bytes} bytes over 50 frames");
            }
            // ResNet18's layer kinds at toy size: the default layer reached through AvgPool2d (as Pooling395), the stem
            // through max pooling and a strided block with a projection.
            var mini = AllocationTests.MiniBackbone();
            InferenceFusionTests.Randomize(mini, 2);
            var miniFused = InferenceFusion.Fuse(mini);
            var miniInput = TestKit.RandomTensor(new Random(3), 0, 1, 1, 3, 32, 32);
            foreach (string layer in new[] { "block_relu", "stem_relu" })
            {
                var miniCam = new GradCam(miniFused, miniFused["fc"], miniFused[layer]);
                Assert.Contains(miniCam.Path.Steps, n => n.Layer is AvgPool2d);
                int c = 0;
                long miniBytes = AllocationTests.BytesOverFrames(() =>
                {
                    miniFused.Forward(miniInput);
                    miniCam.Compute(c++ % 5);
                }, 50);
                Assert.True(miniBytes == 0, $"mini backbone at {layer}, {threads} thread(s): {miniBytes} bytes over 50 frames");
            }
            var head = RandomHead(6, 9);
            var backbone = InferenceFusion.Fuse(TinyBackbone().Graph);
            var image = TestKit.RandomTensor(new Random(2), 0, 1, 1, 3, 16, 16);
            var headCam = new GradCam(backbone, backbone["pool"], backbone["relu1"]);
            int o = 0;
            long headBytes = AllocationTests.BytesOverFrames(() =>
            {
                backbone.Forward(image);
                headCam.Compute(head, o++ % 3);
            }, 50);
            Assert.True(headBytes == 0, $"head path, {threads} thread(s): {headBytes} bytes over 50 frames");
        }
        finally
        {
            Parallelism.Threads = saved;
        }
    }
}
