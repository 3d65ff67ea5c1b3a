// WinogradTests: the F(4x4, 3x3) convolution against the lecture's eq. (6) in double (Naive.Conv2d): one tile through
// the matrix transforms; the vector transforms (Vector256, Vector512) against the matrix reference per tile; and the
// whole forward (padding incl. asymmetric, odd sizes, tile and channel tails, K over one KC block, batches, bias,
// residual, ReLU) on every GEMM path and 1-3 threads, outputs pre-filled with NaN. The fused graph runs Winograd
// where the rule or the test says so, reports it in Algorithm, and matches the unfused graph.
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Optimization;
using CameraCnn.Engine.Tests.Layers;
using CameraCnn.Engine.Tests.Performance;

namespace CameraCnn.Engine.Tests.Kernels;

[Collection("Parallelism")]
public sealed unsafe class WinogradTests
{
    /// <summary>(C, OC, H, W, pads top/left/bottom/right): every tail the driver has.</summary>
    internal static readonly (int C, int OC, int H, int W, int Pt, int Pl, int Pb, int Pr)[] Shapes =
    [
        (1, 1, 4, 4, 1, 1, 1, 1),        // one tile, single channel
        (3, 5, 13, 11, 1, 1, 1, 1),      // odd sizes: partial tiles on both edges
        (17, 9, 9, 7, 0, 0, 0, 0),       // no padding: 7 x 5 output
        (8, 16, 8, 8, 1, 1, 1, 1),       // whole tiles only
        (5, 7, 10, 12, 2, 0, 1, 3),      // asymmetric pads
        (6, 4, 7, 7, 3, 3, 2, 2),        // CNTK-style pads larger than the kernel's reach
        (300, 10, 6, 5, 1, 1, 1, 1),     // C over one KC block (256)
        (16, 65, 9, 9, 1, 1, 1, 1),      // OC tail against every MR
        (4, 4, 3, 3, 1, 1, 1, 1),        // one partial tile
        (2, 3, 30, 28, 1, 1, 1, 1),      // 56 tiles: more than one 48-column panel
    ];

    private static Window2d Window((int C, int OC, int H, int W, int Pt, int Pl, int Pb, int Pr) s)
        => new(3, 3, 1, 1, s.Pt, s.Pl, s.Pb, s.Pr);

    [Fact]
    public void One_tile_through_the_matrix_transforms_is_the_correlation()
    {
        OneTile<WinogradF43>();
        OneTile<WinogradF23>();
    }

    /// <summary>y = A^T [(G g G^T) .* (B^T d B)] A equals the m x m valid correlation of the alpha x alpha patch d with g (eq. 6).</summary>
    private static void OneTile<TT>() where TT : struct, IWinogradTile
    {
        int m = TT.M, alpha = TT.Alpha;
        var rng = new Random(3 + m);
        var d = TestKit.RandomFloats(rng, alpha * alpha);
        var g = Array.ConvertAll(TestKit.RandomFloats(rng, 9), v => (double)v);
        var u = new double[alpha * alpha];
        TT.TransformWeight(g, u);
        var v = new float[alpha * alpha];
        var o = new float[m * m];
        fixed (float* pd = d, pv = v, po = o)
        {
            TT.InputTile(pd, alpha, pv, 1);
            for (int i = 0; i < v.Length; i++) pv[i] = (float)(pv[i] * u[i]);
            TT.OutputTile(pv, 1, po);
        }
        for (int a = 0; a < m; a++)
            for (int b = 0; b < m; b++)
            {
                double want = 0;
                for (int i = 0; i < 3; i++)
                    for (int j = 0; j < 3; j++) want += g[i * 3 + j] * d[(a + i) * alpha + b + j];
                Assert.True(Math.Abs(o[a * m + b] - want) < 1e-5, $"F({m}x{m}) ({a},{b}): {o[a * m + b]} vs {want}");
            }
    }

    public static TheoryData<int, int> WidthsAndTiles() => new() { { 8, 4 }, { 16, 4 }, { 8, 2 }, { 16, 2 } };

    [Theory]
    [MemberData(nameof(WidthsAndTiles))]
    public void Vector_transforms_match_the_reference_per_tile(int lanes, int tile)
    {
        if (lanes == 16 ? !Lanes512.IsSupported : !Lanes256.IsSupported) return;
        if (tile == 4) VectorTransforms<WinogradF43>(lanes);
        else VectorTransforms<WinogradF23>(lanes);
    }

    private static void VectorTransforms<TT>(int lanes) where TT : struct, IWinogradTile
    {
        int m = TT.M, a2 = TT.Alpha * TT.Alpha;
        var rng = new Random(lanes + m);
        const int ld = 29, xiStride = 37;
        // Patches scattered over a plane (any start column: the loads need no alignment), or runs of tiles side by side
        // (one tile row: the single-vector loads and stores), or a mix of both.
        var plane = TestKit.RandomFloats(rng, ld * 40);
        var dst = new float[a2 * xiStride];
        var want = new float[a2 * xiStride];
        var products = TestKit.RandomFloats(rng, a2 * xiStride, -3, 3);
        var temp = new float[m * m * lanes];
        int ldy = 4 * lanes;
        var y = new float[(4 + 4 * lanes) * ldy];
        var res = TestKit.RandomFloats(rng, y.Length + 7);
        var bias = TestKit.RandomFloats(rng, lanes);
        fixed (float* pp = plane, pd = dst, pw = want, pm = products, pt = temp, py = y, pr = res, pb = bias)
        {
            float** p = stackalloc float*[lanes];
            float** yp = stackalloc float*[lanes];
            float* o = stackalloc float[m * m];
            foreach (string layout in new[] { "scattered", "rows", "mixed" })
            {
                for (int l = 0; l < lanes; l++)
                {
                    bool run = layout == "rows" || (layout == "mixed" && l < lanes / 2);
                    // A run: tiles l side by side, m apart, in one plane row (the output: 4 apart in the first band of 4
                    // rows); else anywhere (the output: a band of 4 rows of its own, any column).
                    p[l] = run ? pp + 2 * ld + m * l : pp + rng.Next(0, 30) * ld + rng.Next(0, ld - 8);
                    yp[l] = run ? py + 4 * l : py + (4 + 4 * l) * ldy + rng.Next(0, ldy - 4);
                }
                for (int l = 0; l < lanes; l++) TT.InputTile(p[l], ld, pw + l, xiStride);
                // Whole vectors, and the upper half lanes stored apart (panels narrower than a vector). Vector element e
                // holds tile TileOfLane(e).
                foreach (int half in new[] { lanes / 2, lanes + lanes / 2 })
                {
                    dst.AsSpan().Fill(float.NaN);
                    if (lanes == 16) Width512.Input<TT>(p, ld, pd, xiStride, half);
                    else Width256.Input<TT>(p, ld, pd, xiStride, half);
                    for (int xi = 0; xi < a2; xi++)
                        for (int e = 0; e < lanes; e++)
                        {
                            float got = dst[xi * xiStride + (e < lanes / 2 ? e : half + e - lanes / 2)];
                            float w = want[xi * xiStride + WinogradRuns.TileOfLane(e, lanes)];
                            Assert.True(Math.Abs(got - w) <= 1e-5 * (1 + Math.Abs(w)), $"{layout} input half={half} xi={xi} lane={e}: {got} vs {w}");
                        }
                }

                // Output: to a temp, and straight into y (+ bias, residual, ReLU) for whole m x m tiles, rows 4 * lanes apart.
                if (lanes == 16) Width512.OutputToTemp<TT>(pm, xiStride, pt);
                else Width256.OutputToTemp<TT>(pm, xiStride, pt);
                long resOffset = pr - py + 7;
                // One bias for every lane (lanes = tiles of one channel), or one per lane (lanes = channels).
                foreach (int biasStep in new[] { 0, 1 })
                {
                    y.AsSpan().Fill(float.NaN);
                    if (lanes == 16) Width512.Output<TT>(pm, xiStride, pb, biasStep, yp, ldy, resOffset, true, true);
                    else Width256.Output<TT>(pm, xiStride, pb, biasStep, yp, ldy, resOffset, true, true);
                    for (int e = 0; e < lanes; e++)
                    {
                        TT.OutputTile(pm + e, xiStride, o);
                        for (int k = 0; k < m * m; k++)
                        {
                            Assert.True(Math.Abs(temp[k * lanes + e] - o[k]) <= 1e-5 * (1 + Math.Abs(o[k])), $"F({m}) output {k} lane {e}");
                            float* at = yp[WinogradRuns.TileOfLane(e, lanes)] + k / m * ldy + k % m;
                            float w = Math.Max(0, o[k] + bias[e * biasStep] + at[resOffset]);
                            Assert.True(Math.Abs(*at - w) <= 1e-5 * (1 + Math.Abs(w)), $"{layout} bias step {biasStep} epilogue {k} lane {e}: {*at} vs {w}");
                        }
                    }
                }
            }
        }
    }

    public static TheoryData<GemmPath, int> PathsAndThreads() => KernelSettings.PathsAndThreads();

    public static TheoryData<GemmPath, int, int> PathsThreadsTiles()
    {
        var data = new TheoryData<GemmPath, int, int>();
        foreach (var path in KernelSettings.Paths)
            foreach (int threads in new[] { 1, 2, 3 })
                foreach (int tile in new[] { 4, 2 })
                    data.Add(path, threads, tile);
        return data;
    }

    [Theory]
    [MemberData(nameof(PathsThreadsTiles))]
    public void Forward_matches_equation6(GemmPath path, int threads, int tile)
    {
        // AVX-512 runs the products in both orientations (tiles as B's columns, or transposed: tiles in A's rows); the
        // normal orientation splits its work among the workers by units or by tiles (spatial).
        foreach (bool? transposed in path == GemmPath.Avx512 ? new bool?[] { false, true } : [null])
            foreach (bool? spatial in transposed == true || threads == 1 ? new bool?[] { null } : [false, true])
                try
                {
                    WinogradConvolution.ForceTransposed = transposed;
                    WinogradConvolution.ForceSpatial = spatial;
                    KernelSettings.Run(path, threads, () => ForwardCases(path, threads, tile, $"transposed={transposed} spatial={spatial}"));
                }
                finally
                {
                    WinogradConvolution.ForceTransposed = null;
                    WinogradConvolution.ForceSpatial = null;
                }
    }

    private static void ForwardCases(GemmPath path, int threads, int tile, string variant)
    {
        var rng = new Random(100 + threads + tile);
        int k = 0;
        foreach (var s in Shapes)
            foreach (int batch in new[] { 1, 2, 3 })
            {
                bool residual = k % 2 == 0, relu = k % 3 != 1, bias = k % 5 != 4;
                k++;
                var g = Window(s);
                int oh = g.OutH(s.H), ow = g.OutW(s.W);
                var w = TestKit.RandomFloats(rng, s.OC * s.C * 9);
                var b = TestKit.RandomFloats(rng, s.OC);
                var x = TestKit.RandomTensor(rng, -1, 1, batch, s.C, s.H, s.W);
                var r = TestKit.RandomTensor(rng, -1, 1, batch, s.OC, oh, ow);
                var y = new Tensor(batch, s.OC, oh, ow);
                y.Data.AsSpan().Fill(float.NaN); // every element must be written
                var conv = new WinogradConvolution(w, s.OC, s.C, tile);
                fixed (float* px = x.Data, py = y.Data, pb = b, pr = r.Data)
                {
                    var args = new WinogradConvolution.Args
                    {
                        X = px, Y = py, Bias = bias ? pb : null, Residual = residual ? pr : null, Relu = relu, N = batch, H = s.H, W = s.W,
                        OH = oh, OW = ow, PadTop = s.Pt, PadLeft = s.Pl, Path = path,
                    };
                    conv.Forward(args);
                }
                var want = Naive.Conv2d(TestKit.ToDouble(x.Data), x.Shape, TestKit.ToDouble(w), bias ? TestKit.ToDouble(b) : null, s.OC, 1, g, out var ys);
                if (residual) want = Naive.Add(want, TestKit.ToDouble(r.Data));
                if (relu) want = Naive.Map(want, Naive.ReLU);
                Assert.Equal(ys, y.Shape);
                // F(4x4, 3x3) rounds in its transforms and the output transform scales those errors by up to 8 x 8:
                // about 5e-6 of the sum's typical size, sqrt(9 C) for terms of ~1 (measured: 2.3e-6 at C = 16,
                // 4.8e-6 at C = 300). A wrong tap, tile or tail is off by ~1.
                double tol = 1e-5 * Math.Sqrt(9.0 * s.C);
                TestKit.AssertClose(want, y.Data, tol, tol,
                    $"F({tile}x{tile}) path={path} {variant} threads={threads} batch={batch} C={s.C} OC={s.OC} {s.H}x{s.W} {g} residual={residual} relu={relu} bias={bias}");
            }
    }

    public static TheoryData<GemmPath, int> PathsAndTwoOrThreeThreads() => KernelSettings.Cross(KernelSettings.Paths, 2, 3);

    [Theory]
    [MemberData(nameof(PathsAndTwoOrThreeThreads))]
    public void Balanced_split_gives_the_same_bits_whatever_the_shares(GemmPath path, int threads)
    {
        // 12 x 12 output, F(4x4): 9 tiles, one column block; 64 output channels: a range of panels per worker. The
        // normal form (half-width AVX-512 would run few tiles transposed).
        WinogradConvolution.ForceTransposed = false;
        try
        {
        KernelSettings.Run(path, threads, () =>
        {
            var rng = new Random(11 + threads);
            const int C = 16, OC = 64, H = 12, W = 12;
            var w = TestKit.RandomFloats(rng, OC * C * 9);
            var b = TestKit.RandomFloats(rng, OC);
            var x = TestKit.RandomTensor(rng, -1, 1, 1, C, H, W);
            var r = TestKit.RandomTensor(rng, -1, 1, 1, OC, H, W);
            double[][] shareSets = threads == 2 ? [[0.5, 0.5], [0.15, 0.85], [0.85, 0.15]] : [[1 / 3.0, 1 / 3.0, 1 / 3.0], [0.1, 0.3, 0.6], [0.7, 0.2, 0.1]];
            float[]? first = null;
            foreach (var shares in shareSets)
            {
                var conv = new WinogradConvolution(w, OC, C, 4);
                conv.Shares.Set(shares);
                var y = new Tensor(1, OC, H, W);
                y.Data.AsSpan().Fill(float.NaN);
                fixed (float* px = x.Data, py = y.Data, pb = b, pr = r.Data)
                {
                    var args = new WinogradConvolution.Args
                    {
                        X = px, Y = py, Bias = pb, Residual = pr, Relu = true, N = 1, H = H, W = W, OH = H, OW = W, PadTop = 1, PadLeft = 1, Path = path,
                    };
                    conv.Forward(args);
                }
                Assert.Equal(threads, conv.Shares.Values.Length); // the balanced split ran (and learned from it)
                Assert.Equal(1.0, conv.Shares.Values.Sum(), 9);
                if (first is null) first = y.Data;
                else Assert.Equal(first, y.Data); // bit for bit: who computes a channel never changes it
            }
        });
        }
        finally
        {
            WinogradConvolution.ForceTransposed = null;
        }
    }

    [Fact]
    public unsafe void Balance_cuts_follow_the_shares_and_move_toward_the_faster_worker()
    {
        int* cuts = stackalloc int[4];
        SpeedShares.Cuts([0.2, 0.8], 10, cuts);
        Assert.Equal(new[] { 0, 2, 10 }, new[] { cuts[0], cuts[1], cuts[2] });
        SpeedShares.Cuts([0.99, 0.005, 0.005], 6, cuts); // every worker keeps a panel
        Assert.Equal(new[] { 0, 4, 5, 6 }, new[] { cuts[0], cuts[1], cuts[2], cuts[3] });

        // Equal panels, worker 0 twice as fast: halfway from 1/2 toward 2/3.
        double[] shares = [0.5, 0.5];
        SpeedShares.Rebalance(shares, [8, 8], [100, 200]);
        Assert.Equal(0.5 * 0.5 + 0.5 * 2 / 3.0, shares[0], 12);
        Assert.Equal(1.0, shares.Sum(), 12);
        // A worker that stalls keeps at least a quarter of an even share (before normalising), so it can win work back.
        for (int i = 0; i < 20; i++) SpeedShares.Rebalance(shares, [8, 8], [1, 1_000_000]);
        Assert.InRange(shares[1], 0.1, 0.13);
        // No measurement (a slice not timed): the shares stay.
        SpeedShares.Rebalance(shares, [8, 8], [0, 5]);
        Assert.InRange(shares[1], 0.1, 0.13);
    }

    /// <summary>A ResNet-shaped toy: stem, two basic blocks (3x3 stride-1 convs at 14 and 7 pixels), pooled head.</summary>
    private static Graph Toy()
    {
        var g = new Graph();
        var x = g.AddInput("input", -1, 3, 15, 15);
        x = g.Add(new Conv2d(3, 16, new Window2d(3, 3, 1, 1, 1, 1, 0, 0), bias: false) { Name = "stem" }, x);
        x = g.Add(new BatchNorm2d(16) { Name = "stem_bn" }, x);
        x = g.Add(new ReLU { Name = "stem_relu" }, x);
        x = Architectures.BasicBlock(g, x, 16, 16, 1, "block1");
        x = Architectures.BasicBlock(g, x, 16, 24, 2, "block2");
        x = g.Add(new GlobalAvgPool { Name = "gap" }, x);
        g.MarkOutput(x);
        return g;
    }

    [Theory]
    [MemberData(nameof(PathsAndThreads))]
    public void Fused_graph_runs_winograd_and_matches_the_unfused_graph(GemmPath path, int threads)
    {
        KernelSettings.Run(path, threads, () =>
        {
            try
            {
                var source = Toy();
                InferenceFusionTests.Randomize(source, 5);
                var x = TestKit.RandomTensor(new Random(6), -1, 1, 2, 3, 15, 15);
                var want = source.Forward(x).Clone();
                WinogradConvolution.Force = true;
                var wino = InferenceFusion.Fuse(source);
                var convs = wino.Nodes.Select(n => n.Layer).OfType<FusedConv2d>().ToList();
                // Before any forward, Algorithm says what the fusion-time shape chooses; after it, what ran.
                // 4 x 4 tiles at 14 x 14 (stem, block1), 2 x 2 at 7 x 7 (block2's second conv).
                int[] tiles = [4, 4, 4, 0, 0, 2]; // stem, block1 x 2, block2: conv1 (stride 2), proj (1x1), conv2
                Assert.Equal(tiles, convs.Select(c => c.WinogradTile));
                Assert.Equal(4, convs.Count(c => c.Algorithm == "winograd"));
                var got = wino.Forward(x);
                Assert.Equal(tiles, convs.Select(c => c.WinogradTile));
                // The stride-2 conv runs the direct kernel on AVX-512, the 1x1 projection the GEMM.
                Assert.All(convs.Where(c => !WinogradConvolution.Supports(c.Window)),
                    c => Assert.Equal(path == GemmPath.Avx512 && c.Window.KH > 1 ? "direct" : "gemm", c.Algorithm));
                TestKit.AssertClose(TestKit.ToDouble(want.Data), got.Data, 2e-5, 2e-5, $"winograd path={path} threads={threads}");

                var none = InferenceFusion.Fuse(source, new FusionOptions { Winograd = false, Direct = false });
                Assert.All(none.Nodes.Select(n => n.Layer).OfType<FusedConv2d>(), c => Assert.Equal("gemm", c.Algorithm));
                TestKit.AssertClose(TestKit.ToDouble(want.Data), none.Forward(x).Data, 2e-5, 2e-5, $"gemm path={path} threads={threads}");
            }
            finally
            {
                WinogradConvolution.Force = null;
            }
        });
    }
}
