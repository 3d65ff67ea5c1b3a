// Im2ColTests: Unfold against the definition col[(c*KH+kh)*KW+kw, oh*OW+ow] = x[c, oh*SH+kh*DH-PadTop,
// ow*SW+kw*DW-PadLeft] (0 in the padding), and FoldAdd as its exact adjoint: <Unfold(x), c> == <x, FoldAdd(c)>.
using CameraCnn.Engine.Kernels;

namespace CameraCnn.Engine.Tests.Kernels;

public sealed class Im2ColTests
{
    // (C, H, W, window) cases: odd shapes, strides 1-3, asymmetric pads, dilation 2, pads wider than the image.
    private static readonly Dictionary<string, (int C, int H, int W, Window2d G)> Cases = new()
    {
        ["plain3x3"] = (2, 7, 9, new Window2d(3, 3)),
        ["stride2x3_asym"] = (3, 7, 5, new Window2d(3, 2, 2, 3, PadTop: 3, PadLeft: 1, PadBottom: 2, PadRight: 0)),
        ["dilation2_stride2"] = (2, 9, 8, new Window2d(3, 3, 2, 2, 1, 2, 2, 1, DH: 2, DW: 2)),
        ["stride1_asym_dil"] = (1, 5, 6, new Window2d(2, 3, 1, 1, 2, 3, 0, 1, DH: 2, DW: 1)),
        ["pixel_padded"] = (3, 1, 1, new Window2d(1, 1, 1, 1, 1, 1, 1, 1)),
        ["kernel5_stride3"] = (2, 4, 3, new Window2d(5, 5, 3, 3, 2, 2, 2, 2)),
        ["pointwise_stride2"] = (1, 3, 3, new Window2d(1, 1, 2, 2)),
        ["wide_pads_dil"] = (2, 6, 7, new Window2d(3, 3, 1, 1, 0, 4, 0, 4, DH: 1, DW: 2)),
        ["pads_beyond_image"] = (1, 2, 3, new Window2d(2, 2, 3, 1, 4, 5, 3, 6, DH: 2, DW: 3)),
        // 'same' 5x5 conv on a 1-pixel-wide map: the outer taps fall entirely into the left / right padding.
        ["same5x5_on_width1"] = (2, 3, 1, new Window2d(5, 5, 1, 1, 2, 2, 2, 2)),
        ["tap_in_right_pad_only"] = (1, 3, 1, new Window2d(1, 3, 1, 1, 0, 0, 0, 3)),
        ["tap_in_left_pad_only"] = (1, 2, 1, new Window2d(1, 3, 1, 1, 0, 3, 0, 0)),
        // Rows of 14, 20 and 5 pixels: whole 8-float vectors with an overlapping last one, and the 4-float form.
        ["lenet_14x14_pad1"] = (3, 14, 14, Window2d.Square(3, 1, 1)),
        ["wide_20_stride1_pad2"] = (2, 4, 20, new Window2d(3, 5, 1, 1, 1, 2, 1, 2)),
        ["row5_pad1"] = (2, 3, 5, Window2d.Square(3, 1, 1)),
    };

    public static TheoryData<string> CaseNames => new(Cases.Keys);

    private static (int OH, int OW) OutSize(int H, int W, Window2d g)
        => (Layers.Naive.Eq5(H, g.PadTop + g.PadBottom, g.DH * (g.KH - 1) + 1, g.SH),
            Layers.Naive.Eq5(W, g.PadLeft + g.PadRight, g.DW * (g.KW - 1) + 1, g.SW));

    private static float NaiveEntry(float[] x, int H, int W, Window2d g, int c, int kh, int kw, int oh, int ow)
    {
        int ih = oh * g.SH + kh * g.DH - g.PadTop, iw = ow * g.SW + kw * g.DW - g.PadLeft;
        return ih < 0 || ih >= H || iw < 0 || iw >= W ? 0f : x[(c * H + ih) * W + iw];
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void UnfoldMatchesDefinition(string name)
    {
        var (C, H, W, g) = Cases[name];
        var (OH, OW) = OutSize(H, W, g);
        Assert.True(OH > 0 && OW > 0);
        var rng = new Random(name.Length);
        float[] x = Enumerable.Range(0, C * H * W).Select(_ => rng.NextSingle() * 2 - 1).ToArray();
        var col = new float[C * g.KH * g.KW * OH * OW];
        col.AsSpan().Fill(float.NaN); // every entry must be written, padding as 0
        Im2Col.Unfold(x, C, H, W, g, OH, OW, col);
        int P = OH * OW;
        for (int c = 0; c < C; c++)
            for (int kh = 0; kh < g.KH; kh++)
                for (int kw = 0; kw < g.KW; kw++)
                    for (int oh = 0; oh < OH; oh++)
                        for (int ow = 0; ow < OW; ow++)
                        {
                            float want = NaiveEntry(x, H, W, g, c, kh, kw, oh, ow);
                            float got = col[((c * g.KH + kh) * g.KW + kw) * P + oh * OW + ow];
                            Assert.True(want == got, $"{name}: col[c={c},kh={kh},kw={kw},oh={oh},ow={ow}] = {got}, expected {want}");
                        }
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void FoldAddIsTheExactAdjointOfUnfold(string name)
    {
        var (C, H, W, g) = Cases[name];
        var (OH, OW) = OutSize(H, W, g);
        var rng = new Random(name.Length * 7);
        // Small integers: every float sum below is exact, so the adjoint identity must hold exactly.
        float[] x = Enumerable.Range(0, C * H * W).Select(_ => (float)rng.Next(-8, 9)).ToArray();
        float[] c = Enumerable.Range(0, C * g.KH * g.KW * OH * OW).Select(_ => (float)rng.Next(-8, 9)).ToArray();
        var ux = new float[c.Length];
        Im2Col.Unfold(x, C, H, W, g, OH, OW, ux);
        var fc = new float[x.Length];
        Im2Col.FoldAdd(c, C, H, W, g, OH, OW, fc);
        double lhs = 0, rhs = 0;
        for (int i = 0; i < c.Length; i++) lhs += (double)ux[i] * c[i];
        for (int i = 0; i < x.Length; i++) rhs += (double)x[i] * fc[i];
        Assert.Equal(lhs, rhs);

        // And with random reals, in double, up to float rounding of the folded sums.
        float[] xr = Enumerable.Range(0, x.Length).Select(_ => rng.NextSingle() * 2 - 1).ToArray();
        float[] cr = Enumerable.Range(0, c.Length).Select(_ => rng.NextSingle() * 2 - 1).ToArray();
        Array.Clear(ux);
        Array.Clear(fc);
        Im2Col.Unfold(xr, C, H, W, g, OH, OW, ux);
        Im2Col.FoldAdd(cr, C, H, W, g, OH, OW, fc);
        lhs = rhs = 0;
        double scale = 0;
        for (int i = 0; i < cr.Length; i++) { lhs += (double)ux[i] * cr[i]; scale += Math.Abs((double)ux[i] * cr[i]); }
        for (int i = 0; i < xr.Length; i++) rhs += (double)xr[i] * fc[i];
        Assert.True(Math.Abs(lhs - rhs) <= 1e-6 * (scale + 1), $"{name}: <Ux,c> = {lhs}, <x,U^T c> = {rhs}");
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void FoldAddScattersIntoTheSourcePixelsAndAdds(string name)
    {
        var (C, H, W, g) = Cases[name];
        var (OH, OW) = OutSize(H, W, g);
        var rng = new Random(name.Length * 13);
        int P = OH * OW;
        float[] c = Enumerable.Range(0, C * g.KH * g.KW * P).Select(_ => (float)rng.Next(-8, 9)).ToArray();
        float[] dx = Enumerable.Range(0, C * H * W).Select(_ => (float)rng.Next(-8, 9)).ToArray();
        var want = dx.Select(v => (double)v).ToArray(); // FoldAdd ADDS into dx
        for (int ch = 0; ch < C; ch++)
            for (int kh = 0; kh < g.KH; kh++)
                for (int kw = 0; kw < g.KW; kw++)
                    for (int oh = 0; oh < OH; oh++)
                        for (int ow = 0; ow < OW; ow++)
                        {
                            int ih = oh * g.SH + kh * g.DH - g.PadTop, iw = ow * g.SW + kw * g.DW - g.PadLeft;
                            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                            want[(ch * H + ih) * W + iw] += c[((ch * g.KH + kh) * g.KW + kw) * P + oh * OW + ow];
                        }
        Im2Col.FoldAdd(c, C, H, W, g, OH, OW, dx);
        for (int i = 0; i < dx.Length; i++) Assert.True(want[i] == dx[i], $"{name}: dx[{i}] = {dx[i]}, expected {want[i]}");
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void ALeadingDimensionPlacesOneImageAmongOthers(string name)
    {
        // The batched backward lays images side by side: col [rows, 3 * P] with this image in columns [P, 2P). Unfold
        // writes exactly those columns (the NaN sentinels elsewhere survive) with the values of the plain layout, and
        // FoldAdd reads exactly those (a NaN read elsewhere would poison dx).
        var (C, H, W, g) = Cases[name];
        var (OH, OW) = OutSize(H, W, g);
        int P = OH * OW, rows = C * g.KH * g.KW, ld = 3 * P;
        var rng = new Random(name.Length * 17);
        float[] x = Enumerable.Range(0, C * H * W).Select(_ => rng.NextSingle() * 2 - 1).ToArray();
        var plain = new float[rows * P];
        Im2Col.Unfold(x, C, H, W, g, OH, OW, plain);
        var wide = new float[rows * ld];
        wide.AsSpan().Fill(float.NaN);
        Im2Col.Unfold(x, C, H, W, g, OH, OW, wide.AsSpan(P), ld);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < ld; j++)
            {
                float v = wide[r * ld + j];
                if (j >= P && j < 2 * P) Assert.True(v == plain[r * P + j - P], $"{name}: row {r} column {j} = {v}");
                else Assert.True(float.IsNaN(v), $"{name}: row {r} column {j} outside the image was written ({v})");
            }

        var dxPlain = new float[x.Length];
        var dxWide = new float[x.Length];
        Im2Col.FoldAdd(plain, C, H, W, g, OH, OW, dxPlain);
        Im2Col.FoldAdd(wide.AsSpan(P), C, H, W, g, OH, OW, dxWide, ld);
        Assert.Equal(dxPlain, dxWide);
    }
}
