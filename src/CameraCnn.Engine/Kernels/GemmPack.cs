// GemmPack: the packing half of the packed GEMM (MLAS/BLIS "pack, kernel, driver"). A is packed into MR-row
// panels, B into NR-column panels, both zero-padded to whole panels and cut into KC-deep blocks, so a micro-kernel
// reads each operand as one contiguous stream. Also the micro-kernel contract and the fused epilogue.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace CameraCnn.Engine.Kernels;

/// <summary>
/// A micro-kernel: C[rows x cols] (op)= packed A panel [kc x MR] * packed B panel [kc x NR], rows &lt;= MR,
/// cols &lt;= NR, followed by <see cref="GemmEpilogue"/>. Every element is an FMA chain over k in order, so the
/// result does not depend on where a tile falls (thread count, tails).
/// </summary>
internal unsafe interface IGemmKernel
{
    static abstract int MR { get; }
    static abstract int NR { get; }
    /// <summary>Column granularity of a tile (one vector): workers split N in multiples of it.</summary>
    static abstract int NU { get; }
    static abstract bool IsSupported { get; }
    static abstract void Run(float* a, float* b, int kc, float* c, int ldc, int rows, int cols, in GemmEpilogue ep);
    /// <summary>Run, for an A that streams from memory once (the AVX-512 kernel prefetches it ahead; the others are Run).</summary>
    static abstract void RunStreamingA(float* a, float* b, int kc, float* c, int ldc, int rows, int cols, in GemmEpilogue ep);
}

/// <summary>
/// What a micro-kernel does with its accumulators: c = acc (+ c when <see cref="Load"/>) (+ bias[row]) (+ residual)
/// then max(0, .) when <see cref="Relu"/>. Bias, residual and ReLU are set only on the last K block.
/// Pointers are relative to the tile: Bias at the tile's first row, Residual at its first element.
/// </summary>
internal unsafe struct GemmEpilogue
{
    public bool Load;
    public bool Relu;
    public float* Bias;
    public float* Residual;
    public int LdResidual;

    /// <summary>The element-wise merge of a parked tile t [MR x ldt]: the same operations in the same order as the vector stores.</summary>
    public static void MergeScalar(float* t, int ldt, float* c, int ldc, int rows, int cols, in GemmEpilogue ep)
    {
        for (int r = 0; r < rows; r++)
        {
            float* cr = c + (long)r * ldc;
            float* tr = t + r * ldt;
            float* rr = ep.Residual == null ? null : ep.Residual + (long)r * ep.LdResidual;
            for (int j = 0; j < cols; j++)
            {
                float v = tr[j];
                if (ep.Load) v += cr[j];
                if (ep.Bias != null) v += ep.Bias[r];
                if (rr != null) v += rr[j];
                if (ep.Relu && v < 0) v = 0; // NaN stays NaN, like max(0, v) in the vector kernels
                cr[j] = v;
            }
        }
    }
}

/// <summary>
/// Fills packed B panels for columns [j0, j0 + nc) and rows [k0, k0 + kc) of a virtual K x N matrix:
/// dst[(j - j0) / NR][k - k0][(j - j0) % NR], zero in the lanes past nc of the last panel.
/// </summary>
internal unsafe interface IBPanelSource
{
    void Pack(int k0, int kc, int j0, int nc, int nr, float* dst);

    /// <summary>True when the panels already exist (<see cref="Panels"/>); the driver then packs nothing.</summary>
    bool IsPrepacked { get; }

    /// <summary>The existing panels of K block k0 from column j0 (a multiple of NR), or null when they must be packed.</summary>
    float* Panels(int k0, int j0);
}

/// <summary>B from a row-major matrix: K x N with leading dimension ldb, or stored N x K when transposed.</summary>
internal readonly unsafe struct MatrixPanels(float* b, int ldb, bool trans) : IBPanelSource
{
    public bool IsPrepacked => false;
    public float* Panels(int k0, int j0) => null;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Pack(int k0, int kc, int j0, int nc, int nr, float* dst)
    {
        for (int p = 0; p < nc; p += nr)
        {
            int w = Math.Min(nr, nc - p);
            float* d = dst + (long)(p / nr) * kc * nr;
            if (!trans)
            {
                // Each k row of the panel is a contiguous run of B's row k.
                float* src = b + (long)k0 * ldb + j0 + p;
                for (int k = 0; k < kc; k++, src += ldb, d += nr)
                {
                    new ReadOnlySpan<float>(src, w).CopyTo(new Span<float>(d, w));
                    if (w < nr) new Span<float>(d + w, nr - w).Clear();
                }
            }
            else
            {
                // B stored N x K: column j of op(B) is B's row j, read contiguously and written with stride nr.
                if (w < nr)
                    for (int k = 0; k < kc; k++) new Span<float>(d + k * nr + w, nr - w).Clear();
                for (int jj = 0; jj < w; jj++)
                {
                    float* src = b + (long)(j0 + p + jj) * ldb + k0;
                    for (int k = 0; k < kc; k++) d[k * nr + jj] = src[k];
                }
            }
        }
    }
}

/// <summary>
/// A matrix packed for one micro-kernel shape: for each KC block starting at k0, the MR-row panels one after the
/// other, each [kc x MR] (element (r, k) at k * MR + r), rows past <see cref="Rows"/> zero.
/// Block k0, panel p starts at k0 * PaddedRows + p * MR * kc.
/// </summary>
internal sealed unsafe class PackedMatrix
{
    private float[] _buffer = [];

    public int Rows { get; private set; }
    public int Cols { get; private set; }
    public int MR { get; private set; }
    public int PaddedRows => (Rows + MR - 1) / MR * MR;
    public GemmPath Path { get; private set; }
    /// <summary>64-byte aligned start of the packed data (the buffer is pinned).</summary>
    public float* Data { get; private set; }

    /// <summary>Packs rows x cols of A (row-major, leading dimension lda; or stored cols x rows when transposed) for the given path.</summary>
    public void Pack(ReadOnlySpan<float> a, int rows, int cols, int lda, bool trans, GemmPath path)
    {
        int mr = Gemm.PanelRows(path);
        long need = (long)(rows + mr - 1) / mr * mr * cols;
        Data = PinnedBuffer.Ensure(ref _buffer, need);
        Rows = rows;
        Cols = cols;
        MR = mr;
        Path = path;
        fixed (float* pa = a)
            PackA(pa, lda, trans, 0, rows, cols, mr, Data, PaddedRows);
    }

    /// <summary>
    /// Sizes the matrix for rows x cols packed for a path and returns its data, for a caller that fills the layout above
    /// itself (an im2col packed straight into A panels).
    /// </summary>
    public float* Reserve(int rows, int cols, GemmPath path)
    {
        int mr = Gemm.PanelRows(path);
        Data = PinnedBuffer.Ensure(ref _buffer, (long)(rows + mr - 1) / mr * mr * Math.Max(cols, 1));
        Rows = rows;
        Cols = cols;
        MR = mr;
        Path = path;
        return Data;
    }

    /// <summary>d[k * 8 + r] = src[r * lda + k] for an 8 x 8 block: eight row loads, the unpack/shuffle/permute network, eight stores.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(float* src, int lda, float* d)
    {
        var r0 = Avx.LoadVector256(src); var r1 = Avx.LoadVector256(src + lda);
        var r2 = Avx.LoadVector256(src + 2L * lda); var r3 = Avx.LoadVector256(src + 3L * lda);
        var r4 = Avx.LoadVector256(src + 4L * lda); var r5 = Avx.LoadVector256(src + 5L * lda);
        var r6 = Avx.LoadVector256(src + 6L * lda); var r7 = Avx.LoadVector256(src + 7L * lda);
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(d, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(d + 8, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(d + 16, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(d + 24, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(d + 32, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(d + 40, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(d + 48, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(d + 56, Avx.Permute2x128(u3, u7, 0x31));
    }

    /// <summary>
    /// Packs rows [m0, m0 + rows) of op(A) (all K columns) into dst with the layout above, using paddedRows as the
    /// block stride.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void PackA(float* a, int lda, bool trans, int m0, int rows, int K, int mr, float* dst, int paddedRows)
    {
        for (int k0 = 0; k0 < K; k0 += GemmDriver.KC)
        {
            int kc = Math.Min(GemmDriver.KC, K - k0);
            for (int p = 0; p < rows; p += mr)
            {
                int h = Math.Min(mr, rows - p);
                float* d = dst + (long)k0 * paddedRows + (long)p * kc;
                if (trans)
                {
                    // A stored K x M: the MR values of one k are contiguous.
                    float* src = a + (long)k0 * lda + m0 + p;
                    for (int k = 0; k < kc; k++, src += lda, d += mr)
                        for (int r = 0; r < mr; r++) d[r] = r < h ? src[r] : 0f;
                }
                else
                {
                    // MR row streams read side by side; the panel is written sequentially.
                    float* src = a + (long)(m0 + p) * lda + k0;
                    int k8 = 0;
                    if (mr == 8 && h == 8 && Avx.IsSupported)
                        for (; k8 + 8 <= kc; k8 += 8, d += 64) Transpose8x8(src + k8, lda, d);
                    src += k8;
                    for (int k = k8; k < kc; k++, d += mr)
                    {
                        int r = 0;
                        for (; r < h; r++) d[r] = src[(long)r * lda + k - k8];
                        for (; r < mr; r++) d[r] = 0f;
                    }
                }
            }
        }
    }
}

/// <summary>
/// A matrix packed as B panels for one micro-kernel shape (weights used as the right operand): for each KC block
/// starting at k0, the NR-column panels one after the other, each [kc x NR], columns past <see cref="Cols"/> zero.
/// Block k0, panel p starts at k0 * PaddedCols + p * NR * kc.
/// </summary>
internal sealed unsafe class PackedPanels
{
    private float[] _buffer = [];

    public int Rows { get; private set; }
    public int Cols { get; private set; }
    public int NR { get; private set; }
    public int PaddedCols => (Cols + NR - 1) / NR * NR;
    public GemmPath Path { get; private set; }
    public float* Data { get; private set; }

    /// <summary>Packs op(B) [rows x cols]: B row-major with leading dimension ldb, or stored cols x rows when transposed.</summary>
    public void Pack(ReadOnlySpan<float> b, int rows, int cols, int ldb, bool trans, GemmPath path)
    {
        int nr = Gemm.PanelCols(path);
        Rows = rows;
        Cols = cols;
        NR = nr;
        Path = path;
        Data = PinnedBuffer.Ensure(ref _buffer, (long)PaddedCols * Math.Max(rows, 1));
        fixed (float* pb = b)
        {
            var src = new MatrixPanels(pb, ldb, trans);
            for (int k0 = 0; k0 < rows; k0 += GemmDriver.KC)
                src.Pack(k0, Math.Min(GemmDriver.KC, rows - k0), 0, cols, nr, Data + (long)k0 * PaddedCols);
        }
    }
}

/// <summary>B from <see cref="PackedPanels"/>: nothing to pack.</summary>
internal readonly unsafe struct PrepackedPanels(PackedPanels packed) : IBPanelSource
{
    public void Pack(int k0, int kc, int j0, int nc, int nr, float* dst) => throw new InvalidOperationException("pre-packed");
    public bool IsPrepacked => true;
    public float* Panels(int k0, int j0)
    {
        int kc = Math.Min(GemmDriver.KC, packed.Rows - k0);
        return packed.Data + (long)k0 * packed.PaddedCols + (long)j0 * kc;
    }
}

/// <summary>Pinned, 64-byte aligned float buffers that grow on demand and are then reused.</summary>
internal static unsafe class PinnedBuffer
{
    public static float* Ensure(ref float[] buffer, long floats)
    {
        if (buffer.Length < floats + 16)
        {
            if (floats + 16 > Array.MaxLength) throw new OutOfMemoryException($"gemm workspace of {floats} floats");
            buffer = GC.AllocateUninitializedArray<float>((int)(floats + 16), pinned: true);
        }
        float* p = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buffer));
        return (float*)(((nint)p + 63) & ~(nint)63);
    }
}
