// ImportFuzzTests (part of ImportRefusalTests): truncated, random and bit-flipped copies of a real exported LeNet
// either load (and then run or fail with a shape error) or are refused with InvalidDataException /
// NotSupportedException. Any other exception type, or a case that takes seconds, fails. Everything is seeded.
using System.Diagnostics;
using CameraCnn.Engine.Onnx;
using CameraCnn.Engine.Onnx.Proto;
using Xunit.Abstractions;

namespace CameraCnn.Engine.Tests.OnnxInterop;

public sealed partial class ImportRefusalTests(ITestOutputHelper output)
{
    /// <summary>An exported LeNet, where its top-level graph field ends, and the offsets that are not bulk tensor data.</summary>
    private sealed record Sample(byte[] Bytes, int GraphEnd, int[] Structural);

    private static readonly Lazy<Sample> LeNet = new(() =>
    {
        var model = OnnxTestKit.TrainedLikeModel("lenet", 77);
        var proto = OnnxExporter.ToProto(model);
        byte[] bytes = OnnxExporter.ToBytes(model);
        // ModelProto fields are written in field-number order: ir_version, producer_*, graph, opset_import, metadata.
        int graphEnd = new ModelProto { IrVersion = proto.IrVersion, ProducerName = proto.ProducerName, ProducerVersion = proto.ProducerVersion, Graph = proto.Graph }
            .CalculateSize();
        Assert.True(graphEnd < bytes.Length);
        var isData = new bool[bytes.Length];
        foreach (var t in proto.Graph.Initializer.Where(t => t.RawData.Length >= 64))
        {
            int at = bytes.AsSpan().IndexOf(t.RawData.Span);
            Assert.True(at >= 0);
            isData.AsSpan(at, t.RawData.Length).Fill(true);
        }
        int[] structural = Enumerable.Range(0, bytes.Length).Where(i => !isData[i]).ToArray();
        Assert.True(structural.Length > 1000, $"only {structural.Length} structural bytes");
        return new(bytes, graphEnd, structural);
    });

    private sealed class Tally
    {
        public int Ran, ShapeRefused, Invalid, Unsupported, Skipped;
        public readonly List<string> Failures = [];
        public TimeSpan Slowest;
        public override string ToString() =>
            $"ran {Ran}, forward shape/data error {ShapeRefused}, InvalidData {Invalid}, NotSupported {Unsupported}, not run (too big) {Skipped}, slowest {Slowest.TotalMilliseconds:F0} ms";
    }

    /// <summary>Imports the bytes and, when they load, runs a forward. Records anything but the allowed outcomes.</summary>
    private static void Probe(byte[] bytes, string what, Tally tally, bool mustBeRefused = false)
    {
        var clock = Stopwatch.StartNew();
        try { ProbeCore(bytes, what, tally, mustBeRefused); }
        finally
        {
            if (clock.Elapsed > tally.Slowest) tally.Slowest = clock.Elapsed;
            if (clock.Elapsed > TimeSpan.FromSeconds(5)) tally.Failures.Add($"{what}: took {clock.Elapsed.TotalSeconds:F1} s");
        }
    }

    private static void ProbeCore(byte[] bytes, string what, Tally tally, bool mustBeRefused)
    {
        Models.Model model;
        try { model = OnnxImporter.FromBytes(bytes); }
        catch (InvalidDataException) { tally.Invalid++; return; }
        catch (NotSupportedException) { tally.Unsupported++; return; }
        catch (Exception e) { tally.Failures.Add($"{what}: import threw {Describe(e)}"); return; }
        if (mustBeRefused)
        {
            tally.Failures.Add($"{what}: loaded, but it must be refused");
            return;
        }
        try
        {
            var g = model.Graph;
            var shapes = g.Inputs.Select(i => i.InputShape!.Select(d => d < 0 ? 1 : d).ToArray()).ToList();
            // Test-side cap: a flipped input dimension may ask for a legal but pointlessly large forward.
            long total = shapes.Sum(s => Tensor.CheckedLength(s)) + g.InferShapes(shapes).Values.Sum(s => Tensor.CheckedLength(s));
            if (total > 1 << 24) { tally.Skipped++; return; }
            var inputs = shapes.Select(s =>
            {
                var t = new Tensor(s);
                for (int i = 0; i < t.Length; i++) t.Data[i] = (i % 13) * 0.1f - 0.6f;
                return t;
            }).ToList();
            g.Forward(inputs);
            tally.Ran++;
        }
        catch (ShapeException) { tally.ShapeRefused++; }
        catch (InvalidDataException) { tally.ShapeRefused++; }
        catch (Exception e) { tally.Failures.Add($"{what}: forward threw {Describe(e)}"); }
    }

    private static string Describe(Exception e) =>
        $"{e.GetType().Name}: {e.Message} @ {e.StackTrace?.Split('\n').FirstOrDefault()?.Trim()}";

    private void Report(string name, Tally tally)
    {
        output.WriteLine($"{name}: {tally}");
        Assert.True(tally.Failures.Count == 0,
            $"{name}: {tally.Failures.Count} bad outcome(s) ({tally}):\n" + string.Join("\n", tally.Failures.Take(15)));
    }

    [Fact]
    public void The_fuzz_sample_itself_loads_and_runs()
    {
        var tally = new Tally();
        Probe(LeNet.Value.Bytes, "original", tally);
        Assert.Equal(1, tally.Ran);
        Report("original", tally);
    }

    [Fact(Timeout = 30_000)]
    public async Task Truncated_models_are_refused()
    {
        await Task.Run(() =>
        {
            var s = LeNet.Value;
            var rng = new Random(1234);
            var cuts = new SortedSet<int>(Enumerable.Range(0, 96));
            for (int k = 0; k < 150; k++) cuts.Add(s.Structural[rng.Next(s.Structural.Length)]);
            for (int k = 0; k < 40; k++) cuts.Add(rng.Next(s.Bytes.Length));
            foreach (int d in new[] { -2, -1, 0, 1, 2 })
            {
                cuts.Add(s.GraphEnd + d);
                cuts.Add(s.Bytes.Length - 1 + Math.Min(d, 0));
            }
            var tally = new Tally();
            foreach (int cut in cuts.Where(c => c >= 0 && c < s.Bytes.Length))
                Probe(s.Bytes[..cut], $"first {cut} of {s.Bytes.Length} bytes", tally, mustBeRefused: cut < s.GraphEnd);
            Report($"{cuts.Count} truncations", tally);
            Assert.True(tally.Invalid > cuts.Count / 2);
        });
    }

    [Fact(Timeout = 30_000)]
    public async Task Random_bytes_are_refused()
    {
        await Task.Run(() =>
        {
            var s = LeNet.Value;
            var rng = new Random(4321);
            var tally = new Tally();
            Probe([], "empty file", tally, mustBeRefused: true);
            for (int k = 0; k < 200; k++)
            {
                var bytes = new byte[rng.Next(1, 3000)];
                rng.NextBytes(bytes);
                Probe(bytes, $"random #{k} ({bytes.Length} bytes)", tally, mustBeRefused: true);
            }
            for (int k = 0; k < 100; k++)
            {
                // A real header followed by garbage: gets the parser deeper into the graph.
                int keep = rng.Next(1, 400);
                var bytes = new byte[keep + rng.Next(1, 2000)];
                rng.NextBytes(bytes);
                s.Bytes.AsSpan(0, keep).CopyTo(bytes);
                Probe(bytes, $"header {keep} + random #{k}", tally);
            }
            Report("random bytes", tally);
        });
    }

    [Fact(Timeout = 30_000)]
    public async Task Bit_flipped_models_load_or_are_refused_cleanly()
    {
        await Task.Run(() =>
        {
            var s = LeNet.Value;
            var rng = new Random(2024);
            var tally = new Tally();
            const int copies = 400;
            for (int k = 0; k < copies; k++)
            {
                var bytes = (byte[])s.Bytes.Clone();
                int flips = 1 + rng.Next(3);
                var where = new List<string>();
                for (int f = 0; f < flips; f++)
                {
                    // Mostly the protobuf structure (tags, lengths, attributes, names, metadata), some anywhere.
                    int at = rng.NextDouble() < 0.8 ? s.Structural[rng.Next(s.Structural.Length)] : rng.Next(bytes.Length);
                    int bit = rng.Next(8);
                    bytes[at] ^= (byte)(1 << bit);
                    where.Add($"{at}.{bit}");
                }
                Probe(bytes, $"copy #{k} flips [{string.Join(", ", where)}]", tally);
            }
            Report($"{copies} bit-flipped copies", tally);
            // Not vacuous: some copies still load and run, some are refused.
            Assert.True(tally.Ran > 0 && tally.Invalid + tally.Unsupported > 0, tally.ToString());
        });
    }
}
