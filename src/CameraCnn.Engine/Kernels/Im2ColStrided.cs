// Im2ColPanels for strided windows (column stride above 1, no column dilation, several taps per kernel row): the KW
// taps of one channel and kernel row read the same input row, tap kw at phase kw % SW shifted by kw / SW. So each
// output-row run splits its input row once into SW phase rows (zero where the window leaves the image), and every tap
// then copies its run whole vectors at a time: one de-interleave per KW taps instead of a strided gather per tap.
// Packing all of B, Zen 5, one thread: ResNet's stem 0.43 -> 0.25 ms, its 3x3 stride-2 convs 0.165 -> 0.13 (56 x 56
// input) and 0.133 -> 0.075 ms (14 x 14); whole ResNet18 forwards 1.3-1.9 % faster at one thread, the same at two.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CameraCnn.Engine.Kernels;

internal readonly unsafe partial struct Im2ColPanels
{
    [ThreadStatic] private static float[]? _taps;
    [ThreadStatic] private static float[]? _phases;

    /// <summary>Pack for SW &gt; 1, DW = 1 and KW &gt; 1: the same panels as the per-tap gather, built a kernel row at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void PackStrided(int k0, int kc, int j0, int nc, int nr, float* dst)
    {
        int H = _H, W = _W, OW = _OW, KH = _g.KH, KW = _g.KW, SH = _g.SH, SW = _g.SW;
        int panels = (nc + nr - 1) / nr, width = panels * nr;
        long panelStride = (long)kc * nr;
        // One row of the block's columns per tap of a kernel row, copied into the panels whole once complete (writing
        // the runs straight into the panels, cut at panel edges, measured slower on 7-wide runs and no faster on the
        // stem's). Lanes past the last column stay zero for every k.
        _taps ??= [];
        float* taps = PinnedBuffer.Ensure(ref _taps, (long)KW * width);
        for (int kw = 0; kw < KW; kw++) Zero(taps + (long)kw * width + nc, width - nc);
        // Phase p of a run starting at output column ow: element e = input column (ow + e) * SW + p - PadLeft.
        int phaseCount = Math.Min(SW, KW), reach = (KW - 1) / SW;
        int phaseStride = (Math.Min(nc, OW) + reach + 15) & ~15;
        _phases ??= [];
        float* phases = PinnedBuffer.Ensure(ref _phases, (long)phaseCount * phaseStride);
        bool several = _imageStride != 0;
        int img0 = several ? j0 / (_OH * OW) : 0, pixel0 = several ? j0 % (_OH * OW) : j0;
        int oh0 = pixel0 / OW, ow0 = pixel0 % OW;
        for (int k = k0; k < k0 + kc;)
        {
            int row = k / KW, c = row / KH, kh = row % KH;
            int kwLo = k - row * KW, kwHi = Math.Min(KW, k0 + kc - row * KW);
            float* plane = _x + img0 * _imageStride + (long)c * H * W;
            int dh = kh * _g.DH - _g.PadTop;
            int oh = oh0, ow = ow0;
            // The same walk over the block's output-row runs as Pack's. Shared (a struct callback, or the runs cut once
            // into a list) it cost the per-tap gather 3-8 % (packing a 64-channel 56x56 3x3 conv; LeNet's conv2
            // forward 1.51 -> 1.54-1.64 ms), so each packer keeps its own copy.
            for (int q = 0; q < nc;)
            {
                if (several && oh == _OH)
                {
                    oh = 0;
                    plane += _imageStride;
                }
                int run = Math.Min(OW - ow, nc - q);
                int ih = oh * SH + dh;
                if ((uint)ih >= (uint)H)
                    for (int kw = kwLo; kw < kwHi; kw++) Zero(taps + (long)kw * width + q, run);
                else
                {
                    Deinterleave(plane + (long)ih * W, W, ow * SW - _g.PadLeft, SW, phaseCount, run + reach, phases, phaseStride);
                    for (int kw = kwLo; kw < kwHi; kw++)
                        Im2Col.Copy(phases + (kw % SW) * phaseStride + kw / SW, taps + (long)kw * width + q, run);
                }
                q += run;
                ow = 0;
                oh++;
            }
            for (int kw = kwLo; kw < kwHi; kw++)
            {
                float* dk = dst + (long)(k - k0 + kw - kwLo) * nr, src = taps + (long)kw * width;
                for (int t = 0; t < panels; t++) Copy(src + t * nr, dk + t * panelStride, nr);
            }
            k += kwHi - kwLo;
        }
    }

    /// <summary>
    /// phases[p * stride + e] = row[iw0 + e * SW + p] for p &lt; count and e &lt; n, zero where the column leaves [0, W);
    /// stride is a multiple of 16 and at least n. Stride 2 on AVX-512: 16 columns of both phases per step from two
    /// masked loads (the padding and the row's ends masked off, so nothing outside the row is read), one permute each.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Deinterleave(float* row, int W, int iw0, int SW, int count, int n, float* phases, int stride)
    {
        if (SW == 2 && Avx512F.IsSupported)
        {
            var lanes = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            var sixteen = Vector512.Create(16);
            var evenLanes = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            var oddLanes = Vector512.Create(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
            for (int e = 0; e < n; e += 16)
            {
                // Input columns base + [0, 32): lane i is read when 0 <= base + i < W.
                int first = iw0 + 2 * e;
                var lo = Vector512.Create(-first);
                var hi = Vector512.Create(W - first);
                var m0 = Vector512.GreaterThanOrEqual(lanes, lo) & Vector512.LessThan(lanes, hi);
                var m1 = Vector512.GreaterThanOrEqual(lanes + sixteen, lo) & Vector512.LessThan(lanes + sixteen, hi);
                var a = Avx512F.MaskLoad(row + first, m0.AsSingle(), Vector512<float>.Zero);
                var b = Avx512F.MaskLoad(row + first + 16, m1.AsSingle(), Vector512<float>.Zero);
                Avx512F.Store(phases + e, Avx512F.PermuteVar16x32x2(a, evenLanes, b));
                if (count > 1) Avx512F.Store(phases + stride + e, Avx512F.PermuteVar16x32x2(a, oddLanes, b));
            }
            return;
        }
        // [lo, hi): the e whose columns iw0 + e * SW + [0, count) all lie inside the row.
        int inLo = iw0 >= 0 ? 0 : Math.Min(n, (-iw0 + SW - 1) / SW);
        int span = W - count - iw0;
        int inHi = span < 0 ? inLo : Math.Clamp(span / SW + 1, inLo, n);
        int i = inLo;
        if (SW == 2 && Avx2.IsSupported)
            for (; i + 8 <= inHi; i += 8)
            {
                // [a0 a2 b0 b2 | a4 a6 b4 b6] and the odd ones likewise, 64-bit chunks reordered.
                var a = Avx.LoadVector256(row + iw0 + 2 * i);
                var b = Avx.LoadVector256(row + iw0 + 2 * i + 8);
                Avx.Store(phases + i, Avx2.Permute4x64(Avx.Shuffle(a, b, 0b10_00_10_00).AsDouble(), 0b11_01_10_00).AsSingle());
                if (count > 1) Avx.Store(phases + stride + i, Avx2.Permute4x64(Avx.Shuffle(a, b, 0b11_01_11_01).AsDouble(), 0b11_01_10_00).AsSingle());
            }
        for (; i < inHi; i++)
            for (int p = 0; p < count; p++) phases[p * stride + i] = row[iw0 + i * SW + p];
        // The edges: left of inLo and right of inHi some phases fall in the padding.
        for (int p = 0; p < count; p++)
        {
            float* ph = phases + p * stride;
            for (int e = 0; e < inLo; e++) ph[e] = Inside(row, W, iw0 + e * SW + p);
            for (int e = inHi; e < n; e++) ph[e] = Inside(row, W, iw0 + e * SW + p);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Inside(float* row, int W, int iw) => (uint)iw < (uint)W ? row[iw] : 0f;
}
