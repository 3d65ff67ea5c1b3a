// Im2Col / Col2Im: unfold an image's windows into a matrix so convolution becomes one GEMM, and fold back.
// Im2ColPanels writes the same matrix straight into the GEMM's packed B panels (no col buffer on the forward path).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CameraCnn.Engine.Kernels;

/// <summary>
/// im2col turns x [C, H, W] into col [C*KH*KW, OH*OW] (row = one kernel tap of one channel, column = one output
/// position; zero where the tap falls in the padding). col2im is its adjoint: it ADDS col back into dx.
/// <c>ldCol</c> (default OH*OW) is the distance between col rows, so the training backward can lay a batch of images
/// side by side in one [C*KH*KW, images*OH*OW] matrix: image i's columns start at col[i * OH*OW].
/// </summary>
public static unsafe class Im2Col
{
    public static void Unfold(ReadOnlySpan<float> x, int C, int H, int W, in Window2d g, int OH, int OW, Span<float> col, int ldCol = 0)
    {
        int P = OH * OW, ld = ldCol > 0 ? ldCol : P, rows = C * g.KH * g.KW;
        CheckSizes(x.Length, C, H, W, col.Length, rows, ld, P);
        if (P == 0) return;
        fixed (float* px = x, pc = col)
            for (int c = 0; c < C; c++)
                for (int kh = 0; kh < g.KH; kh++)
                    for (int kw = 0; kw < g.KW; kw++)
                    {
                        float* row = pc + (long)((c * g.KH + kh) * g.KW + kw) * ld;
                        float* plane = px + (long)c * H * W;
                        int dh = kh * g.DH - g.PadTop, dw = kw * g.DW - g.PadLeft;
                        // Output columns [lo, hi) read inside the image; the same for every output row of this tap.
                        var (lo, hi) = InsideColumns(W, OW, g.SW, dw);
                        for (int oh = 0; oh < OH; oh++)
                        {
                            int ih = oh * g.SH + dh;
                            float* dst = row + oh * OW;
                            if ((uint)ih >= (uint)H) { Zero(dst, OW); continue; }
                            float* src = plane + (long)ih * W + dw;
                            Zero(dst, lo);
                            if (g.SW == 1) Copy(src + lo, dst + lo, hi - lo);
                            else for (int ow = lo; ow < hi; ow++) dst[ow] = src[ow * g.SW];
                            Zero(dst + hi, OW - hi);
                        }
                    }
    }

    /// <summary>dx [C, H, W] += fold(col): every column entry goes back to the pixel it was copied from.</summary>
    public static void FoldAdd(ReadOnlySpan<float> col, int C, int H, int W, in Window2d g, int OH, int OW, Span<float> dx, int ldCol = 0)
    {
        int P = OH * OW, ld = ldCol > 0 ? ldCol : P, rows = C * g.KH * g.KW;
        CheckSizes(dx.Length, C, H, W, col.Length, rows, ld, P);
        if (P == 0) return;
        fixed (float* pc = col, pdx = dx)
            for (int c = 0; c < C; c++)
                for (int kh = 0; kh < g.KH; kh++)
                    for (int kw = 0; kw < g.KW; kw++)
                    {
                        float* row = pc + (long)((c * g.KH + kh) * g.KW + kw) * ld;
                        float* plane = pdx + (long)c * H * W;
                        int dh = kh * g.DH - g.PadTop, dw = kw * g.DW - g.PadLeft;
                        var (lo, hi) = InsideColumns(W, OW, g.SW, dw);
                        if (hi <= lo) continue; // the tap sees only padding
                        for (int oh = 0; oh < OH; oh++)
                        {
                            int ih = oh * g.SH + dh;
                            if ((uint)ih >= (uint)H) continue;
                            float* src = row + oh * OW;
                            float* dst = plane + (long)ih * W + dw;
                            if (g.SW == 1) AddTo(src + lo, dst + lo, hi - lo);
                            else for (int ow = lo; ow < hi; ow++) dst[ow * g.SW] += src[ow];
                        }
                    }
    }

    /// <summary>Output columns [lo, hi) whose input column ow * SW + dw lies in [0, W).</summary>
    private static (int Lo, int Hi) InsideColumns(int W, int OW, int SW, int dw)
    {
        int lo = dw >= 0 ? 0 : Math.Min(OW, (-dw + SW - 1) / SW);
        int hi = W - dw <= 0 ? lo : Math.Clamp((W - dw + SW - 1) / SW, lo, OW);
        return (lo, hi);
    }

    private static void CheckSizes(int imageLength, int C, int H, int W, int colLength, int rows, int ld, int P)
    {
        if (ld < P) throw new ArgumentException($"im2col: ldCol {ld} is less than OH*OW = {P}");
        if (imageLength < (long)C * H * W) throw new ArgumentException($"im2col: image span {imageLength} shorter than C*H*W = {(long)C * H * W}");
        if (rows > 0 && P > 0 && colLength < (long)(rows - 1) * ld + P)
            throw new ArgumentException($"im2col: col span {colLength} too short for {rows} rows of {P} at stride {ld}");
    }

    // Short rows (a 14-pixel map row is one 8-float vector and a tail) are the common case: pointer loops of whole
    // 8-float vectors whose last one overlaps the one before instead of a scalar tail, no per-call span set-up.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Zero(float* d, int n)
    {
        if (n >= 8)
        {
            // Whole vectors, the last one overlapping the one before: no scalar tail.
            for (int i = 0; i < n - 8; i += 8) Vector256<float>.Zero.Store(d + i);
            Vector256<float>.Zero.Store(d + n - 8);
            return;
        }
        for (int i = 0; i < n; i++) d[i] = 0f;
    }

    /// <summary>d[0, n) = s[0, n) in whole vectors, the last one overlapping the one before (runs of 1-224 floats).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Copy(float* s, float* d, int n)
    {
        // Source and destination never overlap, so the last vector may re-copy what the one before copied.
        if (n >= 16 && Vector512.IsHardwareAccelerated)
        {
            for (int i = 0; i < n - 16; i += 16) Vector512.Load(s + i).Store(d + i);
            Vector512.Load(s + n - 16).Store(d + n - 16);
            return;
        }
        if (n >= 8)
        {
            for (int i = 0; i < n - 8; i += 8) Vector256.Load(s + i).Store(d + i);
            Vector256.Load(s + n - 8).Store(d + n - 8);
            return;
        }
        if (n >= 4)
        {
            Vector128.Load(s).Store(d);
            Vector128.Load(s + n - 4).Store(d + n - 4);
            return;
        }
        for (int i = 0; i < n; i++) d[i] = s[i];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddTo(float* s, float* d, int n)
    {
        if (n >= 8)
        {
            // The last vector overlaps the ones before; it is summed from d as it was before any store, so the overlap
            // is written twice with the same value d + s, never added twice.
            var tail = Vector256.Load(d + n - 8) + Vector256.Load(s + n - 8);
            int i = 0;
            for (; i + 8 <= n; i += 8) (Vector256.Load(d + i) + Vector256.Load(s + i)).Store(d + i);
            if (i < n) tail.Store(d + n - 8);
            return;
        }
        if (n >= 4)
        {
            var tail = Vector128.Load(d + n - 4) + Vector128.Load(s + n - 4);
            (Vector128.Load(d) + Vector128.Load(s)).Store(d);
            tail.Store(d + n - 4);
            return;
        }
        for (int i = 0; i < n; i++) d[i] += s[i];
    }
}

/// <summary>
/// The im2col matrix of one image (group) x [C, H, W] as a GEMM B source: row k = (c, kh, kw), column j = output
/// position (oh, ow). Pack writes the requested block directly in packed-panel layout, zero where a tap falls in
/// the padding, so the forward never materialises the K x OH*OW matrix. With an image stride, several images side by
/// side: column j = image j / (OH*OW), output position j % (OH*OW), image i read at x + i * imageStride.
/// </summary>
internal readonly unsafe partial struct Im2ColPanels : IBPanelSource
{
    private readonly float* _x;
    private readonly int _H, _W, _OW, _OH;
    private readonly long _imageStride;
    private readonly Window2d _g;

    public Im2ColPanels(float* x, int H, int W, in Window2d g, int OW)
    {
        _x = x;
        _H = H;
        _W = W;
        _g = g;
        _OW = OW;
    }

    /// <summary>The im2col matrices of consecutive images laid side by side (columns image-major); images are
    /// <paramref name="imageStride"/> floats apart.</summary>
    public Im2ColPanels(float* x, int H, int W, in Window2d g, int OH, int OW, long imageStride) : this(x, H, W, g, OW)
    {
        _OH = OH;
        _imageStride = imageStride;
    }

    public bool IsPrepacked => false;
    public float* Panels(int k0, int j0) => null;

    [ThreadStatic] private static float[]? _row;

    /// <summary>
    /// Per k row: unfold columns [j0, j0 + nc) into a contiguous scratch row (one run per output row: a clipped copy,
    /// or a gather for a dilated stride), then copy the row into the panels whole vectors at a time. Column strides
    /// without column dilation and with several taps per row go a kernel row at a time instead (PackStrided, Im2ColStrided.cs).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Pack(int k0, int kc, int j0, int nc, int nr, float* dst)
    {
        if (_g.SW > 1 && _g.DW == 1 && _g.KW > 1)
        {
            PackStrided(k0, kc, j0, nc, nr, dst);
            return;
        }
        int H = _H, W = _W, OW = _OW, KH = _g.KH, KW = _g.KW, SH = _g.SH, SW = _g.SW;
        int panels = (nc + nr - 1) / nr;
        long panelStride = (long)kc * nr;
        _row ??= [];
        float* row = PinnedBuffer.Ensure(ref _row, (long)panels * nr);
        Zero(row + nc, panels * nr - nc); // lanes past the last column stay zero for every k
        // Several images: the block starts in image img0; a run that reaches the last output row moves to the next.
        bool several = _imageStride != 0;
        int img0 = several ? j0 / (_OH * OW) : 0, pixel0 = several ? j0 % (_OH * OW) : j0;
        int oh0 = pixel0 / OW, ow0 = pixel0 % OW;
        int c = k0 / (KH * KW), kh = k0 / KW % KH, kw = k0 % KW;
        for (int k = k0; k < k0 + kc; k++)
        {
            float* plane = _x + img0 * _imageStride + (long)c * H * W;
            int dh = kh * _g.DH - _g.PadTop, dw = kw * _g.DW - _g.PadLeft;
            int oh = oh0, ow = ow0;
            for (int q = 0; q < nc;)
            {
                if (several && oh == _OH)
                {
                    oh = 0;
                    plane += _imageStride;
                }
                int run = Math.Min(OW - ow, nc - q);
                int ih = oh * SH + dh;
                float* d = row + q;
                if ((uint)ih >= (uint)H) Zero(d, run);
                else Gather(plane + (long)ih * W, W, ow * SW + dw, SW, run, d);
                q += run;
                ow = 0;
                oh++;
            }
            float* dk = dst + (long)(k - k0) * nr;
            for (int t = 0; t < panels; t++) Copy(row + t * nr, dk + t * panelStride, nr);
            if (++kw == KW)
            {
                kw = 0;
                if (++kh == KH)
                {
                    kh = 0;
                    c++;
                }
            }
        }
    }

    /// <summary>d[t] = src[iw0 + t * SW] for t in [0, n), zero where the index leaves [0, W).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Gather(float* src, int W, int iw0, int SW, int n, float* d)
    {
        if (SW == 1)
        {
            // No division on the common path: the in-row part is [-iw0, W - iw0) clipped to [0, n).
            int l1 = Math.Clamp(-iw0, 0, n), h1 = Math.Clamp(W - iw0, l1, n);
            Zero(d, l1);
            Copy(src + iw0 + l1, d + l1, h1 - l1);
            Zero(d + h1, n - h1);
            return;
        }
        int lo = iw0 >= 0 ? 0 : Math.Min(n, (-iw0 + SW - 1) / SW);
        int hi = W - iw0 <= 0 ? lo : Math.Clamp((W - iw0 + SW - 1) / SW, lo, n);
        Zero(d, lo);
        {
            int t = lo;
            if (SW == 2 && Avx2.IsSupported)
                for (; t + 8 <= hi && iw0 + 2 * t + 16 <= W; t += 8)
                {
                    // The 8 even floats of 16: [a0 a2 b0 b2 | a4 a6 b4 b6], 64-bit chunks reordered.
                    var a = Avx.LoadVector256(src + iw0 + 2 * t);
                    var b = Avx.LoadVector256(src + iw0 + 2 * t + 8);
                    Avx.Store(d + t, Avx2.Permute4x64(Avx.Shuffle(a, b, 0b10_00_10_00).AsDouble(), 0b11_01_10_00).AsSingle());
                }
            for (; t < hi; t++) d[t] = src[iw0 + t * SW];
        }
        Zero(d + hi, n - hi);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Zero(float* d, int n)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= n; i += 8) Vector256<float>.Zero.Store(d + i);
        for (; i < n; i++) d[i] = 0f;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Copy(float* s, float* d, int n)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= n; i += 16) Vector512.Load(s + i).Store(d + i);
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= n; i += 8) Vector256.Load(s + i).Store(d + i);
        for (; i < n; i++) d[i] = s[i];
    }
}
