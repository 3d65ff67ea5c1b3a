// WinogradProducts: phase 2 of WinogradConvolution, the alpha^2 GEMMs of a unit of work followed by its output
// transform (y = A^T M A + bias (+ residual), ReLU), in the two orientations: M_xi [OC x tiles] = U_xi * V_xi with the
// tiles as the B panels' columns (many tiles), and M_xi^T [tiles x OC] = V_xi^T * U_xi^T with the tiles in the A
// panels' 8 rows and the output channels in the 48-wide B panels (few tiles, AVX-512). Units are claimed from a
// counter, so a worker the OS has not scheduled yet delays nobody.
using System.Runtime.CompilerServices;
using V512 = System.Runtime.Intrinsics.Vector512<float>;

namespace CameraCnn.Engine.Kernels;

internal sealed unsafe partial class WinogradConvolution
{
    /// <summary>Phase 2: units of (output-channel chunk, tile block): alpha^2 products, then the output transform.</summary>
    private struct ProductJob<TK, TT, TW>
        where TK : struct, IGemmKernel where TT : struct, IWinogradTile where TW : struct, IWinogradWidth
    {
        public float* Y, Bias, Residual;
        public bool Relu;
        public PackedMatrix[] Packed;
        public int OC, C, OH, OW;
        public Plan P;
        public int OcChunk, BlockPanels, OcChunks, ColBlocks;
        /// <summary>Next unclaimed unit, shared by every thread running this job (the struct is run in place).</summary>
        public int NextUnit;

        /// <summary>Claims units from the shared counter until none is left, reading the transformed input v.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Claim(float* v)
        {
            int nr = TK.NR;
            for (int unit; (unit = Interlocked.Increment(ref NextUnit) - 1) < OcChunks * ColBlocks;)
            {
                int o0 = unit / ColBlocks * OcChunk, c0 = unit % ColBlocks * BlockPanels * nr;
                Unit(v, o0, Math.Min(OC, o0 + OcChunk), c0, Math.Min(P.Cols, c0 + BlockPanels * nr));
            }
        }

        /// <summary>
        /// Every output channel for the V columns [c0, c1) (c0 a multiple of the lanes and of the kernel's vector),
        /// unit by unit: the spatial split's share of one worker.
        /// </summary>
        public readonly void Columns(float* v, int c0, int c1)
        {
            int block = BlockPanels * TK.NR;
            for (int o0 = 0; o0 < OC; o0 += OcChunk)
                for (int b0 = c0; b0 < c1; b0 += block)
                    Unit(v, o0, Math.Min(OC, o0 + OcChunk), b0, Math.Min(c1, b0 + block));
        }

        /// <summary>
        /// Output channels [o0, o1) x V columns [c0, c1) (at most BlockPanels panels wide): the alpha^2 products into this
        /// thread's M scratch, then the output transform. A window that starts inside a panel hands the kernel the panel
        /// from that column on (it loads only the vectors the columns need, at the panel's stride).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        internal readonly void Unit(float* v, int o0, int o1, int c0, int c1)
        {
            int a2 = TT.Alpha * TT.Alpha, mr = TK.MR, nr = TK.NR;
            int ldm = BlockPanels * nr;
            long mStride = (long)OcChunk * ldm + CacheLine;
            _m ??= [];
            float* mBuf = PinnedBuffer.Ensure(ref _m, a2 * mStride);
            for (int xi = 0; xi < a2; xi++)
            {
                PackedMatrix u = Packed[xi];
                float* vXi = v + xi * P.XiStride, mXi = mBuf + xi * mStride;
                for (int k0 = 0; k0 < C; k0 += GemmDriver.KC)
                {
                    int kc = Math.Min(GemmDriver.KC, C - k0);
                    var ep = new GemmEpilogue { Load = k0 > 0 };
                    for (int i = o0; i < o1; i += mr)
                    {
                        float* ap = u.Data + (long)k0 * u.PaddedRows + (long)(i / mr) * mr * kc;
                        int rows = Math.Min(mr, o1 - i);
                        for (int col = c0, next; col < c1; col = next)
                        {
                            int bp = col / nr;
                            next = Math.Min(c1, (bp + 1) * nr);
                            // U streams from memory (17 MB per 7x7 conv), each panel meeting only this unit's columns.
                            TK.RunStreamingA(ap, vXi + (long)k0 * P.Tpad + (long)bp * nr * kc + col % nr, kc,
                                mXi + (long)(i - o0) * ldm + (col - c0), ldm, rows, next - col, ep);
                        }
                    }
                }
            }
            Output(mBuf, mStride, ldm, o0, o1, c0, c1);
        }

        /// <summary>y for output channels [o0, o1) and V columns [c0, c1) from the unit's products.</summary>
        private readonly void Output(float* mBuf, long mStride, int ldm, int o0, int o1, int c0, int c1)
        {
            int m = TT.M, lanes = TW.Lanes, planeSize = OH * OW;
            float** y = stackalloc float*[lanes];
            long* offsets = stackalloc long[lanes];
            int* rows = stackalloc int[lanes];
            int* cols = stackalloc int[lanes];
            float* t = stackalloc float[m * m * lanes];
            long resOffset = Residual == null ? 0 : Residual - Y;
            for (int col = c0; col < c1; col += lanes)
            {
                int n = col / P.TpiPad, t0 = col % P.TpiPad;
                bool full = lanes > 1;
                for (int l = 0; l < lanes; l++)
                {
                    int tile = t0 + l;
                    if (tile >= P.Tpi)
                    {
                        rows[l] = cols[l] = 0;
                        offsets[l] = 0;
                        full = false;
                        continue;
                    }
                    int oh = tile / P.TilesW * m, ow = tile % P.TilesW * m;
                    rows[l] = Math.Min(m, OH - oh);
                    cols[l] = Math.Min(m, OW - ow);
                    full &= rows[l] == m && cols[l] == m;
                    offsets[l] = (long)n * OC * planeSize + (long)oh * OW + ow;
                }
                for (int oc = o0; oc < o1; oc++)
                {
                    float* src = mBuf + (long)(oc - o0) * ldm + (col - c0);
                    float* bias = Bias == null ? Zeros : Bias + oc;
                    long ocOff = (long)oc * planeSize;
                    for (int l = 0; l < lanes; l++) y[l] = Y + offsets[l] + ocOff;
                    if (full)
                    {
                        TW.Output<TT>(src, mStride, bias, 0, y, OW, resOffset, Residual != null, Relu);
                        continue;
                    }
                    TW.OutputToTemp<TT>(src, mStride, t);
                    for (int e = 0; e < lanes; e++)
                    {
                        int l = WinogradRuns.TileOfLane(e, lanes);
                        for (int r = 0; r < rows[l]; r++)
                            for (int q = 0; q < cols[l]; q++)
                            {
                                float val = t[(r * m + q) * lanes + e] + *bias;
                                float* dst = y[l] + (long)r * OW + q;
                                if (Residual != null) val += dst[resOffset];
                                if (Relu && val < 0) val = 0; // NaN stays NaN, like max(0, v)
                                *dst = val;
                            }
                    }
                }
            }
        }
    }

    /// <summary>
    /// Transposed phase 2 (AVX-512): a unit is one 48-wide output-channel panel with all its tiles, so each panel of
    /// U^T is streamed by one worker and serves every tile panel from cache; the last panels are taken one tile panel
    /// at a time, so the workers finish together. M^T [xi][tile][oc] per unit; the output transform then runs across
    /// 16 output channels at once.
    /// </summary>
    private struct ProductJobT<TT> : IParallelBody where TT : struct, IWinogradTile
    {
        public float* V, Y, Bias, Residual;
        public bool Relu;
        /// <summary>The B panels: [OC / 48][xi][C][48] (WinogradConvolution.PackTransposed), pinned.</summary>
        public float* UT;
        public int OC, C, OH, OW;
        public Plan P;
        /// <summary>Units [0, WholeUnits) are panel u with every tile panel; the rest, one (panel, tile panel) each.</summary>
        public int OcPanels, WholeUnits, TilePanels;
        public int NextUnit;

        public readonly int Units => WholeUnits + (OcPanels - WholeUnits) * TilePanels;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int start, int end, int worker)
        {
            const int MR = 8, NR = 48;
            int a2 = TT.Alpha * TT.Alpha, ldm = NR;
            long mStride = (long)TilePanels * MR * ldm + CacheLine;
            _m ??= [];
            float* mBuf = PinnedBuffer.Ensure(ref _m, a2 * mStride);
            for (int unit; (unit = Interlocked.Increment(ref NextUnit) - 1) < Units;)
            {
                int panel, tp0, tp1;
                if (unit < WholeUnits) (panel, tp0, tp1) = (unit, 0, TilePanels);
                else
                {
                    int r = unit - WholeUnits;
                    (panel, tp0) = (WholeUnits + r / TilePanels, r % TilePanels);
                    tp1 = tp0 + 1;
                }
                int o0 = panel * NR, width = Math.Min(NR, OC - o0);
                Products(panel, tp0, tp1, width, mBuf, mStride, ldm);
                Output(mBuf, mStride, ldm, o0, o0 + width, tp0 * MR, Math.Min(tp1 * MR, P.Cols) - tp0 * MR);
            }
        }

        /// <summary>The products of one U^T panel: each KC block of it meets every tile panel of every xi.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private readonly void Products(int panel, int tp0, int tp1, int width, float* mBuf, long mStride, int ldm)
        {
            const int MR = 8, NR = 48;
            int a2 = TT.Alpha * TT.Alpha;
            for (int xi = 0; xi < a2; xi++)
            {
                float* vXi = V + xi * P.XiStride, mXi = mBuf + xi * mStride, uXi = UT + ((long)panel * a2 + xi) * C * NR;
                for (int k0 = 0; k0 < C; k0 += GemmDriver.KC)
                {
                    int kc = Math.Min(GemmDriver.KC, C - k0);
                    var ep = new GemmEpilogue { Load = k0 > 0 };
                    for (int tp = tp0; tp < tp1; tp++)
                        GemmKernelAvx512.Run(vXi + (long)k0 * P.Tpad + (long)tp * MR * kc, uXi + (long)k0 * NR, kc,
                            mXi + (long)(tp - tp0) * MR * ldm, ldm, Math.Min(MR, P.Cols - tp * MR), width, ep);
                }
            }
        }

        /// <summary>y for output channels [o0, o1) of the unit's tiles (columns c0 .. c0 + rows), 16 channels per transform.</summary>
        private readonly void Output(float* mBuf, long mStride, int ldm, int o0, int o1, int c0, int rows)
        {
            int m = TT.M, planeSize = OH * OW;
            float* t = stackalloc float[m * m * 16];
            float** y = stackalloc float*[16];
            long resOffset = Residual == null ? 0 : Residual - Y;
            for (int r = 0; r < rows; r++)
            {
                int col = c0 + r, n = col / P.TpiPad, e = col % P.TpiPad % 16;
                int tile = col % P.TpiPad - e + WinogradRuns.TileOfLane(e, 16); // the input's lane order
                if (tile >= P.Tpi) continue; // a padding column
                int oh = tile / P.TilesW * m, ow = tile % P.TilesW * m;
                int hRows = Math.Min(m, OH - oh), wCols = Math.Min(m, OW - ow);
                float* y0 = Y + (long)n * OC * planeSize + (long)oh * OW + ow;
                for (int oc = o0; oc < o1; oc += 16)
                {
                    float* src = mBuf + (long)r * ldm + (oc - o0);
                    if (hRows == m && wCols == m && oc + 16 <= o1)
                    {
                        // A whole tile for 16 channels: the vector output transform with the channels as its lanes (the
                        // block of lane e goes to y[TileOfLane(e)], so y[t] is channel oc + TileOfLane(t)'s block).
                        for (int l = 0; l < 16; l++) y[l] = y0 + (long)(oc + WinogradRuns.TileOfLane(l, 16)) * planeSize;
                        TT.Output<Lanes512, V512>(src, mStride, Bias == null ? Zeros : Bias + oc, 1, y, OW, resOffset, Residual != null, Relu);
                        continue;
                    }
                    TT.OutputToTemp<Lanes512, V512>(src, mStride, t);
                    for (int l = 0; l < Math.Min(16, o1 - oc); l++)
                    {
                        float bias = Bias == null ? 0f : Bias[oc + l];
                        float* yc = y0 + (long)(oc + l) * planeSize;
                        for (int a = 0; a < hRows; a++)
                            for (int b = 0; b < wCols; b++)
                            {
                                float* dst = yc + (long)a * OW + b;
                                float val = t[(a * m + b) * 16 + l] + bias;
                                if (Residual != null) val += dst[resOffset];
                                if (Relu && val < 0) val = 0; // NaN stays NaN, like max(0, v)
                                *dst = val;
                            }
                    }
                }
            }
        }
    }
}
