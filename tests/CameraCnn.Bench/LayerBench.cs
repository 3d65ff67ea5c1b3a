// LayerBench: each fused conv of the model timed alone on its real input, im2col + GEMM against Winograd (forced
// both ways, interleaved, medians), at every thread count: the measurements behind WinogradConvolution.Prefer.
// Also every other layer's time, so the table shows where a whole forward goes. Prints; asserts nothing.
using System.Diagnostics;
using CameraCnn.Engine;
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Optimization;

namespace CameraCnn.Bench;

internal static class LayerBench
{
    public static List<object> Run(Graph graph, Tensor x, int[] threads, int rounds)
    {
        Parallelism.Threads = threads.Max();
        graph.Forward([x]); // every node's input now holds its real value
        Console.WriteLine();
        Console.WriteLine($"per layer, each alone on its input from the real forward ({rounds} interleaved rounds, medians, ms); " +
            "convs with Winograd support timed both ways:");
        Console.WriteLine($"{"layer",-26} {"shape",-26} {"chosen",-8} | " +
            string.Join(" | ", threads.Select(t => $"{t} thr: gemm  winograd  w/g")));
        var rows = new List<object>();
        double[] total = new double[threads.Length];
        foreach (var node in graph.Nodes)
        {
            if (node.Layer is not { } layer || layer is OutputAlias) continue;
            var inputs = node.Inputs.Select(i => i.Output).ToArray();
            var output = new Tensor(node.Output.Shape);
            var conv = layer as FusedConv2d;
            bool both = conv is not null && conv.Groups == 1 && WinogradConvolution.Supports(conv.Window);
            string shape = conv is null ? $"{layer.GetType().Name} {Tensor.Format(inputs[0].Shape)}"
                : $"{conv.InChannels}->{conv.OutChannels} {conv.Window.KH}x{conv.Window.KW}/{conv.Window.SH} {inputs[0].H}x{inputs[0].W}";
            string chosen = conv?.Algorithm ?? "";
            var cells = new List<string>();
            var entry = new Dictionary<string, object> { ["layer"] = node.Name, ["shape"] = shape, ["algorithm"] = chosen };
            for (int ti = 0; ti < threads.Length; ti++)
            {
                Parallelism.Threads = threads[ti];
                var gemm = new double[rounds];
                var wino = new double[rounds];
                try
                {
                    for (int r = -3; r < rounds; r++)
                    {
                        WinogradConvolution.Force = both ? false : null;
                        double a = Time(layer, inputs, output);
                        if (r >= 0) gemm[r] = a;
                        if (!both) continue;
                        WinogradConvolution.Force = true;
                        double b = Time(layer, inputs, output);
                        if (r >= 0) wino[r] = b;
                    }
                }
                finally
                {
                    WinogradConvolution.Force = null;
                }
                double g = Program.Median(gemm), w = both ? Program.Median(wino) : double.NaN;
                total[ti] += chosen == "winograd" ? w : g;
                cells.Add(both ? $"{g,10:F3} {w,9:F3} {w / g,5:F2}" : $"{g,10:F3} {"",9} {"",5}");
                entry[$"t{threads[ti]}_gemm_ms"] = Math.Round(g, 4);
                if (both) entry[$"t{threads[ti]}_winograd_ms"] = Math.Round(w, 4);
            }
            layer.Forward(inputs, output); // leave Algorithm as the rule chooses
            rows.Add(entry);
            Console.WriteLine($"{Trim(node.Name),-26} {shape,-26} {chosen,-8} | " + string.Join(" | ", cells));
        }
        Console.WriteLine($"{"sum of the chosen",-26} {"",-26} {"",-8} | " +
            string.Join(" | ", total.Select(t => $"{t,10:F3} {"",9} {"",5}")));
        return rows;
    }

    private static string Trim(string name) => name.Length <= 26 ? name : name[..25] + "~";

    private static double Time(Layer layer, Tensor[] inputs, Tensor output)
    {
        long t0 = Stopwatch.GetTimestamp();
        layer.Forward(inputs, output);
        return Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
    }
}
