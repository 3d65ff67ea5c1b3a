// WinogradBalance: the split of the normal-form products by output channels where every worker has its own V (maps of
// 28x28 and below): one contiguous range of channel panels per worker, sized by how fast each worker ran this conv's
// previous forward (SpeedShares), so a core the host slows down gets less. On the 2-vCPU Zen 5 VM an even split made
// every such conv wait for the slow vCPU: 0.05-0.14 ms per conv. Whole ResNet18 forwards, this against the even
// units of OwnInputJob alternated in one process: 6-8 % faster at 2 threads while one vCPU ran slow, 0.2-1 % when
// both ran alike, the same at 1. Which worker computes which channels never changes a result.
using System.Diagnostics;

namespace CameraCnn.Engine.Kernels;

internal sealed unsafe partial class WinogradConvolution
{
    /// <summary>Each worker's share of the output-channel panels, learned from this conv's last forwards.</summary>
    internal SpeedShares Shares { get; } = new();

    /// <summary>Numbers each balanced forward, so a thread that runs two slices of one transforms its V once.</summary>
    private static long _forwards;
    [ThreadStatic] private static long _vForward;

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
        int* cuts = stackalloc int[workers + 1];
        Shares.Cut(workers, ocPanels, cuts);
        int widest = 0;
        for (int i = 0; i < workers; i++) widest = Math.Max(widest, cuts[i + 1] - cuts[i]);
        product.OcChunk = widest * TK.MR; // the M scratch's rows
        var job = new BalancedJob<TK, TT, TW>
        {
            Input = input, Product = product, Cuts = cuts, Shares = Shares, MR = TK.MR, Forward = Interlocked.Increment(ref _forwards),
        };
        Parallelism.For(workers, 1, ref job);
        Shares.Learn(cuts);
    }

    /// <summary>Slice i: its thread's V (transformed once per forward), then output-channel panels [Cuts[i], Cuts[i + 1]).</summary>
    private struct BalancedJob<TK, TT, TW> : IParallelBody
        where TK : struct, IGemmKernel where TT : struct, IWinogradTile where TW : struct, IWinogradWidth
    {
        public InputJob<TT, TW> Input;
        public ProductJob<TK, TT, TW> Product;
        public int* Cuts;
        public SpeedShares Shares;
        public long Forward;
        public int MR;

        public void Run(int start, int end, int worker)
        {
            long t0 = Stopwatch.GetTimestamp();
            var input = Input;
            input.V = ThreadV<TT>(input.P);
            if (_vForward != Forward)
            {
                input.Transform(0, input.P.N * input.C, 0, input.P.Cols);
                _vForward = Forward;
            }
            for (int i = start; i < end; i++)
            {
                Product.Unit(input.V, Cuts[i] * MR, Math.Min(Product.OC, Cuts[i + 1] * MR), 0, input.P.Cols);
                Shares.Record(i, t0);
            }
        }
    }
}
