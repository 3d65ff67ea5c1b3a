// OnnxNodeConformanceTests: the ONNX project's own backend tests (Debian package libonnx-testdata: data/node and
// data/pytorch-converted) run through our importer and engine. Every test whose model uses only ops of our table is
// run; each must match ONNX's expected outputs or be refused with NotSupportedException. None may fail.
using System.Diagnostics;
using CameraCnn.Engine.Onnx;
using CameraCnn.Engine.Onnx.Proto;
using Google.Protobuf;
using Xunit.Abstractions;

namespace CameraCnn.Engine.Tests.Conformance;

public sealed class OnnxNodeConformanceTests(ITestOutputHelper output)
{
    /// <summary>Where libonnx-testdata puts the tests; scripts/setup.sh installs it, so a missing directory fails.</summary>
    public const string Root = "/usr/share/libonnx-testdata/data";

    private static readonly string[] Suites = ["node", "pytorch-converted"];

    /// <summary>A floor for passed tests (205 of 271 pass on libonnx-testdata 1.12), so the test cannot pass vacuously.</summary>
    private const int MinimumPassed = 200;

    // ONNX's own backend-test tolerances (numpy.testing.assert_allclose with rtol=1e-3, atol=1e-7), unscaled: our
    // float32 sums stay inside them for every test here. The report shows the closest call, as a fraction of the
    // allowed error, so a drift shows up before it fails.
    private const double Rtol = 1e-3, Atol = 1e-7;

    /// <summary>
    /// (op_type, input index) pairs this engine reads when loading, not per forward: weights, shapes, axes, pads,
    /// split sizes, clip bounds, dropout ratio and mode. Node tests feed them as graph inputs; a deployed model carries
    /// them as initializers, so the harness binds the test's values as initializers before importing.
    /// </summary>
    private static readonly HashSet<(string Op, int Input)> LoadTimeInputs =
    [
        ("Conv", 1), ("Conv", 2),
        ("BatchNormalization", 1), ("BatchNormalization", 2), ("BatchNormalization", 3), ("BatchNormalization", 4),
        ("Reshape", 1), ("Split", 1), ("Squeeze", 1), ("Unsqueeze", 1),
        ("Clip", 1), ("Clip", 2), ("Pad", 1), ("Pad", 2), ("Pad", 3), ("Dropout", 1), ("Dropout", 2),
    ];

    private enum Outcome { Passed, Refused, Failed }

    private sealed record Result(string Name, Outcome Outcome, string Detail, bool Bound, TimeSpan Time, double ToleranceUsed = 0);

    public static IEnumerable<string> TestDirectories() =>
        Suites.SelectMany(s => Directory.GetDirectories(Path.Combine(Root, s), "test_*")).Order(StringComparer.Ordinal);

    [Fact]
    public void Backend_tests_of_our_ops_pass_or_are_refused_by_name()
    {
        foreach (string suite in Suites)
            Assert.True(Directory.Exists(Path.Combine(Root, suite)),
                $"{Path.Combine(Root, suite)} is missing: install the Debian package libonnx-testdata (scripts/setup.sh does)");
        var clock = Stopwatch.StartNew();
        var ours = OnnxImporter.SupportedOps.ToHashSet(StringComparer.Ordinal);
        var results = new List<Result>();
        int otherOps = 0;
        foreach (string dir in TestDirectories())
        {
            var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(dir, "model.onnx")));
            if (!model.Graph.Node.All(n => string.IsNullOrEmpty(n.Domain) && ours.Contains(n.OpType)))
            {
                otherOps++;
                continue;
            }
            results.Add(Run(dir, model));
        }
        clock.Stop();

        int passed = results.Count(r => r.Outcome == Outcome.Passed), refused = results.Count(r => r.Outcome == Outcome.Refused);
        var failed = results.Where(r => r.Outcome == Outcome.Failed).ToList();
        output.WriteLine($"ONNX backend tests using only our {ours.Count} ops: {results.Count} " +
                         $"(of {results.Count + otherOps}; {otherOps} use other ops)");
        output.WriteLine($"passed {passed}, refused as unsupported {refused}, failed {failed.Count}; " +
                         $"{results.Count(r => r.Bound)} with load-time inputs bound as initializers " +
                         $"({results.Count(r => r.Bound && r.Outcome == Outcome.Passed)} of them pass); {clock.Elapsed.TotalSeconds:F1} s, " +
                         $"slowest {results.MaxBy(r => r.Time)?.Name} {results.Max(r => r.Time).TotalMilliseconds:F0} ms");
        var closest = results.Where(r => r.Outcome == Outcome.Passed).MaxBy(r => r.ToleranceUsed);
        output.WriteLine($"tolerance rtol {Rtol}, atol {Atol}; closest call {closest?.Name}: {closest?.ToleranceUsed:P0} of the allowed error");
        output.WriteLine("");
        output.WriteLine("refused:");
        foreach (var r in results.Where(r => r.Outcome == Outcome.Refused)) output.WriteLine($"  {r.Name}: {r.Detail}");
        output.WriteLine("");
        output.WriteLine("passed:");
        output.WriteLine("  " + string.Join(" ", results.Where(r => r.Outcome == Outcome.Passed).Select(r => r.Name)));
        if (failed.Count > 0)
        {
            output.WriteLine("");
            output.WriteLine("FAILED:");
            foreach (var r in failed) output.WriteLine($"  {r.Name}: {r.Detail}");
        }
        Assert.True(failed.Count == 0, $"{failed.Count} ONNX backend test(s) failed:\n" + string.Join("\n", failed.Select(r => $"{r.Name}: {r.Detail}")));
        Assert.True(passed >= MinimumPassed, $"only {passed} ONNX backend tests passed, expected at least {MinimumPassed}");
    }

    private static Result Run(string dir, ModelProto model)
    {
        string name = $"{Path.GetFileName(Path.GetDirectoryName(dir))}/{Path.GetFileName(dir)}";
        var clock = Stopwatch.StartNew();
        bool bound = false;
        double used = 0;
        try
        {
            var sets = Directory.GetDirectories(dir, "test_data_set_*").Order(StringComparer.Ordinal).ToArray();
            if (sets.Length == 0) return new(name, Outcome.Failed, "no test_data_set_* directory", false, clock.Elapsed);
            foreach (string set in sets)
            {
                string? problem = RunDataSet(model, set, ref bound, ref used);
                if (problem is not null) return new(name, Outcome.Failed, $"{Path.GetFileName(set)}: {problem}", bound, clock.Elapsed);
            }
            return new(name, Outcome.Passed, "", bound, clock.Elapsed, used);
        }
        catch (NotSupportedException e) { return new(name, Outcome.Refused, e.Message, bound, clock.Elapsed); }
        catch (Exception e) { return new(name, Outcome.Failed, $"{e.GetType().Name}: {e.Message}", bound, clock.Elapsed); }
    }

    private static TensorProto ReadTensor(string path) => TensorProto.Parser.ParseFrom(File.ReadAllBytes(path));

    /// <summary>Imports the model with this data set's load-time inputs bound, runs it, compares; null when it matches.</summary>
    private static string? RunDataSet(ModelProto original, string set, ref bool bound, ref double toleranceUsed)
    {
        var model = original.Clone();
        var g = model.Graph;
        var initialized = g.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var runtime = g.Input.Where(i => !initialized.Contains(i.Name)).ToList();
        var fed = new List<Tensor>();
        for (int k = 0; k < runtime.Count; k++)
        {
            var input = runtime[k];
            if (input.Type?.TensorType is null)
            {
                fed.Add(new Tensor(0)); // an optional or sequence input: the importer refuses the model below
                continue;
            }
            string file = Path.Combine(set, $"input_{k}.pb");
            if (!File.Exists(file)) return $"missing {Path.GetFileName(file)}";
            var value = ReadTensor(file);
            bool nonFloat = input.Type?.TensorType is { } tt && tt.ElemType != (int)TensorProto.Types.DataType.Float;
            bool loadTime = g.Node.Any(n => n.Input.Select((v, i) => (v, i)).Any(p => p.v == input.Name && LoadTimeInputs.Contains((n.OpType, p.i))));
            if (nonFloat || loadTime)
            {
                value.Name = input.Name;
                g.Initializer.Add(value);
                g.Input.Remove(input);
                bound = true;
            }
            else fed.Add(OnnxTensors.ToTensor(value));
        }

        var imported = OnnxImporter.FromBytes(model.ToByteArray());
        var graph = imported.Graph;
        graph.Forward(fed, training: false);
        if (graph.Outputs.Count != g.Output.Count) return $"{graph.Outputs.Count} outputs, ONNX has {g.Output.Count}";
        for (int k = 0; k < g.Output.Count; k++)
        {
            string file = Path.Combine(set, $"output_{k}.pb");
            if (!File.Exists(file)) return $"missing {Path.GetFileName(file)}";
            Tensor expected = OnnxTensors.ToTensor(ReadTensor(file)), actual = graph.Outputs[k].Output;
            string what = $"output '{g.Output[k].Name}'";
            if (!expected.HasShape(actual.Shape)) return $"{what} has shape {actual.ShapeString}, expected {expected.ShapeString}";
            for (int i = 0; i < expected.Length; i++)
            {
                double e = expected.Data[i], a = actual.Data[i], allowed = Atol + Rtol * Math.Abs(e);
                bool same = double.IsNaN(e) ? double.IsNaN(a) : double.IsInfinity(e) ? a == e : Math.Abs(a - e) <= allowed;
                if (!same) return $"{what}[{i}] is {a:R}, expected {e:R} (rtol {Rtol}, atol {Atol})";
                if (double.IsFinite(e)) toleranceUsed = Math.Max(toleranceUsed, Math.Abs(a - e) / allowed);
            }
        }
        return null;
    }
}
