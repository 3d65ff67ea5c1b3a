// LayerBench: every layer's time inside whole forwards, the fused graph as its rule chooses against the same graph
// without Winograd (interleaved, medians), at every thread count: where a forward goes, and the measurements behind
// WinogradConvolution.Choose. Prints; asserts nothing.
using System.Diagnostics;
using CameraCnn.Engine;
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Optimization;

namespace CameraCnn.Bench;

internal static class LayerBench
{
    /// <summary>
    /// Per-layer medians inside whole forwards (Graph.ForwardTimed, so each layer meets its weights as a real forward
    /// does: not warm from the layer before), the fused graph as its rule chooses against the same graph without
    /// Winograd, interleaved, at each thread count.
    /// </summary>
    public static List<object> Run(Graph source, Tensor x, int[] threads, int rounds)
    {
        var chosen = InferenceFusion.Fuse(source);
        var gemm = InferenceFusion.Fuse(source, new FusionOptions { Winograd = false });
        Tensor[] inputs = [x];
        int n = chosen.Nodes.Count;
        var ticks = new long[n];
        var tc = new Dictionary<int, double[][]>();
        var tg = new Dictionary<int, double[][]>();
        foreach (int t in threads)
        {
            tc[t] = Enumerable.Range(0, n).Select(_ => new double[rounds]).ToArray();
            tg[t] = Enumerable.Range(0, n).Select(_ => new double[rounds]).ToArray();
        }
        double ms = 1000.0 / Stopwatch.Frequency;
        for (int r = -3; r < rounds; r++)
            foreach (int t in threads)
            {
                Parallelism.Threads = t;
                foreach (var (g, into) in r % 2 == 0 ? new[] { (chosen, tc[t]), (gemm, tg[t]) } : [(gemm, tg[t]), (chosen, tc[t])])
                {
                    Thread.Sleep(2);
                    g.ForwardTimed(inputs, ticks);
                    if (r >= 0)
                        for (int k = 0; k < n; k++) into[k][r] = ticks[k] * ms;
                }
            }

        Console.WriteLine();
        Console.WriteLine($"per layer inside whole forwards ({rounds} rounds, the graph as fused and the graph without Winograd interleaved, " +
            "medians, ms):");
        Console.WriteLine($"{"layer",-24} {"shape",-24} {"algorithm",-12} | " +
            string.Join(" | ", threads.Select(t => $"{t} thr: no-Wino   chosen  ratio")));
        var rows = new List<object>();
        var totals = threads.ToDictionary(t => t, _ => (Gemm: 0.0, Chosen: 0.0));
        for (int k = 0; k < n; k++)
        {
            var node = chosen.Nodes[k];
            if (node.Layer is not { } layer || layer is OutputAlias) continue;
            var conv = layer as FusedConv2d;
            var xin = node.Inputs[0].Output;
            string shape = conv is null ? $"{layer.GetType().Name}"
                : $"{conv.InChannels}->{conv.OutChannels} {conv.Window.KH}x{conv.Window.KW}/{conv.Window.SH} {xin.H}x{xin.W}";
            string algorithm = conv is null ? "" : conv.Algorithm == "winograd" ? $"winograd F{conv.WinogradTile}" : conv.Algorithm;
            var entry = new Dictionary<string, object> { ["layer"] = node.Name, ["shape"] = shape, ["algorithm"] = algorithm };
            var cells = new List<string>();
            foreach (int t in threads)
            {
                double g = Program.Median(tg[t][k]), c = Program.Median(tc[t][k]);
                totals[t] = (totals[t].Gemm + g, totals[t].Chosen + c);
                cells.Add($"{g,12:F3} {c,8:F3} {c / g,6:F2}");
                entry[$"t{t}_no_winograd_ms"] = Math.Round(g, 4);
                entry[$"t{t}_chosen_ms"] = Math.Round(c, 4);
            }
            rows.Add(entry);
            Console.WriteLine($"{Trim(node.Name),-24} {shape,-24} {algorithm,-12} | " + string.Join(" | ", cells));
        }
        Console.WriteLine($"{"sum",-24} {"",-24} {"",-12} | " +
            string.Join(" | ", threads.Select(t => $"{totals[t].Gemm,12:F3} {totals[t].Chosen,8:F3} {totals[t].Chosen / totals[t].Gemm,6:F2}")));
        return rows;
    }

    /// <summary>
    /// One 3x3 stride-1 conv (C = OC, pad 1) fused with Winograd forced on and off, one thread, best CPU time of 30 runs:
    /// the measurements behind WinogradConvolution.Choose (`--rule`).
    /// </summary>
    public static void Rule()
    {
        Parallelism.Threads = 1;
        Console.WriteLine("one 3x3 stride-1 conv, C = OC, pad 1, one thread, best CPU time of 30 runs (ms): GEMM against Winograd " +
            "(the tile WinogradConvolution.Choose picks)");
        foreach (int size in new[] { 7, 8, 14, 28, 56 })
            foreach (int ch in new[] { 8, 16, 32, 64, 128, 256 })
            {
                if ((long)ch * ch * size * size * 9 > 400_000_000L) continue;
                var g = new Graph();
                var xin = g.AddInput("x", -1, ch, size, size);
                g.MarkOutput(g.Add(new Conv2d(ch, ch, 3, 1, 1) { Name = "c" }, xin));
                CameraCnn.Engine.Training.Initializer.Initialize(g, 1);
                var x = new Tensor(1, ch, size, size);
                var rng = new Random(2);
                for (int i = 0; i < x.Length; i++) x.Data[i] = rng.NextSingle();
                double best(bool wino)
                {
                    WinogradConvolution.Force = wino;
                    var f = InferenceFusion.Fuse(g);
                    for (int i = 0; i < 3; i++) f.Forward(x);
                    double b = 1e9;
                    for (int i = 0; i < 30; i++)
                    {
                        double c0 = CpuTime.ThreadMs();
                        f.Forward(x);
                        b = Math.Min(b, CpuTime.ThreadMs() - c0);
                    }
                    WinogradConvolution.Force = null;
                    return b;
                }
                double gm = best(false), wn = best(true);
                int tile = WinogradConvolution.Choose(ch, ch, size, size);
                Console.WriteLine($"  C = OC = {ch,3}, {size,2}x{size,-2}: GEMM {gm,7:F4}, Winograd F({(tile == 0 ? "-" : $"{tile}x{tile}")}) " +
                    $"{wn,7:F4}, ratio {wn / gm,4:F2}{(tile == 0 ? " (the rule keeps the GEMM)" : "")}");
            }
    }

    private static string Trim(string name) => name.Length <= 24 ? name : name[..23] + "~";
}
