// camcnn infer: the scripting contract. Runs any model the engine loads on .npy inputs and writes every graph
// output as DIR/<output name>.npy. Keep its flags and file naming stable.
using System.CommandLine;
using System.Text;
using CameraCnn.App.Cli;
using CameraCnn.Engine;
using CameraCnn.Engine.Data;
using CameraCnn.Engine.IO;
using CameraCnn.Engine.Models;

namespace CameraCnn.App.Commands;

public static class InferCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "an ONNX model", Required = true };
        var inputs = new Option<string[]>("--input")
        {
            Description = "NAME=x.npy (float32); the name may be left out for a single-input model",
            Required = true,
            AllowMultipleArgumentsPerToken = true,
        };
        var outDir = new Option<string>("--output-dir") { Description = "directory for <output name>.npy files (created if missing)", Required = true };
        var cmd = new Command("infer", "Run a model on .npy inputs and write every graph output as <name>.npy.") { model, inputs, outDir };
        cmd.SetAction(r => CliRunner.Run(() => Run(r.GetValue(model)!, r.GetValue(inputs)!, r.GetValue(outDir)!)));
        return cmd;
    }

    private static int Run(string modelPath, string[] inputArgs, string outDir)
    {
        if (outDir.Trim().Length == 0) throw new CliException("--output-dir is empty, expected a directory", CliRunner.UsageError);
        if (FileKind.Of(outDir) is var kind and not (PathKind.Missing or PathKind.Directory))
            throw new CliException($"--output-dir {outDir} is {FileKind.Describe(kind)}, not a directory");
        var model = ModelCatalog.Load(modelPath);
        var graph = model.Graph;
        var bound = new Tensor?[graph.Inputs.Count];
        foreach (string arg in inputArgs)
        {
            int eq = arg.IndexOf('=');
            string name = eq < 0 ? "" : arg[..eq], file = eq < 0 ? arg : arg[(eq + 1)..];
            int index;
            if (name.Length == 0)
            {
                if (graph.Inputs.Count != 1)
                    throw new CliException($"the model has {graph.Inputs.Count} inputs ({InputNames(graph)}); name them as NAME=file.npy");
                index = 0;
            }
            else
            {
                index = graph.Inputs.ToList().FindIndex(n => n.Name == name);
                if (index < 0) throw new CliException($"the model has no input '{name}' (inputs: {InputNames(graph)})");
            }
            if (Directory.Exists(file)) throw new CliException($"input file {file} is a directory, expected an .npy file");
            if (!File.Exists(file)) throw new CliException($"input file not found: {file}");
            bound[index] = Npy.Read(file);
        }
        for (int i = 0; i < bound.Length; i++)
            if (bound[i] is null) throw new CliException($"no value given for input '{graph.Inputs[i].Name}' (inputs: {InputNames(graph)})");
        graph.Forward(bound!, training: false);

        Directory.CreateDirectory(outDir);
        string[] names = OutputFileNames(graph.Outputs.Select(o => o.Name).ToArray());
        for (int i = 0; i < names.Length; i++)
        {
            var output = graph.Outputs[i];
            string path = Path.Combine(outDir, names[i] + ".npy");
            Npy.Write(path, output.Output);
            Console.WriteLine($"{output.Name} {output.Output.ShapeString} -> {path}");
        }
        var renamed = names.Select((n, i) => (Name: graph.Outputs[i].Name, File: n)).Where(x => x.File != SanitizeFileName(x.Name)).ToArray();
        if (renamed.Length > 0)
            Report.Note($"camcnn: note: output names that are one file name once sanitised got a numeric suffix: " +
                        string.Join(", ", renamed.Select(x => $"'{x.Name}' -> {x.File}.npy")));
        return CliRunner.Ok;
    }

    /// <summary>
    /// One file name per output, all different (ignoring case, for case-insensitive file systems): the sanitised name,
    /// and for an output whose sanitised name an earlier output already has, that name with the first free suffix
    /// _2, _3... Every output keeps its plain name when it is the first to have it, so adding an output never renames another.
    /// </summary>
    public static string[] OutputFileNames(IReadOnlyList<string> outputNames)
    {
        string[] plain = outputNames.Select(SanitizeFileName).ToArray();
        var taken = new HashSet<string>(plain, StringComparer.OrdinalIgnoreCase);
        var owned = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var names = new string[plain.Length];
        for (int i = 0; i < plain.Length; i++)
        {
            if (owned.Add(plain[i]))
            {
                names[i] = plain[i];
                continue;
            }
            int k = 2;
            while (taken.Contains($"{plain[i]}_{k}")) k++;
            names[i] = $"{plain[i]}_{k}";
            taken.Add(names[i]);
        }
        return names;
    }

    private static string InputNames(Graph g) => string.Join(", ", g.Inputs.Select(i => $"{i.Name}{Tensor.Format(i.InputShape!).Replace("-1", "N")}"));

    /// <summary>Output names become file names: letters, digits, '_', '-' and '.' kept, everything else '_'.</summary>
    public static string SanitizeFileName(string name)
    {
        var sb = new StringBuilder(name.Length);
        foreach (char ch in name) sb.Append(char.IsAsciiLetterOrDigit(ch) || ch is '_' or '-' or '.' ? ch : '_');
        string s = sb.ToString().Trim('.');
        return s.Length == 0 ? "output" : s;
    }
}
