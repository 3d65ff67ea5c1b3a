// AllocationTests: a steady-state forward (same input shape, buffers sized by the first frames) allocates 0 bytes on
// the calling thread, measured with GC.GetAllocatedBytesForCurrentThread over many frames: for the architectures
// this project trains and a toy ResNet-shaped backbone, plain and fused (GEMM and Winograd convs), on 1 and 2 threads (the bench reports
// the same for the real ResNet18 in Release; a Debug-built test of it would take a minute).
// Not timing-based.
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Optimization;
using CameraCnn.Engine.Tests.Layers;

namespace CameraCnn.Engine.Tests.Performance;

[Collection("Parallelism")]
public sealed class AllocationTests
{
    private static long BytesOverFrames(Graph g, Tensor x, int frames) => BytesOverFrames(() => g.Forward(x), frames);

    /// <summary>Bytes the calling thread allocates over <paramref name="frames"/> calls of <paramref name="frame"/>, after a warm-up.</summary>
    internal static long BytesOverFrames(Action frame, int frames)
    {
        for (int i = 0; i < 3; i++) frame(); // first frames size the outputs, workspaces and worker threads
        // Let the JIT settle: tier-up and on-stack replacement of hot methods allocate a few dozen bytes on the calling
        // thread (seen as 48-3,000 B with tiering on, 0 with DOTNET_TieredCompilation=0). That is start-up, not the
        // engine's steady state, so run enough frames for the call counts and give the background compiler time.
        for (int i = 0; i < 100; i++) frame();
        Thread.Sleep(300);
        for (int i = 0; i < 10; i++) frame();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < frames; i++) frame();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    /// <summary>ResNet18's layer kinds at toy size: 7x7/2 stem with asymmetric pads, BN, ReLU, 3x3/2 max pool, a basic
    /// block with a strided 1x1 projection, 2x2 average pool, flatten, dense, softmax.</summary>
    internal static Graph MiniBackbone()
    {
        var g = new Graph();
        var x = g.AddInput("input", -1, 3, 32, 32);
        x = g.Add(new Conv2d(3, 8, new Window2d(7, 7, 2, 2, 3, 3, 2, 2), bias: false) { Name = "stem" }, x);
        x = g.Add(new BatchNorm2d(8) { Name = "stem_bn" }, x);
        x = g.Add(new ReLU { Name = "stem_relu" }, x);
        x = g.Add(new MaxPool2d(3, 2, 1) { Name = "pool" }, x);
        x = Architectures.BasicBlock(g, x, 8, 16, 2, "block");
        x = g.Add(new AvgPool2d(2, 2) { Name = "avg" }, x);
        x = g.Add(new Flatten { Name = "flatten" }, x);
        x = g.Add(new Dense(16 * 2 * 2, 5) { Name = "fc" }, x);
        x = g.Add(new Softmax { Name = "probabilities" }, x);
        g.MarkOutput(x);
        return g;
    }

    [Theory]
    [InlineData("lenet", 1)]
    [InlineData("lenet", 2)]
    [InlineData("small-resnet", 1)]
    [InlineData("small-resnet", 2)]
    [InlineData("mini-backbone", 1)]
    [InlineData("mini-backbone", 2)]
    [InlineData("mini-backbone-winograd", 1)]
    [InlineData("mini-backbone-winograd", 2)]
    public void Steady_state_forward_allocates_nothing(string arch, int threads)
    {
        int saved = Parallelism.Threads;
        try
        {
            Parallelism.Threads = threads;
            // The Winograd variant forces it on the 3x3 stride-1 conv (4x4 maps, where the rule would pick the GEMM).
            WinogradConvolution.Force = arch.EndsWith("-winograd") ? true : null;
            var (g, c, h, w) = arch switch
            {
                "lenet" => (Architectures.Build(arch, 1, 28, 28, 10), 1, 28, 28),
                "small-resnet" => (Architectures.Build(arch, 3, 16, 16, 10), 3, 16, 16),
                _ => (MiniBackbone(), 3, 32, 32),
            };
            InferenceFusionTests.Randomize(g, 1);
            var fused = InferenceFusion.Fuse(g);
            if (WinogradConvolution.Force == true)
                Assert.Contains(fused.Nodes, n => n.Layer is FusedConv2d { Algorithm: "winograd" });
            foreach (int batch in new[] { 1, 4 })
            {
                var x = TestKit.RandomTensor(new Random(batch), 0, 1, batch, c, h, w);
                Assert.Equal(0, BytesOverFrames(g, x, 50));
                Assert.Equal(0, BytesOverFrames(fused, x, 50));
            }
        }
        finally
        {
            Parallelism.Threads = saved;
            WinogradConvolution.Force = null;
        }
    }
}
