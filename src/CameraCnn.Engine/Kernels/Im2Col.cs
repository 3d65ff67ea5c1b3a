// Im2Col / Col2Im: unfold an image's windows into a matrix so convolution becomes one GEMM, and fold back.
namespace CameraCnn.Engine.Kernels;

/// <summary>
/// im2col turns x [C, H, W] into col [C*KH*KW, OH*OW] (row = one kernel tap of one channel, column = one output
/// position; zero where the tap falls in the padding). col2im is its adjoint: it ADDS col back into dx.
/// </summary>
public static class Im2Col
{
    public static void Unfold(ReadOnlySpan<float> x, int C, int H, int W, in Window2d g, int OH, int OW, Span<float> col)
    {
        int P = OH * OW;
        for (int c = 0; c < C; c++)
            for (int kh = 0; kh < g.KH; kh++)
                for (int kw = 0; kw < g.KW; kw++)
                {
                    Span<float> row = col.Slice(((c * g.KH + kh) * g.KW + kw) * P, P);
                    ReadOnlySpan<float> plane = x.Slice(c * H * W, H * W);
                    int dh = kh * g.DH - g.PadTop, dw = kw * g.DW - g.PadLeft;
                    for (int oh = 0; oh < OH; oh++)
                    {
                        int ih = oh * g.SH + dh;
                        Span<float> dst = row.Slice(oh * OW, OW);
                        if ((uint)ih >= (uint)H) { dst.Clear(); continue; }
                        ReadOnlySpan<float> src = plane.Slice(ih * W, W);
                        if (g.SW == 1)
                        {
                            // Contiguous run: zeros left of the image, a copy, zeros right of it.
                            int lo = Math.Clamp(-dw, 0, OW), hi = Math.Clamp(W - dw, lo, OW);
                            dst[..lo].Clear();
                            if (hi > lo) src.Slice(lo + dw, hi - lo).CopyTo(dst[lo..hi]); // empty when the tap sees only padding
                            dst[hi..].Clear();
                        }
                        else
                        {
                            for (int ow = 0; ow < OW; ow++)
                            {
                                int iw = ow * g.SW + dw;
                                dst[ow] = (uint)iw < (uint)W ? src[iw] : 0f;
                            }
                        }
                    }
                }
    }

    /// <summary>dx [C, H, W] += fold(col): every column entry goes back to the pixel it was copied from.</summary>
    public static void FoldAdd(ReadOnlySpan<float> col, int C, int H, int W, in Window2d g, int OH, int OW, Span<float> dx)
    {
        int P = OH * OW;
        for (int c = 0; c < C; c++)
            for (int kh = 0; kh < g.KH; kh++)
                for (int kw = 0; kw < g.KW; kw++)
                {
                    ReadOnlySpan<float> row = col.Slice(((c * g.KH + kh) * g.KW + kw) * P, P);
                    Span<float> plane = dx.Slice(c * H * W, H * W);
                    int dh = kh * g.DH - g.PadTop, dw = kw * g.DW - g.PadLeft;
                    for (int oh = 0; oh < OH; oh++)
                    {
                        int ih = oh * g.SH + dh;
                        if ((uint)ih >= (uint)H) continue;
                        Span<float> dst = plane.Slice(ih * W, W);
                        ReadOnlySpan<float> src = row.Slice(oh * OW, OW);
                        for (int ow = 0; ow < OW; ow++)
                        {
                            int iw = ow * g.SW + dw;
                            if ((uint)iw < (uint)W) dst[iw] += src[ow];
                        }
                    }
                }
    }
}
