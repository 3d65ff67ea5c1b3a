// GemmPackTests: the packing half of the packed GEMM and the fused epilogue. Im2ColPanels must write exactly the
// panels that packing Im2Col.Unfold's matrix would (any block offset, width and panel width; NaN sentinels around
// the block stay untouched), for the per-tap gather and the strided kernel-row path alike. The pre-packed A path
// with bias, residual and ReLU in the epilogue must match a double reference on every micro-kernel path, thread
// count and awkward size.
using CameraCnn.Engine.Kernels;

namespace CameraCnn.Engine.Tests.Kernels;

[Collection("Parallelism")]
public sealed unsafe class GemmPackTests
{
    private static readonly (int C, int H, int W, Window2d G)[] Geometries =
    [
        (2, 7, 9, new Window2d(3, 3)),
        (3, 7, 5, new Window2d(3, 2, 2, 3, PadTop: 3, PadLeft: 1, PadBottom: 2, PadRight: 0)),
        (2, 9, 8, new Window2d(3, 3, 2, 2, 1, 2, 2, 1, DH: 2, DW: 2)),
        (1, 5, 6, new Window2d(2, 3, 1, 1, 2, 3, 0, 1, DH: 2, DW: 1)),
        (3, 1, 1, new Window2d(1, 1, 1, 1, 1, 1, 1, 1)),
        (2, 4, 3, new Window2d(5, 5, 3, 3, 2, 2, 2, 2)),
        (2, 6, 7, new Window2d(3, 3, 1, 1, 0, 4, 0, 4, DH: 1, DW: 2)),
        (1, 2, 3, new Window2d(2, 2, 3, 1, 4, 5, 3, 6, DH: 2, DW: 3)),
        (2, 3, 1, new Window2d(5, 5, 1, 1, 2, 2, 2, 2)),
        (3, 23, 21, new Window2d(7, 7, 2, 2, 3, 3, 2, 2)), // the ResNet stem shape with CNTK's asymmetric pads
        (4, 17, 33, new Window2d(3, 3, 1, 1, 1, 1, 1, 1)),
        (5, 9, 9, new Window2d(1, 1, 2, 2)),
        (2, 9, 70, Window2d.Square(3, 2, 1)),                  // wide stride-2 rows: the vector gather
        (1, 5, 64, new Window2d(1, 5, 1, 2, 0, 2, 0, 1)),
        (3, 4, 53, new Window2d(2, 7, 1, 3, 0, 3, 1, 3)),       // stride 3: scalar gather
        (3, 9, 229, new Window2d(7, 7, 2, 2, 3, 3, 2, 2)),      // stem-wide rows, odd width: the vector de-interleave and both edges
        (2, 5, 71, new Window2d(1, 1, 2, 2)),                   // stride 2, one tap per row: the per-tap gather
        (2, 7, 40, new Window2d(3, 3, 2, 2, 1, 1, 1, 1, DH: 2, DW: 1)), // row dilation with a column stride
        (2, 6, 50, new Window2d(3, 5, 3, 3, 2, 4, 1, 0)),       // stride 3, five taps: three phases, two taps reach one further
    ];

    [Fact]
    public void Im2Col_panels_matches_unfold_then_pack()
    {
        var rng = new Random(3);
        foreach (var (C, H, W, g) in Geometries)
        {
            int OH = g.OutH(H), OW = g.OutW(W), P = OH * OW, K = C * g.KH * g.KW;
            float[] x = GemmTests.Matrix(rng, 1, C * H * W, C * H * W, 0);
            var col = new float[K * P];
            Im2Col.Unfold(x, C, H, W, g, OH, OW, col);
            foreach (int nr in new[] { 4, 16, 48 })
                foreach (var (k0, kc) in new[] { (0, K), (1, Math.Max(0, K - 2)), (K / 2, K - K / 2), (K, 0) })
                    foreach (var (j0, nc) in new[] { (0, P), (1, Math.Max(0, P - 1)), (P / 3, P - P / 3), (P - 1, 1) })
                    {
                        if (nc <= 0 || j0 + nc > P) continue;
                        int panels = (nc + nr - 1) / nr, size = panels * kc * nr;
                        var got = new float[size + 7];
                        got.AsSpan().Fill(float.NaN);
                        fixed (float* px = x, pg = got)
                            new Im2ColPanels(px, H, W, g, OW).Pack(k0, kc, j0, nc, nr, pg);
                        string what = $"C={C} H={H} W={W} {g} nr={nr} k0={k0} kc={kc} j0={j0} nc={nc}";
                        for (int i = 0; i < size; i++)
                        {
                            int panel = i / (kc * nr), k = i / nr % kc, lane = i % nr, j = panel * nr + lane;
                            float want = j < nc ? col[(k0 + k) * P + j0 + j] : 0f;
                            Assert.True(want.Equals(got[i]), $"{what}: packed[{i}] (k={k0 + k}, j={j0 + j}) = {got[i]}, want {want}");
                        }
                        for (int i = size; i < got.Length; i++) Assert.True(float.IsNaN(got[i]), $"{what}: wrote past the panels");
                    }
        }
    }

    [Fact]
    public void Matrix_panels_packs_both_layouts()
    {
        var rng = new Random(4);
        foreach (bool trans in new[] { false, true })
            foreach (var (K, N) in new[] { (1, 1), (7, 17), (33, 65), (300, 50) })
            {
                int ld = (trans ? K : N) + 3;
                float[] b = GemmTests.Matrix(rng, trans ? N : K, trans ? K : N, ld, 2);
                foreach (int nr in new[] { 4, 16, 48 })
                {
                    int k0 = K / 3, kc = K - k0, j0 = N / 4, nc = N - j0;
                    int size = (nc + nr - 1) / nr * kc * nr;
                    var got = new float[size + 5];
                    got.AsSpan().Fill(float.NaN);
                    fixed (float* pb = b, pg = got)
                        new MatrixPanels(pb, ld, trans).Pack(k0, kc, j0, nc, nr, pg);
                    for (int i = 0; i < size; i++)
                    {
                        int panel = i / (kc * nr), k = k0 + i / nr % kc, j = panel * nr + i % nr;
                        float want = j < nc ? (trans ? b[(j0 + j) * ld + k] : b[k * ld + j0 + j]) : 0f;
                        Assert.True(want.Equals(got[i]), $"trans={trans} K={K} N={N} nr={nr}: packed[{i}] = {got[i]}, want {want}");
                    }
                    for (int i = size; i < got.Length; i++) Assert.True(float.IsNaN(got[i]));
                }
            }
    }

    /// <summary>C = relu?(packed(A) * B + bias[row] + residual) through the driver, against a double reference.</summary>
    [Theory]
    [MemberData(nameof(KernelSettings.PathsAndThreads), MemberType = typeof(KernelSettings))]
    public void Prepacked_with_epilogue_matches_reference(GemmPath path, int threads)
    {
        int[] sizes = [0, 1, 7, 17, 33, 65];
        // Column tails of 1 to 4 (the AVX-512 kernel's narrow path): 2, 3, 4 alone and after a full 48-wide tile.
        int[] columns = [.. sizes, 2, 3, 4, 50, 51, 52];
        KernelSettings.Run(path, threads, () =>
        {
            var rng = new Random(21 + threads);
            foreach (int M in sizes)
                foreach (int N in columns)
                    foreach (int K in new[] { 0, 1, 31, 257 })
                        foreach (bool relu in new[] { false, true })
                        {
                            if (M == 0 || N == 0) continue;
                            int ldc = N + 3;
                            float[] a = GemmTests.Matrix(rng, M, K, K, 0), b = GemmTests.Matrix(rng, K, N, N, 0);
                            float[] bias = GemmTests.Matrix(rng, 1, M, M, 0), res = GemmTests.Matrix(rng, M, N, ldc, 2);
                            float[] c = new float[M * ldc + 4];
                            c.AsSpan().Fill(float.NaN);
                            var packed = new PackedMatrix();
                            packed.Pack(a, M, K, K, false, path);
                            fixed (float* pb = b, pc = c, pbias = bias, pres = res)
                            {
                                var src = new MatrixPanels(pb, N, false);
                                GemmDriver.Run(path, new GemmDriver.ASource { Packed = packed }, ref src, M, N, K, pc, ldc, false,
                                    pbias, pres, ldc, relu);
                            }
                            string what = $"path={path} threads={threads} M={M} N={N} K={K} relu={relu}";
                            for (int idx = 0; idx < c.Length; idx++)
                            {
                                int i = idx / ldc, j = idx % ldc;
                                if (i >= M || j >= N)
                                {
                                    Assert.True(float.IsNaN(c[idx]), $"{what}: C[{idx}] outside the result was written");
                                    continue;
                                }
                                double s = 0, bound = Math.Abs(bias[i]) + Math.Abs(res[idx]);
                                for (int k = 0; k < K; k++)
                                {
                                    s += (double)a[i * K + k] * b[k * N + j];
                                    bound += Math.Abs((double)a[i * K + k] * b[k * N + j]);
                                }
                                s += bias[i] + res[idx];
                                if (relu) s = Math.Max(0, s);
                                double tol = 2 * (K + 4) * Math.Pow(2, -24) * bound + 1e-30;
                                Assert.True(Math.Abs(c[idx] - s) <= tol, $"{what}: C[{i},{j}] = {c[idx]:R}, want {s:R} (tol {tol:E2})");
                            }
                        }
        });
    }
}
