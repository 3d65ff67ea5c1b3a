// CommandLineFuzzTests: every subcommand, run in-process on small real inputs, with one option at a time (and a few
// pairs) set to hostile values of its type: numbers out of range, NaN, infinity, huge, negative, malformed, empty
// strings, and paths that are folders, FIFOs, device nodes, missing, empty or garbage files, or lie below a file. Seeded,
// a few hundred cases, each with its own time limit. Asserted for every case: no exception escapes and no stack trace
// is printed, the exit code is 0-3, a failure is exactly one "camcnn: error:" line (the last on stderr), and an exit 0
// leaves its result (the model, the .npy files, the stats, the frames or the printed answer). Options that set how
// long a run lasts (--frames, --seconds, --every, --epochs, --iterations) get no huge valid values: those would be long
// runs by request, not hangs.
using System.Diagnostics;
using CameraCnn.App.Tests.Infrastructure;
using CameraCnn.App.Tests.Teach;
using CameraCnn.Engine;
using CameraCnn.Engine.Data;
using CameraCnn.Tests.Shared;
using Xunit.Abstractions;

namespace CameraCnn.App.Tests;

[Collection(TrainingCollection.Name)] // it trains and benchmarks too: one after another with the other trainings
public sealed class CommandLineFuzzTests(ITestOutputHelper output) : IDisposable
{
    private const int Seed = 15, ValuesPerOption = 5, Pairs = 40;
    /// <summary>Set to 1 to run every value of every option (~1000 cases, a minute) instead of a seeded sample.</summary>
    public const string AllVariable = "CAMCNN_FUZZ_ALL";
    private static readonly TimeSpan CaseTimeout = TimeSpan.FromSeconds(60);
    private readonly TempDir _dir = new("camcnn-fuzz");

    public void Dispose() => _dir.Dispose();

    private enum Kind { Count, Duration, Real, Input, Output, OutputDir, Text, Size, Outage, Keys, Classes, Choice, NpyInput }

    /// <summary>A subcommand as the fuzzer drives it: a valid, quick command line, its options by kind, and what an exit 0 must leave.</summary>
    private sealed record Case(string Name, string[] Base, (string Option, Kind Kind)[] Options, Func<CliResult, string[], string?> Result);

    /// <summary>The value of <paramref name="option"/> in <paramref name="args"/> (the last one given).</summary>
    private static string ValueOf(string[] args, string option) => args[Array.LastIndexOf(args, option) + 1];

    private string In(string name) => _dir[name];

    /// <summary>The inputs: a tiny classifier of the shape classes, the shapes folder, a few PNGs, an .npy, special files.</summary>
    private void MakeInputs()
    {
        TestData.WriteShapesFolder(In("shapes"), 4, 16, seed: 1);
        TestData.Classifier(In("classifier.onnx"), 16, TestData.ShapeClasses);
        TeachKit.TinyBackbone().Save(In("backbone.onnx"));
        for (int k = 0; k < 2; k++)
            TeachKit.WriteFolder(In("scenes"), TeachKit.SceneNames[k], Enumerable.Range(0, 4).Select(t => TeachKit.RenderFrame(k, t, 1)));
        TeachKit.WriteFolder(In("frames"), "all", Enumerable.Range(0, 3).Select(t => TeachKit.RenderFrame(0, t, 1)));
        File.Copy(Path.Combine(In("frames"), "all", "0000.png"), In("image.png"));
        Npy.Write(In("x.npy"), new Tensor(1, 3, 16, 16));
        Directory.CreateDirectory(In("empty-dir"));
        File.WriteAllBytes(In("empty-file"), []);
        File.WriteAllBytes(In("garbage"), TestData.RandomBytes(3000, 15));
        if (SpecialFiles.Unavailable(Need.Fifo) is null) SpecialFiles.MakeFifo(In("fifo"));
        if (SpecialFiles.Unavailable(Need.DeviceNode) is null) SpecialFiles.TryMakeNullDevice(In("device"));
        File.CreateSymbolicLink(In("link-to-fifo"), In("fifo"));
        File.CreateSymbolicLink(In("dangling"), In("nowhere"));
    }

    private string[] Paths(bool output)
    {
        var p = new List<string> { "", In("empty-dir"), In("missing"), In("garbage/below-a-file"), "/", In(new string('n', 300)) };
        if (File.Exists(In("fifo"))) p.Add(In("fifo"));
        if (File.Exists(In("device"))) p.Add(In("device"));
        if (output) p.AddRange([In("link-to-fifo"), In("dangling"), In("missing-dir/x.out")]);
        else p.AddRange([In("empty-file"), In("garbage")]);
        return [.. p];
    }

    private static readonly string[] Ints = ["0", "-1", "-2147483648", "2147483647", "2147483648", "99999999999999999999", "1.5", "", "abc", "NaN", "+3", "0x10"];
    private static readonly string[] Durations = ["0", "-1", "-2147483648", "2147483648", "", "abc", "1e3", "NaN", "1", "2"];
    private static readonly string[] Reals = ["NaN", "nan", "Infinity", "-Infinity", "1e39", "-1e39", "-1", "0", "-0", "1e-45", "1e308", "", "abc", "0x10", "0.5"];
    private static readonly string[] Texts = ["", "..", "/", "a/b", "\u00e9t\u00e9 \U0001F600", new string('x', 5000), "-", "--", " ", "con"];

    private string[] Values(Kind kind, Random rng) => kind switch
    {
        Kind.Count => [.. Ints, rng.Next(1, 100).ToString(), rng.Next(-100, 0).ToString()],
        Kind.Duration => Durations,
        Kind.Real => [.. Reals, (rng.NextDouble() * 4 - 2).ToString("R", System.Globalization.CultureInfo.InvariantCulture)],
        Kind.Input => Paths(output: false),
        Kind.Output => [.. Paths(output: true), In("garbage-copy")],
        Kind.OutputDir => [.. Paths(output: true), In("out-dir")],
        Kind.NpyInput => [.. Paths(output: false), "x=" + In("x.npy"), "=" + In("x.npy"), "input=" + In("garbage"), "nosuch=" + In("x.npy"), In("image.png")],
        Kind.Text => Texts,
        Kind.Size => ["0x0", "abc", "99999x99999", "320x240", "-1x-1", "", "1280x", "2147483648x720"],
        Kind.Outage => ["2-1", "a-b", "-1-5", "0-0", "1e308-Infinity", "", "0-0.1", "NaN-1", "0-2147483648"],
        Kind.Keys => ["Bogus", "", "F,,F", "Wait:NaN", "Hold:1:1e308", "Click:2:2", "Wheel:99999999999", "Text:"],
        Kind.Classes => [",,,", "a,a", "..", new string('x', 200), "a,b,c,d,e,f,g,h,i,j", ""],
        _ => ["bogus", "", "SGD", "lenet "],
    };

    private Case[] Cases()
    {
        static string? Saved(CliResult r, string file, string text) =>
            FileKindOf(file) != "regular file" ? $"exit 0 but {file} was not written as a regular file"
            : r.Stdout.Contains(text) ? null : $"exit 0 without '{text}' on stdout";
        return
        [
            new("train", ["train", "--data", In("shapes"), "--input-size", "16", "--epochs", "1", "--batch", "8", "--out", In("out.onnx")],
                [("--data", Kind.Input), ("--arch", Kind.Choice), ("--epochs", Kind.Duration), ("--batch", Kind.Count), ("--lr", Kind.Real),
                 ("--weight-decay", Kind.Real), ("--momentum", Kind.Real), ("--lr-decay", Kind.Real), ("--optimizer", Kind.Choice), ("--seed", Kind.Count),
                 ("--out", Kind.Output), ("--limit", Kind.Count), ("--input-size", Kind.Count), ("--val-fraction", Kind.Real), ("--threads", Kind.Count),
                 ("--hidden", Kind.Count)],
                (r, a) => Saved(r, ValueOf(a, "--out"), "model saved to")),
            new("train --backbone", ["train", "--data", In("scenes"), "--backbone", In("backbone.onnx"), "--epochs", "5", "--out", In("out.onnx")],
                [("--data", Kind.Input), ("--backbone", Kind.Input), ("--epochs", Kind.Duration), ("--batch", Kind.Count), ("--lr", Kind.Real),
                 ("--weight-decay", Kind.Real), ("--val-fraction", Kind.Real), ("--hidden", Kind.Count), ("--augment", Kind.Count), ("--out", Kind.Output),
                 ("--optimizer", Kind.Choice)],
                (r, a) => Saved(r, ValueOf(a, "--out"), "model saved to")),
            new("eval", ["eval", "--model", In("classifier.onnx"), "--data", In("shapes")],
                [("--model", Kind.Input), ("--data", Kind.Input), ("--limit", Kind.Count), ("--seed", Kind.Count)],
                (r, _) => r.Stdout.Contains("accuracy ") ? null : "exit 0 without an accuracy"),
            new("predict --image", ["predict", "--model", In("classifier.onnx"), "--image", In("image.png")],
                [("--model", Kind.Input), ("--image", Kind.Input), ("--top", Kind.Count)],
                (r, _) => r.StdoutLines.Length > 0 ? null : "exit 0 without a prediction"),
            new("predict --source", ["predict", "--model", In("classifier.onnx"), "--source", In("frames/all"), "--frames", "2"],
                [("--source", Kind.Input), ("--frames", Kind.Duration), ("--top", Kind.Count), ("--width", Kind.Count), ("--height", Kind.Count),
                 ("--fps", Kind.Real)],
                (r, _) => r.Stdout.Contains("frame(s) in") ? null : "exit 0 without the summary"),
            new("infer", ["infer", "--model", In("classifier.onnx"), "--input", In("x.npy"), "--output-dir", In("out-dir")],
                [("--model", Kind.Input), ("--input", Kind.NpyInput), ("--output-dir", Kind.OutputDir)],
                (r, _) => r.StdoutLines.Length > 0 && r.StdoutLines.All(l => File.Exists(l[(l.LastIndexOf("-> ", StringComparison.Ordinal) + 3)..]))
                    ? null : "exit 0 without every output file"),
            new("collect", ["collect", "--source", In("frames/all"), "--class", "x", "--data", In("collected"), "--frames", "2"],
                [("--source", Kind.Input), ("--class", Kind.Text), ("--data", Kind.OutputDir), ("--frames", Kind.Duration), ("--every", Kind.Duration),
                 ("--width", Kind.Count), ("--fps", Kind.Real)],
                (r, _) => r.Stdout.StartsWith("saved ", StringComparison.Ordinal) && !r.Stdout.StartsWith("saved 0 ", StringComparison.Ordinal)
                    ? null : "exit 0 without a saved frame"),
            new("run --headless", ["run", "--headless", "--model", In("classifier.onnx"), "--source", In("frames/all"), "--frames", "2", "--stats-json", In("stats.json")],
                [("--model", Kind.Input), ("--source", Kind.Input), ("--frames", Kind.Duration), ("--seconds", Kind.Real), ("--stats-json", Kind.Output),
                 ("--max-fps", Kind.Real), ("--threshold", Kind.Real), ("--record-rate", Kind.Real), ("--hidden", Kind.Count), ("--augment", Kind.Count),
                 ("--size", Kind.Size), ("--outage", Kind.Outage), ("--keys", Kind.Keys), ("--classes", Kind.Classes), ("--screenshot", Kind.Output),
                 ("--data", Kind.Input), ("--width", Kind.Count), ("--fps", Kind.Real)],
                (r, a) => FileKindOf(ValueOf(a, "--stats-json")) == "regular file" ? null : "exit 0 without the stats file"),
            new("bench", ["bench", "--model", In("classifier.onnx"), "--iterations", "2"],
                [("--model", Kind.Input), ("--iterations", Kind.Duration), ("--input", Kind.Text)],
                (r, _) => r.StdoutLines.Length > 0 ? null : "exit 0 without a timing"),
        ];
    }

    /// <summary>"regular file", "fifo", "directory"... as stat(1) says, or "" when missing (a link is followed).</summary>
    private static string FileKindOf(string path) => File.Exists(path) || Directory.Exists(path) ? SpecialFiles.TypeOf(path) : "";

    /// <summary>Outputs of an earlier case must neither count as this one's result nor turn a hostile path into a good one.</summary>
    private void ClearOutputs()
    {
        foreach (string name in new[] { "out.onnx", "stats.json", "missing", "nowhere", "out-dir", "collected", "missing-dir", "empty-dir" })
        {
            string path = In(name);
            if (Directory.Exists(path)) Directory.Delete(path, true);
            else if (File.Exists(path)) File.Delete(path);
        }
        Directory.CreateDirectory(In("empty-dir"));
        File.Copy(In("garbage"), In("garbage-copy"), overwrite: true);
    }

    /// <summary>The base command line with <paramref name="option"/> set to <paramref name="value"/> (replaced if the base has it).</summary>
    private static string[] With(string[] args, string option, string value)
    {
        var list = args.ToList();
        int at = list.IndexOf(option);
        if (at >= 0) list[at + 1] = value;
        else list.AddRange([option, value]);
        return [.. list];
    }

    /// <summary>What is wrong with one run, or null.</summary>
    private static string? Problem(CliResult r, Case c, string[] args)
    {
        foreach (string text in new[] { r.Stdout, r.Stderr })
            if (text.Contains("   at ", StringComparison.Ordinal) || text.Contains("Unhandled exception", StringComparison.Ordinal))
                return "a stack trace or an escaped exception";
        if (r.ExitCode is < 0 or > 3) return $"exit code {r.ExitCode}";
        if (r.ExitCode == 0) return c.Result(r, args);
        string[] lines = r.StderrLines;
        int errors = lines.Count(l => l.StartsWith(CliAssert.ErrorPrefix, StringComparison.Ordinal));
        if (errors != 1 || !lines[^1].StartsWith(CliAssert.ErrorPrefix, StringComparison.Ordinal))
            return $"{errors} '{CliAssert.ErrorPrefix}' line(s), the last stderr line not one of them";
        return null;
    }

    [Fact]
    public void Hostile_option_values_for_every_subcommand_end_cleanly()
    {
        MakeInputs();
        var rng = new Random(Seed);
        var runs = new List<(Case Case, string[] Args)>();
        var cases = Cases();
        foreach (var c in cases)
        {
            runs.Add((c, c.Base)); // the base line itself must succeed, or the cases below test nothing
            foreach (var (option, kind) in c.Options)
                foreach (string v in Values(kind, rng).OrderBy(_ => rng.Next()).Take(Environment.GetEnvironmentVariable(AllVariable) == "1" ? int.MaxValue : ValuesPerOption))
                    runs.Add((c, With(c.Base, option, v)));
        }
        for (int i = 0; i < Pairs; i++)
        {
            var c = cases[rng.Next(cases.Length)];
            var (o1, k1) = c.Options[rng.Next(c.Options.Length)];
            var (o2, k2) = c.Options[rng.Next(c.Options.Length)];
            var v1 = Values(k1, rng);
            var v2 = Values(k2, rng);
            runs.Add((c, With(With(c.Base, o1, v1[rng.Next(v1.Length)]), o2, v2[rng.Next(v2.Length)])));
        }

        var problems = new List<string>();
        var codes = new SortedDictionary<int, int>();
        var clock = Stopwatch.StartNew();
        var slowest = (Seconds: 0.0, Line: "");
        var perCommand = new Dictionary<string, double>();
        foreach (var (c, args) in runs)
        {
            ClearOutputs();
            var r = Camcnn.RunInProcess(CaseTimeout, args); // a hang fails here, naming the case
            codes[r.ExitCode] = codes.GetValueOrDefault(r.ExitCode) + 1;
            if (r.Elapsed.TotalSeconds > slowest.Seconds) slowest = (r.Elapsed.TotalSeconds, r.CommandLine);
            perCommand[c.Name] = perCommand.GetValueOrDefault(c.Name) + r.Elapsed.TotalSeconds;
            if (args == c.Base && r.ExitCode != 0) problems.Add($"the base line of {c.Name} failed:\n{r}");
            else if (Problem(r, c, args) is { } p) problems.Add($"{p}:\n{r}");
        }
        output.WriteLine($"{runs.Count} cases in {clock.Elapsed.TotalSeconds:F1} s; exit codes {string.Join(", ", codes.Select(kv => $"{kv.Key}: {kv.Value}"))}; " +
                         $"slowest {slowest.Seconds:F1} s: {slowest.Line}; seconds per command: " +
                         string.Join(", ", perCommand.Select(kv => $"{kv.Key} {kv.Value:F1}")));
        Assert.True(runs.Count >= 300, $"only {runs.Count} cases");
        Assert.True(problems.Count == 0, $"{problems.Count} of {runs.Count} cases misbehaved:\n\n" + string.Join("\n\n", problems.Take(20)));
    }
}
