// Pooling: the forward kernels of MaxPool2d and AvgPool2d over [planes, H, W] -> [planes, OH, OW], split over
// planes that the workers claim in chunks, with a struct body (no allocation per call). The window's valid range is
// found once per output row and, away from the borders, not at all, so the inner loops carry no bounds checks. The
// layers keep the backward.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CameraCnn.Engine.Kernels;

internal static unsafe class Pooling
{
    private struct Job : IParallelBody
    {
        public float* X, Y;
        public int* Argmax;
        public int H, W, OH, OW;
        public Window2d G;
        public bool Max, CountIncludePad;

        public void Run(int start, int end, int worker)
        {
            for (int p = start; p < end; p++)
                if (!Max) AvgPlane(this, p);
                else if (Argmax != null) MaxPlane<Track>(this, p);
                else MaxPlane<NoTrack>(this, p);
        }
    }

    /// <summary>
    /// y = max over each window (padding never wins; 0 for an all-padding window); argmax = the flat input index of
    /// the first maximum in (kh, kw) order, -1 for an all-padding window. NaN is taken only as the first element.
    /// A null argmax computes y alone (the same values; an inference forward, where nothing routes a gradient).
    /// </summary>
    public static void MaxForward(float* x, int planes, int H, int W, in Window2d g, int OH, int OW, float* y, int* argmax)
    {
        var job = new Job { X = x, Y = y, Argmax = argmax, H = H, W = W, OH = OH, OW = OW, G = g, Max = true };
        Parallelism.ForChunks(planes, Chunk(planes, H * W), ref job);
    }

    /// <summary>y = the window mean; the divisor counts padded positions (not the ceil-mode overhang) when countIncludePad.</summary>
    public static void AvgForward(float* x, int planes, int H, int W, in Window2d g, int OH, int OW, float* y, bool countIncludePad)
    {
        var job = new Job { X = x, Y = y, H = H, W = W, OH = OH, OW = OW, G = g, CountIncludePad = countIncludePad };
        Parallelism.ForChunks(planes, Chunk(planes, H * W), ref job);
    }

    /// <summary>Whether a max kernel keeps the argmax (training) or the maximum alone (inference); a constant per instantiation.</summary>
    private interface IArgmax { static abstract bool On { get; } }
    private struct Track : IArgmax { public static bool On => true; }
    private struct NoTrack : IArgmax { public static bool On => false; }

    /// <summary>Planes per claimed chunk: about 8 chunks per worker, and at least 64K input floats per chunk.</summary>
    private static int Chunk(int planes, int planeSize)
        => Math.Max(Math.Max(1, 65536 / Math.Max(1, planeSize)), planes / (8 * Parallelism.Threads));

    /// <summary>Taps [lo, hi) of a window starting at s (dilation d, k taps) that fall inside [0, size).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Taps(int s, int d, int k, int size, out int lo, out int hi)
    {
        lo = 0;
        while (lo < k && s + lo * d < 0) lo++;
        hi = k;
        while (hi > lo && s + (hi - 1) * d >= size) hi--;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MaxPlane<TA>(in Job j, int p) where TA : struct, IArgmax
    {
        int H = j.H, W = j.W, OW = j.OW, KW = j.G.KW, SW = j.G.SW, DH = j.G.DH, DW = j.G.DW;
        float* plane = j.X + (long)p * H * W;
        int planeBase = p * H * W;
        for (int oh = 0; oh < j.OH; oh++)
        {
            int h0 = oh * j.G.SH - j.G.PadTop;
            Taps(h0, DH, j.G.KH, H, out int khLo, out int khHi);
            float* y = j.Y + ((long)p * j.OH + oh) * OW;
            int* arg = TA.On ? j.Argmax + ((long)p * j.OH + oh) * OW : null;
            // Interior outputs (window wholly inside the row): without the argmax 16 at a time with AVX-512, else 8 at a
            // time with AVX2, or 4 at a time with SSE4.1 on rows too short for 8 (LeNet's 14 -> 7); the last step
            // overlaps backwards. The scalar loop below is for the rest: its data-dependent compares become branches
            // the JIT does not turn into selects, ~4x slower.
            int vecLo = 0, vecHi = 0;
            if (DW == 1 && (SW is 1 or 2) && khHi > khLo)
            {
                vecLo = (j.G.PadLeft + SW - 1) / SW;                 // first ow with w0 >= 0
                vecHi = Math.Min(OW, (W - KW + j.G.PadLeft) / SW + 1); // past the last ow with w0 + KW - 1 < W
                // (Stride 2 needs W >= KW + 2 * lanes - 1: then a step either fits its loads or starts at w0 >= 1.)
                // Stride 2 with one column of left padding (ResNet's stem pool) takes output 0 into a vector step too
                // (LeftEdge): its scalar output per row had taken a third of that pool's time (Zen 5, one thread: 0.35
                // -> 0.24 ms for the pool and a ReLU after it).
                if (!TA.On && Avx512F.IsSupported && vecHi - vecLo >= 16 && (SW == 1 || W >= KW + 31))
                {
                    if (SW == 2 && j.G.PadLeft == 1 && KW >= 2)
                    {
                        LeftEdge(plane + (long)(h0 + khLo * DH) * W, W, khHi - khLo, DH, KW, y);
                        MaxRow512(plane, W, h0, khLo, khHi, DH, KW, SW, j.G.PadLeft, 16, vecHi, y); // may overlap outputs 1-15
                        vecLo = 0;
                    }
                    else MaxRow512(plane, W, h0, khLo, khHi, DH, KW, SW, j.G.PadLeft, vecLo, vecHi, y);
                }
                else if (Avx2.IsSupported && vecHi - vecLo >= 8 && (SW == 1 || W >= KW + 15))
                    MaxRowVector<TA>(plane, planeBase, W, h0, khLo, khHi, DH, KW, SW, j.G.PadLeft, vecLo, vecHi, y, arg);
                else if (Sse41.IsSupported && vecHi - vecLo >= 4 && (SW == 1 || W >= KW + 7))
                    MaxRowVector128<TA>(plane, planeBase, W, h0, khLo, khHi, DH, KW, SW, j.G.PadLeft, vecLo, vecHi, y, arg);
                else vecLo = vecHi = 0;
            }
            for (int ow = 0; ow < OW; ow++)
            {
                if (ow == vecLo && vecHi > vecLo)
                {
                    ow = vecHi - 1;
                    continue;
                }
                int w0 = ow * SW - j.G.PadLeft;
                int kwLo = 0, kwHi = KW;
                if (w0 < 0 || w0 + (KW - 1) * DW >= W) Taps(w0, DW, KW, W, out kwLo, out kwHi);
                int best = -1;
                float m = 0f;
                if (kwHi > kwLo && khHi > khLo)
                {
                    // The first tap seeds the maximum; later taps replace it only when strictly greater. Branch-free
                    // selects: which tap wins is data-dependent and would mispredict.
                    float* first = plane + (long)(h0 + khLo * DH) * W + w0 + kwLo * DW;
                    m = *first;
                    best = (int)(first - plane);
                    for (int kh = khLo; kh < khHi; kh++)
                    {
                        float* row = plane + (long)(h0 + kh * DH) * W + w0;
                        int rowOffset = (int)(row - plane);
                        for (int kw = kwLo; kw < kwHi; kw++)
                        {
                            float v = row[kw * DW];
                            bool take = v > m;
                            m = take ? v : m;
                            best = take ? rowOffset + kw * DW : best;
                        }
                    }
                }
                y[ow] = best < 0 ? 0f : m;
                if (TA.On) arg[ow] = best < 0 ? -1 : planeBase + best;
            }
        }
    }

    /// <summary>
    /// Outputs [owLo, owHi) of one row, 8 per step: for each tap in (kh, kw) order, the candidates replace the running
    /// maximum where strictly greater, and their flat indices replace the argmax the same way, so the result is the
    /// scalar loop's, lane by lane. Stride 2 takes the even floats of 16 loaded ones.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MaxRowVector<TA>(float* plane, int planeBase, int W, int h0, int khLo, int khHi, int DH, int KW, int SW,
        int padLeft, int owLo, int owHi, float* y, int* arg) where TA : struct, IArgmax
    {
        var lanes = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * SW;
        for (int next = owLo; next < owHi;)
        {
            int ow = Math.Min(next, owHi - 8); // the last step overlaps the previous one: same values rewritten
            next = ow + 8;
            int w0 = ow * SW - padLeft;
            // Stride 2 loads 16 floats per tap; near the row's end it starts one float earlier and takes the odd ones.
            bool early = SW == 2 && w0 + KW - 1 + 16 > W;
            Vector256<float> m = default;
            Vector256<int> best = default;
            bool first = true;
            for (int kh = khLo; kh < khHi; kh++)
            {
                int rowOffset = (h0 + kh * DH) * W + w0;
                float* row = plane + rowOffset;
                for (int kw = 0; kw < KW; kw++)
                {
                    Vector256<float> v;
                    if (SW == 1) v = Avx.LoadVector256(row + kw);
                    else if (!early)
                    {
                        // [a0 a2 b0 b2 | a4 a6 b4 b6] then 64-bit chunks reordered: the 8 even floats of a, b.
                        var a = Avx.LoadVector256(row + kw);
                        var b = Avx.LoadVector256(row + kw + 8);
                        v = Avx2.Permute4x64(Avx.Shuffle(a, b, 0b10_00_10_00).AsDouble(), 0b11_01_10_00).AsSingle();
                    }
                    else
                    {
                        var a = Avx.LoadVector256(row + kw - 1);
                        var b = Avx.LoadVector256(row + kw + 7);
                        v = Avx2.Permute4x64(Avx.Shuffle(a, b, 0b11_01_11_01).AsDouble(), 0b11_01_10_00).AsSingle();
                    }
                    var idx = Vector256.Create(rowOffset + kw) + lanes;
                    if (first)
                    {
                        m = v;
                        best = idx;
                        first = false;
                        continue;
                    }
                    var take = Avx.CompareGreaterThan(v, m);
                    m = Avx.BlendVariable(m, v, take);
                    if (TA.On) best = Avx.BlendVariable(best.AsSingle(), idx.AsSingle(), take).AsInt32();
                }
            }
            Avx.Store(y + ow, m);
            if (TA.On) Avx.Store(arg + ow, best + Vector256.Create(planeBase));
        }
    }

    /// <summary>
    /// The maximum alone (no argmax) of the interior outputs [owLo, owHi), 16 per step (AVX-512; at least 16 of them, and
    /// for stride 2 W >= KW + 31); the last step overlaps backwards. Stride 2 takes the even floats of 32 loaded ones, or
    /// near the row's end the odd ones of 32 loaded one float earlier. max(v, m) is x86's "v if v > m, else m", so the
    /// value is the scalar loop's, NaN and signed zeros included. (Outputs 0-15 of a stride-2 row with one column of left
    /// padding: LeftEdge.)
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MaxRow512(float* plane, int W, int h0, int khLo, int khHi, int DH, int KW, int SW, int padLeft,
        int owLo, int owHi, float* y)
    {
        var even = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        var odd = Vector512.Create(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        for (int next = owLo; next < owHi;)
        {
            int ow = Math.Min(next, owHi - 16);
            next = ow + 16;
            int w0 = ow * SW - padLeft;
            bool early = SW == 2 && w0 + KW + 30 >= W; // 32 floats from the last tap would leave the row
            int shift = early ? -1 : 0;
            var pick = early ? odd : even;
            float* row = plane + (long)(h0 + khLo * DH) * W + w0 + shift;
            var m = SW == 1 ? Avx512F.LoadVector512(row) : Avx512F.PermuteVar16x32x2(Avx512F.LoadVector512(row), pick, Avx512F.LoadVector512(row + 16));
            for (int kh = khLo; kh < khHi; kh++, row += (long)DH * W)
                for (int kw = kh == khLo ? 1 : 0; kw < KW; kw++)
                {
                    var v = SW == 1 ? Avx512F.LoadVector512(row + kw)
                                    : Avx512F.PermuteVar16x32x2(Avx512F.LoadVector512(row + kw), pick, Avx512F.LoadVector512(row + kw + 16));
                    m = Avx512F.Max(v, m);
                }
            Avx512F.Store(y + ow, m);
        }
    }

    /// <summary>
    /// Outputs 0-15 of a stride-2 row whose window starts one column left of the image (padLeft 1): output 0's taps
    /// kw = 0 are padding, so lane 0 seeds on tap (first row, 1), and at kw = 0 keeps its maximum (max(m, m) = m);
    /// every other lane runs the taps in (kh, kw) order as MaxRow512 does. The padding float is masked off the load.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LeftEdge(float* row, int W, int rows, int DH, int KW, float* y)
    {
        var even = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        var lane0 = Vector512.Create(-1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0).AsSingle();
        var notLane0 = ~lane0;
        float* start = row - 1;
        var m = default(Vector512<float>);
        for (int r = 0; r < rows; r++, start += (long)DH * W)
            for (int kw = 0; kw < KW; kw++)
            {
                var lo = kw == 0 ? Avx512F.MaskLoad(start, notLane0, Vector512<float>.Zero) : Avx512F.LoadVector512(start + kw);
                var v = Avx512F.PermuteVar16x32x2(lo, even, Avx512F.LoadVector512(start + kw + 16));
                if (r == 0 && kw == 0) m = v; // lane 0 is overwritten by the next tap
                else if (r == 0 && kw == 1) m = Avx512F.Max(v, Vector512.ConditionalSelect(lane0, v, m));
                else m = Avx512F.Max(kw == 0 ? Vector512.ConditionalSelect(lane0, m, v) : v, m);
            }
        Avx512F.Store(y, m);
    }

    /// <summary>
    /// <see cref="MaxRowVector"/> with 4 lanes (SSE4.1), for rows of 4 to 7 interior outputs. Stride 2 takes the even
    /// floats of 8 loaded ones, or near the row's end the odd ones of 8 loaded one float earlier.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MaxRowVector128<TA>(float* plane, int planeBase, int W, int h0, int khLo, int khHi, int DH, int KW, int SW,
        int padLeft, int owLo, int owHi, float* y, int* arg) where TA : struct, IArgmax
    {
        var lanes = Vector128.Create(0, 1, 2, 3) * SW;
        for (int next = owLo; next < owHi;)
        {
            int ow = Math.Min(next, owHi - 4);
            next = ow + 4;
            int w0 = ow * SW - padLeft;
            bool early = SW == 2 && w0 + KW - 1 + 8 > W;
            Vector128<float> m = default;
            Vector128<int> best = default;
            bool first = true;
            for (int kh = khLo; kh < khHi; kh++)
            {
                int rowOffset = (h0 + kh * DH) * W + w0;
                float* row = plane + rowOffset;
                for (int kw = 0; kw < KW; kw++)
                {
                    Vector128<float> v;
                    if (SW == 1) v = Sse.LoadVector128(row + kw);
                    else if (!early) v = Sse.Shuffle(Sse.LoadVector128(row + kw), Sse.LoadVector128(row + kw + 4), 0b10_00_10_00);
                    else v = Sse.Shuffle(Sse.LoadVector128(row + kw - 1), Sse.LoadVector128(row + kw + 3), 0b11_01_11_01);
                    var idx = Vector128.Create(rowOffset + kw) + lanes;
                    if (first)
                    {
                        m = v;
                        best = idx;
                        first = false;
                        continue;
                    }
                    var take = Sse.CompareGreaterThan(v, m);
                    m = Sse41.BlendVariable(m, v, take);
                    if (TA.On) best = Sse41.BlendVariable(best.AsSingle(), idx.AsSingle(), take).AsInt32();
                }
            }
            Sse.Store(y + ow, m);
            if (TA.On) Sse2.Store(arg + ow, best + Vector128.Create(planeBase));
        }
    }

    /// <summary>Window bounds clipped to the input, and the padded extent, along one axis (AvgPool2d's rule).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Span1d(int o, int stride, int padBegin, int padEnd, int k, int size, out int lo, out int hi, out int padded)
    {
        int start = o * stride - padBegin;
        int end = Math.Min(start + k, size + padEnd);
        padded = end - start;
        lo = Math.Max(start, 0);
        hi = Math.Min(end, size);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AvgPlane(in Job j, int p)
    {
        int H = j.H, W = j.W, OW = j.OW;
        var g = j.G;
        float* plane = j.X + (long)p * H * W;
        for (int oh = 0; oh < j.OH; oh++)
        {
            Span1d(oh, g.SH, g.PadTop, g.PadBottom, g.KH, H, out int h0, out int h1, out int hp);
            float* y = j.Y + ((long)p * j.OH + oh) * OW;
            for (int ow = 0; ow < OW; ow++)
            {
                Span1d(ow, g.SW, g.PadLeft, g.PadRight, g.KW, W, out int w0, out int w1, out int wp);
                float s = 0;
                for (int ih = h0; ih < h1; ih++)
                {
                    float* row = plane + (long)ih * W;
                    for (int iw = w0; iw < w1; iw++) s += row[iw];
                }
                float d = j.CountIncludePad ? hp * wp : (h1 - h0) * (w1 - w0);
                y[ow] = d > 0 ? s / d : 0f;
            }
        }
    }
}
