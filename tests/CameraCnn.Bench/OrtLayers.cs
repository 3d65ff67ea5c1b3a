// OrtLayers: ONNX Runtime's own time per node (its profiler) at each thread count, whole forwards back to back, to
// read beside LayerBench's table of ours: which layers ORT runs faster, and how each scales to two threads. Its node
// names are those of its fused graph (a conv with its batch norm and ReLU is named after the last of them).
using System.Text.Json;
using CameraCnn.Engine;
using Microsoft.ML.OnnxRuntime;

namespace CameraCnn.Bench;

internal static class OrtLayers
{
    public static List<object> Run(string modelPath, Tensor x, int[] threads, int runs)
    {
        const int warmUp = 10;
        var names = new List<(string Name, string Op)>();
        var medians = new Dictionary<(string, int), double>();
        var whole = new Dictionary<int, double>();
        foreach (int t in threads)
        {
            string prefix = Path.Combine(Path.GetTempPath(), $"camcnn-bench-ort-{Environment.ProcessId}-{t}");
            using var options = new SessionOptions
            {
                IntraOpNumThreads = t,
                InterOpNumThreads = 1,
                ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
                GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
                EnableProfiling = true,
                ProfileOutputPathPrefix = prefix,
            };
            using var session = new InferenceSession(modelPath, options);
            using var input = OrtValue.CreateTensorValueFromMemory(x.Data, x.Shape.Select(d => (long)d).ToArray());
            using var runOptions = new RunOptions();
            string[] inNames = [session.InputMetadata.Keys.First()], outNames = session.OutputMetadata.Keys.ToArray();
            for (int i = 0; i < warmUp + runs; i++) session.Run(runOptions, inNames, [input], outNames).Dispose();
            string file = session.EndProfiling();
            try
            {
                var perNode = new Dictionary<string, (string Op, List<double> Ms)>();
                var forwards = new List<double>();
                using var doc = JsonDocument.Parse(File.ReadAllText(file));
                foreach (var e in doc.RootElement.EnumerateArray())
                {
                    string cat = e.GetProperty("cat").GetString() ?? "", name = e.GetProperty("name").GetString() ?? "";
                    double ms = e.GetProperty("dur").GetDouble() / 1000;
                    if (cat == "Session" && name == "model_run") forwards.Add(ms);
                    if (cat != "Node" || !name.EndsWith("_kernel_time", StringComparison.Ordinal)) continue;
                    name = name[..^"_kernel_time".Length];
                    if (!perNode.TryGetValue(name, out var node))
                    {
                        string op = e.TryGetProperty("args", out var a) && a.TryGetProperty("op_name", out var o) ? o.GetString() ?? "" : "";
                        perNode[name] = node = (op, []);
                        if (!names.Any(n => n.Name == name)) names.Add((name, op));
                    }
                    node.Ms.Add(ms);
                }
                foreach (var (name, node) in perNode) medians[(name, t)] = Median(node.Ms.Skip(warmUp));
                whole[t] = Median(forwards.Skip(warmUp));
            }
            finally
            {
                File.Delete(file);
            }
        }

        Console.WriteLine();
        Console.WriteLine($"ONNX Runtime per node (its profiler, {runs} whole forwards back to back after {warmUp}, medians, ms):");
        Console.WriteLine($"{"node",-40} {"op",-14}" + string.Concat(threads.Select(t => $" {t + " thr",9}")) +
            (threads.Length > 1 ? $" {"scaling",8}" : ""));
        var rows = new List<object>();
        foreach (var (name, op) in names)
        {
            double[] ms = threads.Select(t => medians.TryGetValue((name, t), out double m) ? m : double.NaN).ToArray();
            Console.WriteLine($"{Trim(name),-40} {op,-14}" + string.Concat(ms.Select(m => $" {m,9:F3}")) +
                (threads.Length > 1 ? $" {ms[0] / ms[^1],7:F2}x" : ""));
            rows.Add(new { node = name, op, ms });
        }
        double[] sums = threads.Select(t => names.Sum(n => medians.TryGetValue((n.Name, t), out double m) ? m : 0)).ToArray();
        Console.WriteLine($"{"sum of nodes",-55}" + string.Concat(sums.Select(s => $" {s,9:F3}")));
        Console.WriteLine($"{"whole forward (model_run)",-55}" + string.Concat(threads.Select(t => $" {whole[t],9:F3}")));
        return rows;
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted[sorted.Length / 2];
    }

    private static string Trim(string name) => name.Length <= 40 ? name : name[..39] + "~";
}
