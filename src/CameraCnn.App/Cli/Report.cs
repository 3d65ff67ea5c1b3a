// Report: where output goes. Results (tables, JSON) go to stdout; progress and notes go to stderr, so
// `--json | tail -1` is always the JSON object.
using Spectre.Console;

namespace CameraCnn.App.Cli;

public static class Report
{
    /// <summary>Spectre console on stderr, for progress bars and notes.</summary>
    public static readonly IAnsiConsole Err = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });

    /// <summary>True when stderr is a terminal that can redraw a progress bar.</summary>
    public static bool Interactive => !Console.IsErrorRedirected;

    public static void Note(string line) => Console.Error.WriteLine(line);

    /// <summary>Runs work with a progress bar (terminal) or without (redirected), giving it a callback(fraction 0..1, text).</summary>
    public static T WithProgress<T>(string title, Func<Action<double, string>, T> work)
    {
        if (!Interactive) return work((_, _) => { });
        T result = default!;
        Err.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(title), maxValue: 1.0);
                result = work((fraction, text) =>
                {
                    task.Value = Math.Clamp(fraction, 0, 1);
                    task.Description = Markup.Escape($"{title} {text}");
                });
                task.Value = 1.0;
            });
        return result;
    }
}

/// <summary>An IProgress that calls back on the reporting thread (System.Progress posts to the thread pool).</summary>
public sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
