// PoolingTests: the pooling kernels (Kernels/Pooling.cs) on inputs wide enough for the 8-wide vector path of max
// pooling, with many ties (values on a coarse grid) and a few NaNs: values against the definition, and the argmax
// against the first maximum in (kh, kw) order (checked through MaxPool2d.Backward, which routes by it), after a
// training forward (argmax kept) and after an inference one (maximum alone; the backward works the argmax out);
// average pooling against Naive.AvgPool. Every thread count.
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Tests.Layers;

namespace CameraCnn.Engine.Tests.Kernels;

[Collection("Parallelism")]
public sealed class PoolingTests
{
    private static readonly (Window2d G, bool Ceil)[] Windows =
    [
        (Window2d.Square(3, 2, 1), false),                  // the ResNet stem pool
        (Window2d.Square(2, 2), false),
        (Window2d.Square(3, 1, 1), false),
        (Window2d.Square(2, 2), true),
        (new Window2d(3, 2, 2, 1, PadTop: 1, PadLeft: 0, PadBottom: 0, PadRight: 1), true),
        (new Window2d(3, 3, 2, 2, 1, 2, 2, 1), false),
        (new Window2d(2, 2, 1, 1, 1, 1, 1, 1, DH: 2, DW: 2), false), // dilation: scalar path
        (new Window2d(5, 3, 1, 2, 2, 1, 2, 1), false),
    ];

    /// <summary>Flat index of the first maximum in (kh, kw) order over in-image taps; -1 for an all-padding window.</summary>
    private static int FirstMax(float[] x, int p, int H, int W, Window2d g, int oh, int ow)
    {
        int best = -1;
        for (int kh = 0; kh < g.KH; kh++)
            for (int kw = 0; kw < g.KW; kw++)
            {
                int ih = oh * g.SH - g.PadTop + kh * g.DH, iw = ow * g.SW - g.PadLeft + kw * g.DW;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                int idx = (p * H + ih) * W + iw;
                if (best < 0 || x[idx] > x[best]) best = idx;
            }
        return best;
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(3, false)]
    [InlineData(1, true)]
    [InlineData(2, true)]
    public void Max_pool_matches_first_maximum_with_ties_and_NaN(int threads, bool training)
    {
        int saved = Parallelism.Threads;
        try
        {
            Parallelism.Threads = threads;
            var rng = new Random(threads);
            foreach (var (g, ceil) in Windows)
                foreach (var (H, W) in new[] { (37, 45), (16, 64), (9, 100), (5, 16), (5, 17), (4, 18), (6, 19), (3, 24) })
                {
                    var x = new Tensor(2, 3, H, W);
                    for (int i = 0; i < x.Length; i++) x.Data[i] = rng.Next(-3, 4) * 0.5f; // few levels: many ties
                    for (int i = 0; i < 5; i++) x.Data[rng.Next(x.Length)] = float.NaN;
                    // NaNs in the first columns, where a vector step's lane 0 may start in the padding.
                    for (int p = 0; p < 6; p++) x.Data[(p * H + (p + 1) % H) * W + p % 3] = float.NaN;
                    var pool = new MaxPool2d(g, ceil);
                    var y = TestKit.Run(pool, training, x);
                    float[] forward = y.Data.ToArray(); // the forward's own values (a backward after an inference one writes y again)
                    var dy = new Tensor(y.Shape);
                    for (int i = 0; i < dy.Length; i++) dy.Data[i] = i + 1; // distinct, so routing is visible
                    var dx = new Tensor(x.Shape);
                    pool.Backward([x], y, dy, [dx]);
                    var want = new double[x.Length];
                    int OH = y.H, OW = y.W;
                    string what = $"threads={threads} training={training} {g} ceil={ceil} {H}x{W}";
                    for (int p = 0; p < 6; p++)
                        for (int oh = 0; oh < OH; oh++)
                            for (int ow = 0; ow < OW; ow++)
                            {
                                int o = (p * OH + oh) * OW + ow, best = FirstMax(x.Data, p, H, W, g, oh, ow);
                                float v = best < 0 ? 0f : x.Data[best];
                                Assert.True(v.Equals(forward[o]), $"{what}: y[{o}] = {forward[o]}, want {v}");
                                Assert.True(v.Equals(y.Data[o]), $"{what}: y[{o}] after the backward = {y.Data[o]}, want {v}");
                                if (best >= 0) want[best] += dy.Data[o];
                            }
                    TestKit.AssertClose(want, dx.Data, 0, 0, $"{what}: gradient routing (argmax)");
                }
        }
        finally
        {
            Parallelism.Threads = saved;
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void Avg_pool_matches_reference(int threads)
    {
        int saved = Parallelism.Threads;
        try
        {
            Parallelism.Threads = threads;
            var rng = new Random(5);
            foreach (var (g, ceil) in Windows.Where(w => w.G.DH == 1 && w.G.DW == 1))
                foreach (bool include in new[] { false, true })
                {
                    var x = TestKit.RandomTensor(rng, -1, 1, 2, 3, 21, 30);
                    var y = TestKit.Run(new AvgPool2d(g, ceil, include), false, x);
                    var want = Naive.AvgPool(TestKit.ToDouble(x.Data), x.Shape, g, ceil, include, out var ys);
                    TestKit.AssertShape(ys, y, "shape");
                    TestKit.AssertClose(want, y.Data, 1e-6, 1e-5, $"threads={threads} {g} ceil={ceil} include={include}");
                }
        }
        finally
        {
            Parallelism.Threads = saved;
        }
    }
}
