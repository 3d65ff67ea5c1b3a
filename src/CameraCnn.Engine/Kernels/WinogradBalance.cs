// WinogradBalance: the split of the normal-form products by output channels where every worker has its own V (maps of
// 28x28 and below): one contiguous range of channel panels per worker, sized by how fast each worker ran this conv's
// previous forward, so a core the host slows down gets less. On a 2-vCPU Zen 5 VM one vCPU ran 20-30 % slower than
// the other for minutes at a time (another guest on its core, most likely), and an even split made every such conv
// wait for it: 0.05-0.14 ms per conv. Whole ResNet18 forwards, this against the even units of OwnInputJob alternated
// in one process: 6-8 % faster at 2 threads while one vCPU ran slow, 0.2-1 % when both ran alike, the same at 1.
// Which worker computes which channels never changes a result.
using System.Diagnostics;

namespace CameraCnn.Engine.Kernels;

internal sealed unsafe partial class WinogradConvolution
{
    /// <summary>Each worker's share of the output-channel panels (they sum to 1), learned from this conv's last forwards.</summary>
    private double[]? _shares;
    private long[]? _sliceTicks;
    private int[]? _sliceThreads;

    /// <summary>Numbers each balanced forward, so a thread that runs two slices of one transforms its V once.</summary>
    private static long _forwards;
    [ThreadStatic] private static long _vForward;

    /// <summary>Tests: the shares the next forwards start from (null = even); set before the first forward.</summary>
    internal void SetShares(double[]? shares) => _shares = shares is null ? null : (double[])shares.Clone();

    /// <summary>The learned shares (tests and benchmarks).</summary>
    internal double[]? Shares => _shares;

    /// <summary>True when the products split by output channels can run balanced: one column block, a panel or more per worker.</summary>
    private static bool Balances(int colBlocks, int ocPanels, int workers) => colBlocks == 1 && ocPanels >= 2 * workers;

    /// <summary>
    /// The forward's phase 1 and 2 on <paramref name="workers"/> threads: slice i transforms every plane into its
    /// thread's V and computes the output-channel panels [cut_i, cut_i+1) for every column; then the shares move
    /// toward each slice's measured speed.
    /// </summary>
    private void RunBalanced<TK, TT, TW>(in InputJob<TT, TW> input, ProductJob<TK, TT, TW> product, int ocPanels, int workers)
        where TK : struct, IGemmKernel where TT : struct, IWinogradTile where TW : struct, IWinogradWidth
    {
        if (_shares is null || _shares.Length != workers)
        {
            _shares = new double[workers];
            Array.Fill(_shares, 1.0 / workers);
        }
        if (_sliceTicks is null || _sliceTicks.Length != workers)
        {
            _sliceTicks = new long[workers];
            _sliceThreads = new int[workers];
        }
        int* cuts = stackalloc int[workers + 1];
        Cuts(_shares, ocPanels, cuts);
        int widest = 0;
        for (int i = 0; i < workers; i++) widest = Math.Max(widest, cuts[i + 1] - cuts[i]);
        product.OcChunk = widest * TK.MR; // the M scratch's rows
        Array.Clear(_sliceThreads!);
        fixed (long* ticks = _sliceTicks)
        fixed (int* threads = _sliceThreads)
        {
            var job = new BalancedJob<TK, TT, TW>
            {
                Input = input, Product = product, Cuts = cuts, Ticks = ticks, Threads = threads, MR = TK.MR,
                Forward = Interlocked.Increment(ref _forwards),
            };
            Parallelism.For(workers, 1, ref job);
        }
        for (int i = 0; i < workers; i++)
            for (int j = 0; j < i; j++)
                if (_sliceThreads![i] == _sliceThreads[j]) return; // a thread ran two slices: no speed to learn
        Span<int> panels = stackalloc int[workers];
        for (int i = 0; i < workers; i++) panels[i] = cuts[i + 1] - cuts[i];
        Rebalance(_shares, panels, _sliceTicks);
    }

    /// <summary>cuts[0..workers] over [0, panels): contiguous ranges by shares, each at least one panel.</summary>
    internal static void Cuts(ReadOnlySpan<double> shares, int panels, int* cuts)
    {
        int workers = shares.Length;
        double sum = 0;
        cuts[0] = 0;
        for (int i = 0; i < workers; i++)
        {
            sum += shares[i];
            int cut = i == workers - 1 ? panels : (int)Math.Round(panels * sum);
            cuts[i + 1] = Math.Clamp(cut, cuts[i] + 1, panels - (workers - 1 - i));
        }
    }

    /// <summary>
    /// Moves the shares halfway toward each slice's speed (its panels per tick), with a floor of a quarter of an even
    /// share: a slice that once ran slow (descheduled for a moment) gets its work back within a few forwards.
    /// </summary>
    internal static void Rebalance(Span<double> shares, ReadOnlySpan<int> panels, ReadOnlySpan<long> ticks)
    {
        int n = shares.Length;
        double total = 0;
        Span<double> speed = stackalloc double[n];
        for (int i = 0; i < n; i++)
        {
            if (ticks[i] <= 0) return;
            speed[i] = panels[i] / (double)ticks[i];
            total += speed[i];
        }
        double floor = 0.25 / n, sum = 0;
        for (int i = 0; i < n; i++)
        {
            shares[i] = Math.Max(floor, 0.5 * shares[i] + 0.5 * speed[i] / total);
            sum += shares[i];
        }
        for (int i = 0; i < n; i++) shares[i] /= sum;
    }

    /// <summary>Slice i: its thread's V (transformed once per forward), then output-channel panels [Cuts[i], Cuts[i + 1]).</summary>
    private struct BalancedJob<TK, TT, TW> : IParallelBody
        where TK : struct, IGemmKernel where TT : struct, IWinogradTile where TW : struct, IWinogradWidth
    {
        public InputJob<TT, TW> Input;
        public ProductJob<TK, TT, TW> Product;
        public int* Cuts, Threads;
        public long* Ticks;
        public long Forward;
        public int MR;

        public void Run(int start, int end, int worker)
        {
            long t0 = Stopwatch.GetTimestamp();
            var input = Input;
            _v ??= [];
            input.V = PinnedBuffer.Ensure(ref _v, TT.Alpha * TT.Alpha * input.P.XiStride);
            if (_vForward != Forward)
            {
                input.Transform(0, input.P.N * input.C, 0, input.P.Cols);
                _vForward = Forward;
            }
            for (int i = start; i < end; i++)
            {
                Product.Unit(input.V, Cuts[i] * MR, Math.Min(Product.OC, Cuts[i + 1] * MR), 0, input.P.Cols);
                Ticks[i] = Stopwatch.GetTimestamp() - t0;
                Threads[i] = Environment.CurrentManagedThreadId;
            }
        }
    }
}
