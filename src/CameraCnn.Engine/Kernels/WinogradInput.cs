// WinogradInput: phase 1 of WinogradConvolution: each input plane padded into a scratch plane and its tiles
// transformed (v = B^T d B) straight into the packed V panels of the alpha^2 products, for all of a plane's tiles or
// only a column window of them (the spatial split).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace CameraCnn.Engine.Kernels;

internal sealed unsafe partial class WinogradConvolution
{
    /// <summary>Phase 1: planes (n, c) padded into a scratch plane and their tiles transformed into V.</summary>
    private struct InputJob<TT, TW> : IParallelBody where TT : struct, IWinogradTile where TW : struct, IWinogradWidth
    {
        public float* X, V;
        public int C, H, W, PadTop, PadLeft;
        public Plan P;

        public void Run(int start, int end, int worker) => Transform(start, end, 0, P.Cols);

        /// <summary>
        /// Planes [p0, p1), only the V columns [col0, col1) (multiples of the lane count): the rows of each plane that
        /// those tiles read are copied into the scratch plane, their tiles transformed.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Transform(int p0, int p1, int col0, int col1)
        {
            int m = TT.M, lanes = TW.Lanes, pw = P.PW, Wp = P.Wp;
            float* plane = Plane();
            // Each tile's patch offset in the plane, once per call (the same for every plane); lanes past an image's
            // last tile repeat its first: their columns are padding, never read back.
            if (_tileOffsets is null || _tileOffsets.Length < P.TpiPad) _tileOffsets = new int[Math.Max(P.TpiPad, 64)];
            int[] offsets = _tileOffsets;
            for (int t = 0; t < P.TpiPad; t++)
                offsets[t] = t < P.Tpi ? m * (t / P.TilesW) * Wp + m * (t % P.TilesW) : 0;
            float** ptrs = stackalloc float*[lanes];
            for (int pi = p0; pi < p1; pi++)
            {
                int n = pi / C, c = pi % C;
                int t0 = Math.Max(0, col0 - n * P.TpiPad), t1 = Math.Min(P.TpiPad, col1 - n * P.TpiPad);
                if (t0 >= t1) continue;
                // Plane rows the tiles [t0, t1) read (a padding lane reads tile 0's, whose values are never used).
                int last = Math.Min(t1, P.Tpi) - 1;
                int r0 = last < t0 ? 0 : t0 / P.TilesW * m, r1 = last < t0 ? 0 : last / P.TilesW * m + TT.Alpha;
                CopyInterior(X + (long)pi * H * W, plane, r0, r1);
                int k0 = c / GemmDriver.KC * GemmDriver.KC, kc = Math.Min(GemmDriver.KC, C - k0);
                float* vc = V + (long)k0 * P.Tpad + (long)(c - k0) * pw;
                // The upper half of a vector's lanes: the same panel when a panel holds the vector, else the next one.
                long half = pw >= lanes ? lanes / 2 : (long)pw * kc;
                for (int t = t0; t < t1; t += lanes)
                {
                    for (int l = 0; l < lanes; l++) ptrs[l] = plane + offsets[t + l];
                    int col = n * P.TpiPad + t;
                    TW.Input<TT>(ptrs, Wp, vc + (long)(col / pw) * pw * kc + col % pw, P.XiStride, half);
                }
            }
        }

        /// <summary>
        /// This thread's padded plane [Hp x Wp]. Its border (the zero padding) is cleared only when the geometry changes:
        /// each plane then overwrites just the interior, x [H x W] at (PadTop, PadLeft).
        /// </summary>
        private readonly float* Plane()
        {
            _plane ??= [];
            float* plane = PinnedBuffer.Ensure(ref _plane, (long)P.Hp * P.Wp);
            var geometry = (P.Hp, P.Wp, PadTop, PadLeft, H, W, (nint)plane);
            if (_planeGeometry != geometry)
            {
                new Span<float>(plane, P.Hp * P.Wp).Clear();
                _planeGeometry = geometry;
            }
            return plane;
        }

        /// <summary>Plane rows [r0, r1) that hold x (the rest is the zero border): x's rows r - PadTop.</summary>
        private readonly void CopyInterior(float* x, float* plane, int r0, int r1)
        {
            int from = Math.Max(r0, PadTop), to = Math.Min(Math.Min(r1, P.Hp), PadTop + H);
            int width = Math.Min(W, P.Wp - PadLeft);
            x += (long)(from - PadTop) * W;
            float* d = plane + (long)from * P.Wp + PadLeft;
            for (int r = from; r < to; r++, x += W, d += P.Wp)
            {
                int i = 0;
                if (Vector512.IsHardwareAccelerated)
                    for (; i + 16 <= width; i += 16) Vector512.Load(x + i).Store(d + i);
                if (Vector256.IsHardwareAccelerated)
                    for (; i + 8 <= width; i += 8) Vector256.Load(x + i).Store(d + i);
                for (; i < width; i++) d[i] = x[i];
            }
        }
    }
}
