// ConvBackwardTests: Conv2d's batched backward (each worker's images side by side in one im2col matrix, dW and dcol as
// one product each, dW by DotGemm or the packed GEMM, col2im per image) against Conv2dReference (eq. 13-14 with plain loops in double) on every micro-kernel
// path and 1-3 threads, for batches of 1 and 5 taken whole, one image per chunk and two per chunk (by floats and by
// columns), each worker its own images or all sharing every chunk's products (small maps), with groups,
// strides, dilation, asymmetric padding and 1x1 convs; and the reference itself against central finite differences of
// the naive forward (Naive.Conv2d), so the truth is proven, not assumed.
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Tests.Kernels;

namespace CameraCnn.Engine.Tests.Layers;

[Collection("Parallelism")]
public sealed class ConvBackwardTests
{
    /// <summary>The forward tests' geometries, plus LeNet's second conv (K = 144 rows, 14x14 maps).</summary>
    private static readonly (int C, int OC, int H, int W, int Groups, Window2d G)[] Geometries =
        [.. ConvolutionTests.Geometries, (16, 32, 14, 14, 1, Window2d.Square(3, 1, 1))];

    private const float DxPrefill = 0.5f, GradPrefill = 0.25f;

    [Theory]
    [MemberData(nameof(KernelSettings.PathsAndThreads), MemberType = typeof(KernelSettings))]
    public void Batched_backward_matches_the_scalar_reference(GemmPath path, int threads)
    {
        int savedChunk = Conv2d.BackwardChunkFloats, savedDotK = Conv2d.DotGemmMinK, savedColumns = Conv2d.BackwardMinColumns;
        try
        {
            KernelSettings.Run(path, threads, () =>
            {
                var rng = new Random(11 + threads);
                foreach (var (C, OC, H, W, groups, g) in Geometries)
                    foreach (int batch in new[] { 1, 5 })
                    foreach (bool? shared in new bool?[] { null, true, false })
                    {
                        var conv = new Conv2d(C, OC, g, groups, bias: true);
                        TestKit.Randomize(conv.Weight, rng);
                        TestKit.Randomize(conv.Bias!, rng);
                        var x = TestKit.RandomTensor(rng, -1, 1, batch, C, H, W);
                        var y = new Tensor(conv.OutputShape([x.Shape]));
                        var dy = TestKit.RandomTensor(rng, -1, 1, y.Shape);
                        var (wantDx, wantDw, wantDb) = Reference(conv, x, dy);
                        int perImage = Math.Max(C / groups * g.KH * g.KW, OC / groups) * y.H * y.W;
                        // dW by dot products (DotGemm) or by the packed GEMM, whichever the rule picks, and each forced.
                        // Chunks by floats alone (columns 0): one image, two (5 = 2 + 2 + 1); by columns: two images' worth.
                        int P = y.H * y.W;
                        foreach (var (chunk, columns, dotK) in new[]
                        {
                            (savedChunk, savedColumns, savedDotK), (1, 0, savedDotK), (2 * perImage, 0, savedDotK), (1, 2 * P, savedDotK),
                            (savedChunk, savedColumns, 0), (1, 0, int.MaxValue),
                        })
                        {
                            Conv2d.BackwardChunkFloats = chunk;
                            Conv2d.BackwardMinColumns = columns;
                            Conv2d.DotGemmMinK = dotK;
                            Conv2d.ForceSharedBackward = shared;
                            string what = $"path={path} threads={threads} batch={batch} shared={shared} chunk={chunk} columns={columns} dotK={dotK} C={C} OC={OC} {H}x{W} {g} groups={groups}";
                            var dx = new Tensor(x.Shape);
                            dx.Data.AsSpan().Fill(DxPrefill);
                            conv.Weight.Grad.Data.AsSpan().Fill(GradPrefill);
                            conv.Bias!.Grad.Data.AsSpan().Fill(GradPrefill);
                            conv.Backward([x], y, dy, [dx]);
                            TestKit.AssertClose(wantDx, dx.Data, 1e-4, 1e-4, $"dX, {what}");
                            TestKit.AssertClose(wantDw, conv.Weight.Grad.Data, 1e-4, 1e-4, $"dW, {what}");
                            TestKit.AssertClose(wantDb, conv.Bias.Grad.Data, 1e-4, 1e-4, $"dB, {what}");

                            // Without an input gradient (a first layer) the parameter gradients are the same.
                            conv.Weight.Grad.Data.AsSpan().Fill(GradPrefill);
                            conv.Bias.Grad.Data.AsSpan().Fill(GradPrefill);
                            conv.Backward([x], y, dy, [null]);
                            TestKit.AssertClose(wantDw, conv.Weight.Grad.Data, 1e-4, 1e-4, $"dW without dX, {what}");
                            TestKit.AssertClose(wantDb, conv.Bias.Grad.Data, 1e-4, 1e-4, $"dB without dX, {what}");
                        }
                    }
            });
        }
        finally
        {
            Conv2d.BackwardChunkFloats = savedChunk;
            Conv2d.DotGemmMinK = savedDotK;
            Conv2d.BackwardMinColumns = savedColumns;
            Conv2d.ForceSharedBackward = null;
        }
    }

    /// <summary>The reference's dX, dW, dB on top of the prefills the layer's gradients start from (Backward adds).</summary>
    private static (double[] Dx, double[] Dw, double[] Db) Reference(Conv2d conv, Tensor x, Tensor dy)
    {
        var dx = new float[x.Length];
        var dw = new float[conv.Weight.Value.Length];
        var db = new float[conv.OutChannels];
        Conv2dReference.Backward(x.Data, x.N, x.C, x.H, x.W, conv.Weight.Value.Data, conv.OutChannels, conv.Groups, conv.Window,
            dy.Data, dx, dw, db);
        return (dx.Select(v => v + (double)DxPrefill).ToArray(), dw.Select(v => v + (double)GradPrefill).ToArray(),
            db.Select(v => v + (double)GradPrefill).ToArray());
    }

    [Theory]
    [MemberData(nameof(LayerCases.ConvNames), MemberType = typeof(LayerCases))]
    public void Reference_matches_finite_differences(string name)
    {
        // L = sum(conv(x) * R): dL/dx, dL/dW, dL/dB by central differences of the naive double forward, against the
        // reference's dX, dW, dB for dY = R.
        var c = LayerCases.Conv[name];
        var rng = new Random(TestKit.Seed(name) + 5);
        var conv = c.Build(rng);
        var x = TestKit.RandomTensor(rng, -1, 1, c.InputShape);
        int[] ys = conv.OutputShape([x.Shape]);
        var r = TestKit.RandomTensor(rng, -1, 1, ys);
        double[] xd = TestKit.ToDouble(x.Data), wd = TestKit.ToDouble(conv.Weight.Value.Data);
        double[] bd = c.Bias ? TestKit.ToDouble(conv.Bias!.Value.Data) : new double[c.OC];
        double Loss()
        {
            double[] y = Naive.Conv2d(xd, c.InputShape, wd, bd, c.OC, c.Groups, c.G, out _);
            double s = 0;
            for (int i = 0; i < y.Length; i++) s += y[i] * r.Data[i];
            return s;
        }
        double[] Central(double[] target)
        {
            var grad = new double[target.Length];
            for (int e = 0; e < target.Length; e++)
            {
                double keep = target[e];
                target[e] = keep + 1e-4;
                double lp = Loss();
                target[e] = keep - 1e-4;
                double lm = Loss();
                target[e] = keep;
                grad[e] = (lp - lm) / 2e-4;
            }
            return grad;
        }
        var dx = new float[x.Length];
        var dw = new float[wd.Length];
        var db = new float[c.OC];
        Conv2dReference.Backward(x.Data, c.N, c.C, c.H, c.W, conv.Weight.Value.Data, c.OC, c.Groups, c.G, r.Data, dx, dw, db);
        TestKit.AssertClose(Central(xd), dx, 1e-6, 1e-5, $"{name} reference dX");
        TestKit.AssertClose(Central(wd), dw, 1e-6, 1e-5, $"{name} reference dW");
        TestKit.AssertClose(Central(bd), db, 1e-6, 1e-5, $"{name} reference dB");
    }
}
