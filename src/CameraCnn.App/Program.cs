// camcnn: the one executable. Each subcommand lives in Commands/; this file only assembles them.
using System.CommandLine;
using CameraCnn.App.Commands;

namespace CameraCnn.App;

public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("camcnn: a webcam CNN with its own engine. Train, evaluate, predict and run ONNX models on the CPU.")
        {
            RunCommand.Create(),
            TrainCommand.Create(),
            EvalCommand.Create(),
            PredictCommand.Create(),
            InferCommand.Create(),
            BenchCommand.Create(),
            CollectCommand.Create(),
            ExplainCommand.Create(),
        };
        if (args.Length == 0) // bare `camcnn`: what it can do, and that a command is missing
        {
            root.Parse(["--help"]).Invoke();
            Console.Error.WriteLine("camcnn: error: no command given (the live window is `camcnn run`)");
            return UsageError;
        }
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0) return ParseFailed(parsed);
        return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
    }

    /// <summary>Exit code of a command line that does not parse (an unknown option, a missing or malformed value).</summary>
    public const int UsageError = 2;

    /// <summary>
    /// A wrong flag gets one line, like every other bad input: what is wrong (all of it, joined), a likely meant option
    /// for an unknown one, and where the help is, instead of System.CommandLine's full help text.
    /// </summary>
    private static int ParseFailed(ParseResult parsed)
    {
        var command = parsed.CommandResult.Command;
        var messages = parsed.Errors.Select(e => Readable(e.Message)).Distinct().ToList();
        foreach (string token in parsed.UnmatchedTokens.Where(t => t.StartsWith('-')))
        {
            string? near = command.Options.SelectMany(o => o.Aliases.Prepend(o.Name))
                .Where(n => n.StartsWith("--", StringComparison.Ordinal))
                .OrderBy(n => EditDistance(token, n)).FirstOrDefault();
            if (near is not null && EditDistance(token, near) <= Math.Max(2, token.Length / 3)) messages.Add($"did you mean {near}?");
        }
        string path = command is RootCommand ? "camcnn" : $"camcnn {command.Name}";
        Console.Error.WriteLine($"camcnn: error: {string.Join("; ", messages)} (see `{path} --help`)");
        return UsageError;
    }

    /// <summary>One line, without .NET type names: "Must be one of: 'lenet' 'small-resnet'", "... for option '--epochs' (a whole number)".</summary>
    private static string Readable(string message)
    {
        string line = string.Join(' ', message.Split(['\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        line = System.Text.RegularExpressions.Regex.Replace(line, @" as expected type '([^']*)'", m =>
            m.Groups[1].Value.Contains("Int") ? " (a whole number)"
            : m.Groups[1].Value.Contains("Single") || m.Groups[1].Value.Contains("Double") ? " (a number)"
            : m.Groups[1].Value.Contains("Boolean") ? " (true or false)" : "");
        return line.TrimEnd('.');
    }

    private static int EditDistance(string a, string b)
    {
        var row = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) row[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            int diagonal = row[0];
            row[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int above = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                diagonal = above;
            }
        }
        return row[b.Length];
    }
}
