// BackboneFuzzTests: mutated copies of the REAL shipped models (seeded truncations, bit flips concentrated in the
// protobuf structure rather than the weights, random bytes) either load and run, or are refused with
// InvalidDataException / NotSupportedException / ShapeException. Never another exception, never a hang (each case
// runs on its own thread with a deadline), never an absurd allocation (bytes allocated by the importing thread are
// bounded per case). An initializer that claims 2^40 elements is refused without allocating them.
using System.Diagnostics;
using CameraCnn.App.Cli;
using CameraCnn.Engine;
using CameraCnn.Engine.Onnx;
using Xunit.Abstractions;

namespace CameraCnn.App.Tests.Backbone;

public sealed class BackboneFuzzTests(ITestOutputHelper output)
{
    /// <summary>A real model file, its bytes that are not bulk weights, and how much one case may take.</summary>
    private sealed record Sample(string Name, byte[] Bytes, int GraphEnd, int[] Structural, TimeSpan Deadline, long MaxAllocated, long MaxActivations);

    private static Sample Read(string path, TimeSpan deadline, long maxAllocated, long maxActivations)
    {
        byte[] bytes = File.ReadAllBytes(path);
        var layout = OnnxBytes.Scan(bytes);
        return new(Path.GetFileName(path), bytes, layout.GraphEnd, layout.Structural, deadline, maxAllocated, maxActivations);
    }

    // 602 KB: a 1x3x224x224 mean image and ~470 bytes of structure (3 nodes, their names and types).
    private static readonly Lazy<Sample> Preprocess = new(() => Read(BackboneKit.PreprocessPath, TimeSpan.FromSeconds(10), 64L << 20, 1 << 24));

    // 64 MB: ~46 MB of weights as float_data and ~30 KB of structure (74 nodes, attributes, value_info, tensor headers).
    private static readonly Lazy<Sample> ResNet18 = new(() => Read(BackboneKit.BackbonePath, TimeSpan.FromSeconds(30), 1L << 30, 1 << 25));

    private enum Outcome { Ran, Refused, Skipped, Bad }

    private sealed record Result(Outcome Outcome, string Detail, long Allocated);

    private sealed class Tally
    {
        public int Ran, Invalid, Unsupported, ShapeRefused, Skipped;
        public long MostAllocated;
        public TimeSpan Slowest;
        public readonly List<string> Failures = [];
        public int Refused => Invalid + Unsupported + ShapeRefused;
        public override string ToString() =>
            $"ran {Ran}, InvalidData {Invalid}, NotSupported {Unsupported}, shape error {ShapeRefused}, not run (too big) {Skipped}; " +
            $"slowest {Slowest.TotalMilliseconds:F0} ms, most allocated {MostAllocated / (1 << 20)} MB";
    }

    /// <summary>Runs one case on its own thread; a case that misses the deadline is reported (and left behind).</summary>
    private static void Probe(Sample s, byte[] bytes, string what, Tally tally, bool mustBeRefused = false)
    {
        var clock = Stopwatch.StartNew();
        var task = Task.Factory.StartNew(() => ProbeCore(s, bytes, tally), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        if (!task.Wait(s.Deadline))
        {
            tally.Failures.Add($"{what}: no answer within {s.Deadline.TotalSeconds:F0} s");
            return;
        }
        if (clock.Elapsed > tally.Slowest) tally.Slowest = clock.Elapsed;
        var r = task.Result;
        tally.MostAllocated = Math.Max(tally.MostAllocated, r.Allocated);
        if (r.Allocated > s.MaxAllocated) tally.Failures.Add($"{what}: allocated {r.Allocated / (1 << 20)} MB (bound {s.MaxAllocated / (1 << 20)} MB)");
        switch (r.Outcome)
        {
            case Outcome.Bad: tally.Failures.Add($"{what}: {r.Detail}"); break;
            case Outcome.Ran when mustBeRefused: tally.Failures.Add($"{what}: loaded and ran, but it must be refused"); break;
            case Outcome.Ran: tally.Ran++; break;
            case Outcome.Skipped: tally.Skipped++; break;
        }
    }

    /// <summary>Import, then a forward on deterministic inputs. Only the documented refusals count as clean.</summary>
    private static Result ProbeCore(Sample s, byte[] bytes, Tally tally)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        long Allocated() => GC.GetAllocatedBytesForCurrentThread() - before;
        Engine.Models.Model model;
        try { model = OnnxImporter.FromBytes(bytes); }
        catch (InvalidDataException) { lock (tally) tally.Invalid++; return new(Outcome.Refused, "", Allocated()); }
        catch (NotSupportedException) { lock (tally) tally.Unsupported++; return new(Outcome.Refused, "", Allocated()); }
        catch (Exception e) { return new(Outcome.Bad, $"import threw {Describe(e)}", Allocated()); }
        try
        {
            var g = model.Graph;
            var shapes = g.Inputs.Select(i => i.InputShape!.Select(d => d < 0 ? 1 : d).ToArray()).ToList();
            // Test-side cap: a flipped dimension may ask for a legal but pointlessly large forward.
            long total = shapes.Sum(x => Tensor.CheckedLength(x)) + g.InferShapes(shapes).Values.Sum(x => Tensor.CheckedLength(x));
            if (total > s.MaxActivations) return new(Outcome.Skipped, "", Allocated());
            var inputs = shapes.Select(shape =>
            {
                var t = new Tensor(shape);
                for (int i = 0; i < t.Length; i++) t.Data[i] = i % 251;
                return t;
            }).ToList();
            g.Forward(inputs);
            return new(Outcome.Ran, "", Allocated());
        }
        catch (Exception e) when (e is ShapeException or InvalidDataException) { lock (tally) tally.ShapeRefused++; return new(Outcome.Refused, "", Allocated()); }
        catch (Exception e) { return new(Outcome.Bad, $"forward threw {Describe(e)}", Allocated()); }
    }

    private static string Describe(Exception e) => $"{e.GetType().Name}: {e.Message} @ {e.StackTrace?.Split('\n').FirstOrDefault()?.Trim()}";

    private void Report(string name, Tally tally)
    {
        output.WriteLine($"{name}: {tally}");
        Assert.True(tally.Failures.Count == 0, $"{name}: {tally.Failures.Count} bad outcome(s) ({tally}):\n" + string.Join("\n", tally.Failures.Take(15)));
    }

    /// <summary>Flips 1..3 bits, most of them in the structure (tags, lengths, names, attributes, dims), some anywhere.</summary>
    private static (byte[] Bytes, string Where) Flip(Sample s, Random rng, double structuralShare)
    {
        var bytes = (byte[])s.Bytes.Clone();
        var where = new List<string>();
        for (int f = 1 + rng.Next(3); f > 0; f--)
        {
            int at = rng.NextDouble() < structuralShare ? s.Structural[rng.Next(s.Structural.Length)] : rng.Next(bytes.Length);
            int bit = rng.Next(8);
            bytes[at] ^= (byte)(1 << bit);
            where.Add($"{at}.{bit}");
        }
        return (bytes, string.Join(", ", where));
    }

    [Fact]
    public void The_sample_itself_loads_and_runs()
    {
        var tally = new Tally();
        Probe(Preprocess.Value, Preprocess.Value.Bytes, "original preprocess model", tally);
        Report("original", tally);
        Assert.Equal(1, tally.Ran);
    }

    [Fact]
    public void Truncated_copies_are_refused_or_load_cleanly()
    {
        var s = Preprocess.Value;
        var rng = new Random(1801);
        var cuts = new SortedSet<int>(Enumerable.Range(0, 64));
        for (int k = 0; k < 120; k++) cuts.Add(s.Structural[rng.Next(s.Structural.Length)]);
        for (int k = 0; k < 30; k++) cuts.Add(rng.Next(s.Bytes.Length));
        foreach (int d in new[] { -2, -1, 1, 2 }) cuts.Add(s.GraphEnd + d);
        cuts.Add(s.GraphEnd);
        cuts.Add(s.Bytes.Length - 1);
        var tally = new Tally();
        foreach (int cut in cuts.Where(c => c >= 0 && c < s.Bytes.Length))
            Probe(s, s.Bytes[..cut], $"first {cut} of {s.Bytes.Length} bytes", tally, mustBeRefused: cut < s.GraphEnd);
        Report($"{cuts.Count} truncations", tally);
        Assert.True(tally.Refused > cuts.Count / 2, tally.ToString());
    }

    [Fact]
    public void Bit_flipped_copies_load_or_are_refused_cleanly()
    {
        var s = Preprocess.Value;
        var rng = new Random(2402);
        var tally = new Tally();
        const int copies = 300;
        for (int k = 0; k < copies; k++)
        {
            var (bytes, where) = Flip(s, rng, structuralShare: 0.85);
            Probe(s, bytes, $"copy #{k} flips [{where}]", tally);
        }
        Report($"{copies} bit-flipped copies of {s.Name}", tally);
        // Not vacuous: some copies still load and run (flips in names, weights), some are refused.
        Assert.True(tally.Ran > 0 && tally.Refused > 0, tally.ToString());
    }

    [Fact]
    public void Random_bytes_are_refused_or_load_cleanly()
    {
        var s = Preprocess.Value;
        var rng = new Random(3003);
        var tally = new Tally();
        Probe(s, [], "empty file", tally, mustBeRefused: true);
        for (int k = 0; k < 80; k++)
        {
            var bytes = new byte[rng.Next(1, 4000)];
            rng.NextBytes(bytes);
            Probe(s, bytes, $"random #{k} ({bytes.Length} bytes)", tally, mustBeRefused: true);
        }
        for (int k = 0; k < 60; k++)
        {
            // A real beginning followed by garbage: gets the parser into the graph.
            int keep = rng.Next(1, 500);
            var bytes = new byte[keep + rng.Next(1, 3000)];
            rng.NextBytes(bytes);
            s.Bytes.AsSpan(0, keep).CopyTo(bytes);
            Probe(s, bytes, $"first {keep} bytes + random #{k}", tally);
        }
        for (int k = 0; k < 60; k++)
        {
            // A run of random bytes written over the structure of an otherwise intact file.
            var bytes = (byte[])s.Bytes.Clone();
            int at = s.Structural[rng.Next(s.Structural.Length)], length = Math.Min(rng.Next(2, 40), bytes.Length - at);
            rng.NextBytes(bytes.AsSpan(at, length));
            Probe(s, bytes, $"{length} random bytes at {at} #{k}", tally);
        }
        Report("random bytes", tally);
    }

    [Fact]
    public void ResNet18_with_flips_in_its_graph_structure_loads_or_is_refused_cleanly()
    {
        var s = ResNet18.Value;
        Assert.InRange(s.Structural.Length, 5_000, 200_000); // the walker found the weights: they are not "structure"
        var rng = new Random(4004);
        var tally = new Tally();
        const int copies = 10;
        for (int k = 0; k < copies; k++)
        {
            var (bytes, where) = Flip(s, rng, structuralShare: 1.0);
            Probe(s, bytes, $"ResNet18 copy #{k} flips [{where}]", tally);
        }
        Report($"{copies} ResNet18 copies with flipped structure", tally);
        Assert.True(tally.Ran + tally.Refused + tally.Skipped == copies, tally.ToString());
    }

    public static TheoryData<string, string, bool> HugeInitializers => new()
    {
        // The preprocessing graph's mean image and the backbone's first convolution weights, as raw_data and as float_data.
        { ModelCatalog.ResNet18PreprocessFile, "MeanImage", true },
        { ModelCatalog.ResNet18PreprocessFile, "MeanImage", false },
        { ModelCatalog.ResNet18File, "Parameter91", true },
        { ModelCatalog.ResNet18File, "Parameter91", false },
    };

    [Theory]
    [MemberData(nameof(HugeInitializers))]
    public void An_initializer_claiming2_to40_elements_is_refused_without_allocating(string file, string initializer, bool raw)
    {
        byte[] real = File.ReadAllBytes(Path.Combine(BackboneKit.ModelsDirectory, file));
        long[] dims = [1, 4, 1 << 19, 1 << 19]; // 2^40 floats = 4 TiB, in a file 4 bytes of data longer
        byte[] bytes = OnnxBytes.WithInitializerOverride(real, initializer, dims, dataBytes: 4, raw);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.ThrowsAny<Exception>(() => OnnxImporter.FromBytes(bytes));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(e is InvalidDataException, $"expected InvalidDataException, got {e.GetType().Name}: {e.Message}");
        Assert.Contains(initializer, e.Message);
        // Parsing the file itself costs a few times its size; 2^40 floats would be 4 TiB.
        long bound = 4L * real.Length + (16L << 20);
        Assert.True(allocated < bound, $"allocated {allocated >> 20} MB refusing {file} (bound {bound >> 20} MB)");
        output.WriteLine($"{file}: '{initializer}' as {(raw ? "raw_data" : "float_data")} with dims [{string.Join(",", dims)}]: {e.Message}; allocated {allocated >> 20} MB");
    }
}
