// ConvolutionTests: Conv2d's forward (im2col packed straight into GEMM panels, bias in the epilogue, 1x1 without
// im2col) against the lecture's eq. (6) in double (Naive.Conv2d) on every micro-kernel path and thread count, for
// batches that take the per-image split and the in-GEMM split, groups, strides, dilation and asymmetric padding.
// The fused inference conv (folded batch norm, residual, ReLU in the epilogue) likewise, in both orientations (the
// normal W * im2col and the transposed im2col^T * W^T used for small maps), each forced. The batched forward of small
// maps (several images' im2col side by side in one product, scattered back) against eq. (6) and bit for bit against
// the per-image form, for odd batches and short last products, plain and fused with residual and ReLU.
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Optimization;
using CameraCnn.Engine.Tests.Layers;

namespace CameraCnn.Engine.Tests.Kernels;

[Collection("Parallelism")]
public sealed class ConvolutionTests
{
    internal static readonly (int C, int OC, int H, int W, int Groups, Window2d G)[] Geometries =
    [
        (3, 5, 13, 11, 1, Window2d.Square(3, 1, 1)),
        (3, 17, 23, 21, 1, new Window2d(7, 7, 2, 2, 3, 3, 2, 2)),          // the ResNet stem with CNTK's pads
        (8, 9, 9, 7, 1, Window2d.Square(1)),                               // pointwise: no im2col
        (6, 10, 9, 8, 1, Window2d.Square(1, 2)),                           // strided 1x1 (the downsample)
        (4, 6, 11, 10, 2, Window2d.Square(3, 2, 1)),                       // groups
        (4, 4, 9, 9, 4, Window2d.Square(3, 1, 1)),                         // depthwise
        (2, 33, 17, 31, 1, new Window2d(3, 2, 2, 3, PadTop: 3, PadLeft: 1, PadBottom: 2, PadRight: 0)),
        (3, 7, 12, 13, 1, new Window2d(3, 3, 1, 1, 2, 2, 2, 2, DH: 2, DW: 2)),
        (40, 65, 7, 7, 1, Window2d.Square(3, 1, 1)),                       // K = 360 crosses a KC block, N = 49
    ];

    [Theory]
    [MemberData(nameof(KernelSettings.PathsAndThreads), MemberType = typeof(KernelSettings))]
    public void Forward_matches_equation6(GemmPath path, int threads)
    {
        KernelSettings.Run(path, threads, () =>
        {
            var rng = new Random(7 + threads);
            foreach (var (C, OC, H, W, groups, g) in Geometries)
                foreach (int batch in new[] { 1, 2, 3 })
                {
                    var conv = new Conv2d(C, OC, g, groups, bias: true);
                    TestKit.Randomize(conv.Weight, rng);
                    TestKit.Randomize(conv.Bias!, rng);
                    var x = TestKit.RandomTensor(rng, -1, 1, batch, C, H, W);
                    var y = new Tensor(conv.OutputShape([x.Shape]));
                    y.Data.AsSpan().Fill(float.NaN); // every element must be written
                    conv.Forward([x], y);
                    var want = Naive.Conv2d(TestKit.ToDouble(x.Data), x.Shape, TestKit.ToDouble(conv.Weight.Value.Data),
                        TestKit.ToDouble(conv.Bias!.Value.Data), OC, groups, g, out var ys);
                    TestKit.AssertShape(ys, y, "shape");
                    TestKit.AssertClose(want, y.Data, 1e-5, 1e-5, $"path={path} threads={threads} batch={batch} C={C} OC={OC} {g} groups={groups}");
                }
        });
    }

    public static TheoryData<GemmPath, int, bool> PathsThreadsOrientations()
    {
        var data = new TheoryData<GemmPath, int, bool>();
        foreach (var path in KernelSettings.Paths)
            foreach (int threads in new[] { 1, 2, 3 })
                foreach (bool transposed in new[] { false, true })
                    data.Add(path, threads, transposed);
        return data;
    }

    [Theory]
    [MemberData(nameof(PathsThreadsOrientations))]
    public void Fused_conv_matches_conv_batch_norm_residual_relu(GemmPath path, int threads, bool transposed)
    {
        KernelSettings.Run(path, threads, () =>
        {
            try
            {
                Convolution.ForceTransposed = transposed;
                var rng = new Random(13 + threads);
                foreach (var (C, OC, H, W, groups, g) in Geometries)
                    foreach (int batch in new[] { 1, 2 })
                    {
                        var graph = new Graph();
                        var x0 = graph.AddInput("x", -1, C, H, W);
                        var conv = new Conv2d(C, OC, g, groups, bias: true) { Name = "conv" };
                        var bn = new BatchNorm2d(OC) { Name = "bn" };
                        var n = graph.Add(bn, graph.Add(conv, x0));
                        var shape = conv.OutputShape([[batch, C, H, W]]);
                        var r0 = graph.AddInput("r", -1, OC, shape[2], shape[3]);
                        graph.MarkOutput(graph.Add(new ReLU { Name = "relu" }, graph.Add(new ResidualAdd { Name = "add" }, n, r0)));
                        Performance.InferenceFusionTests.Randomize(graph, rng.Next());
                        var fused = InferenceFusion.Fuse(graph);
                        Assert.True(((FusedConv2d)fused["conv"].Layer!).HasResidual);

                        var x = TestKit.RandomTensor(rng, -1, 1, batch, C, H, W);
                        var r = TestKit.RandomTensor(rng, -1, 1, shape);
                        fused.Forward([x, r]);
                        var y = fused.Output.Output;
                        var z = Naive.Conv2d(TestKit.ToDouble(x.Data), x.Shape, TestKit.ToDouble(conv.Weight.Value.Data),
                            TestKit.ToDouble(conv.Bias!.Value.Data), OC, groups, g, out var ys);
                        z = Naive.BatchNorm(z, ys, TestKit.ToDouble(bn.Scale.Value.Data), TestKit.ToDouble(bn.Shift.Value.Data),
                            TestKit.ToDouble(bn.RunningMean.Value.Data), TestKit.ToDouble(bn.RunningVar.Value.Data), bn.Epsilon);
                        var want = Naive.Map(Naive.Add(z, TestKit.ToDouble(r.Data)), Naive.ReLU);
                        TestKit.AssertShape(ys, y, "shape");
                        TestKit.AssertClose(want, y.Data, 1e-4, 1e-4,
                            $"path={path} threads={threads} transposed={transposed} batch={batch} C={C} OC={OC} {g} groups={groups}");
                    }
            }
            finally
            {
                Convolution.ForceTransposed = null;
            }
        });
    }
    [Theory]
    [MemberData(nameof(KernelSettings.PathsAndThreads), MemberType = typeof(KernelSettings))]
    public void Batched_forward_matches_equation6_and_the_per_image_forward_bit_for_bit(GemmPath path, int threads)
    {
        int savedScratch = Convolution.BatchedScratchFloats;
        try
        {
            KernelSettings.Run(path, threads, () =>
            {
                var rng = new Random(31 + threads);
                foreach (var (C, OC, H, W, groups, g) in Geometries)
                    foreach (int batch in new[] { 2, 5, 7 })
                        // Scratch for all images, for two (so 3 + 2 + .. products, the last short), for one.
                        foreach (int perProduct in new[] { batch, 2, 1 })
                        {
                            var conv = new Conv2d(C, OC, g, groups, bias: true);
                            TestKit.Randomize(conv.Weight, rng);
                            TestKit.Randomize(conv.Bias!, rng);
                            var x = TestKit.RandomTensor(rng, -1, 1, batch, C, H, W);
                            var shape = conv.OutputShape([x.Shape]);
                            Convolution.BatchedScratchFloats = OC / groups * shape[2] * shape[3] * perProduct;
                            string what = $"path={path} threads={threads} batch={batch} per product={perProduct} C={C} OC={OC} {g} groups={groups}";
                            var batched = Run(conv, x, shape, batchedForm: true);
                            var perImage = Run(conv, x, shape, batchedForm: false);
                            var want = Naive.Conv2d(TestKit.ToDouble(x.Data), x.Shape, TestKit.ToDouble(conv.Weight.Value.Data),
                                TestKit.ToDouble(conv.Bias!.Value.Data), OC, groups, g, out _);
                            TestKit.AssertClose(want, batched.Data, 1e-5, 1e-5, what);
                            Assert.True(batched.Data.AsSpan().SequenceEqual(perImage.Data), $"batched != per image, {what}");
                        }
            });
        }
        finally
        {
            Convolution.BatchedScratchFloats = savedScratch;
            Convolution.ForceBatched = null;
        }

        static Tensor Run(Conv2d conv, Tensor x, int[] shape, bool batchedForm)
        {
            Convolution.ForceBatched = batchedForm;
            var y = new Tensor(shape);
            y.Data.AsSpan().Fill(float.NaN); // every element must be written
            conv.Forward([x], y);
            return y;
        }
    }

    [Theory]
    [MemberData(nameof(KernelSettings.PathsAndThreads), MemberType = typeof(KernelSettings))]
    public void Batched_fused_forward_with_residual_and_relu_equals_the_per_image_forward(GemmPath path, int threads)
    {
        int savedScratch = Convolution.BatchedScratchFloats;
        KernelSettings.Run(path, threads, () =>
        {
            try
            {
                Convolution.ForceTransposed = false;
                var rng = new Random(41 + threads);
                foreach (var (C, OC, H, W, groups, g) in Geometries)
                {
                    var graph = new Graph();
                    var x0 = graph.AddInput("x", -1, C, H, W);
                    var conv = new Conv2d(C, OC, g, groups, bias: true) { Name = "conv" };
                    var shape = conv.OutputShape([[5, C, H, W]]);
                    var r0 = graph.AddInput("r", -1, OC, shape[2], shape[3]);
                    graph.MarkOutput(graph.Add(new ReLU { Name = "relu" }, graph.Add(new ResidualAdd { Name = "add" }, graph.Add(conv, x0), r0)));
                    Performance.InferenceFusionTests.Randomize(graph, rng.Next());
                    var fused = InferenceFusion.Fuse(graph);
                    var x = TestKit.RandomTensor(rng, -1, 1, 5, C, H, W);
                    var r = TestKit.RandomTensor(rng, -1, 1, shape);
                    Convolution.BatchedScratchFloats = OC / groups * shape[2] * shape[3] * 2;
                    Convolution.ForceBatched = false;
                    fused.Forward([x, r]);
                    float[] perImage = (float[])fused.Output.Output.Data.Clone();
                    Convolution.ForceBatched = true;
                    fused.Forward([x, r]);
                    Assert.True(perImage.AsSpan().SequenceEqual(fused.Output.Output.Data),
                        $"path={path} threads={threads} C={C} OC={OC} {g} groups={groups}");
                    Assert.Contains(perImage, v => v == 0f); // the ReLU cut something
                }
            }
            finally
            {
                Convolution.ForceTransposed = null;
                Convolution.ForceBatched = null;
                Convolution.BatchedScratchFloats = savedScratch;
            }
        });
    }
}
