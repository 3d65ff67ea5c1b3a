// Camcnn: runs the real CLI (camcnn.dll, copied next to the tests by the project reference) as a child process, or
// Program.Main in-process, and captures exit code, stdout and stderr.
using System.Diagnostics;
using System.Text;
using Xunit.Sdk;

namespace CameraCnn.App.Tests.Infrastructure;

/// <summary>What one camcnn run produced.</summary>
public sealed record CliResult(string CommandLine, int ExitCode, string Stdout, string Stderr, TimeSpan Elapsed)
{
    public string[] StdoutLines => Lines(Stdout);
    public string[] StderrLines => Lines(Stderr);

    /// <summary>Everything the run printed, for assertion messages.</summary>
    public override string ToString() =>
        $"$ {CommandLine}\nexit code {ExitCode} after {Elapsed.TotalSeconds:F1} s\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";

    private static string[] Lines(string s) =>
        s.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Trim().Length > 0).ToArray();
}

public static class Camcnn
{
    /// <summary>For the quick commands; generous because CI machines can be heavily loaded. A hung process fails the test.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(120);

    /// <summary>camcnn.dll in the test output directory (the App project reference copies it there).</summary>
    public static string DllPath
    {
        get
        {
            string path = Path.Combine(AppContext.BaseDirectory, "camcnn.dll");
            if (!File.Exists(path)) throw new XunitException($"camcnn.dll not found at {path}; the test project must reference CameraCnn.App");
            return path;
        }
    }

    /// <summary>The dotnet host: $DOTNET_HOST_PATH when it names a file (set by the SDK), else "dotnet" from PATH.</summary>
    public static string DotnetHost
    {
        get
        {
            string? host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
            return !string.IsNullOrEmpty(host) && File.Exists(host) ? host : "dotnet";
        }
    }

    public static CliResult Run(params string[] args) => Run(args, workingDirectory: null);

    /// <summary>
    /// Runs `dotnet camcnn.dll args` and waits for it; on timeout the process tree is killed and the test fails with
    /// whatever it printed so far. <paramref name="environment"/> entries with a null value are removed.
    /// </summary>
    /// <param name="launcher">a program (and its arguments) to start dotnet through, e.g. setpriv to drop root's powers.</param>
    public static CliResult Run(IEnumerable<string> args, string? workingDirectory, IReadOnlyDictionary<string, string?>? environment = null,
        TimeSpan? timeout = null, IReadOnlyList<string>? launcher = null)
    {
        string[] argv = args.ToArray();
        var psi = new ProcessStartInfo(launcher is { Count: > 0 } ? launcher[0] : DotnetHost)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            CreateNoWindow = true,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        if (launcher is { Count: > 0 })
        {
            foreach (string a in launcher.Skip(1)) psi.ArgumentList.Add(a);
            psi.ArgumentList.Add(DotnetHost);
        }
        psi.ArgumentList.Add(DllPath);
        foreach (string a in argv) psi.ArgumentList.Add(a);
        if (environment is not null)
            foreach (var (key, value) in environment)
            {
                if (value is null) psi.Environment.Remove(key);
                else psi.Environment[key] = value;
            }

        string commandLine = "camcnn " + string.Join(" ", argv.Select(Quote));
        var limit = timeout ?? DefaultTimeout;
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(psi) ?? throw new XunitException($"could not start {psi.FileName}");
        process.StandardInput.Close();
        // Read both pipes concurrently, or a chatty child blocks on a full pipe and never exits.
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(limit))
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            process.WaitForExit(10_000);
            string so = stdout.Wait(5_000) ? stdout.Result : "(unavailable)";
            string se = stderr.Wait(5_000) ? stderr.Result : "(unavailable)";
            throw new XunitException($"timed out after {limit.TotalSeconds:F0} s and was killed: {commandLine}\n--- stdout ---\n{so}\n--- stderr ---\n{se}");
        }
        process.WaitForExit(); // flushes the redirected streams
        return new CliResult(commandLine, process.ExitCode, stdout.Result, stderr.Result, clock.Elapsed);
    }

    private static readonly Lock ConsoleLock = new();

    /// <summary>
    /// Runs <see cref="Program.Main"/> in this process with Console.Out/Error captured. Console redirection is
    /// process-wide, so in-process runs are serialised; use it only for quick commands (help, parse errors).
    /// </summary>
    public static CliResult RunInProcess(params string[] args) => RunInProcess(TimeSpan.FromMinutes(5), args);

    /// <summary>
    /// As <see cref="RunInProcess(string[])"/>, on a thread of its own that may take at most <paramref name="timeout"/>:
    /// a hang fails the test (the thread is left behind; nothing can stop it). An exception escaping Main is reported
    /// as exit code -1 with the exception on stderr, as the real process would print it. Process-wide settings a command
    /// changes (the engine's thread count) are put back afterwards.
    /// </summary>
    public static CliResult RunInProcess(TimeSpan timeout, params string[] args)
    {
        lock (ConsoleLock)
        {
            var oldOut = Console.Out;
            var oldErr = Console.Error;
            int threads = Engine.Kernels.Parallelism.Threads;
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            var clock = Stopwatch.StartNew();
            int code = -1;
            Exception? escaped = null;
            var thread = new Thread(() =>
            {
                try { code = Program.Main(args); }
                catch (Exception e) { escaped = e; }
            }) { IsBackground = true, Name = "camcnn in-process" };
            string line = "camcnn (in-process) " + string.Join(" ", args.Select(Quote));
            try
            {
                Console.SetOut(TextWriter.Synchronized(stdout));
                Console.SetError(TextWriter.Synchronized(stderr));
                thread.Start();
                if (!thread.Join(timeout))
                    throw new XunitException($"timed out after {timeout.TotalSeconds:F0} s (a hang): {line}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}");
            }
            finally
            {
                Console.SetOut(oldOut);
                Console.SetError(oldErr);
                Engine.Kernels.Parallelism.Threads = threads;
            }
            if (escaped is not null) stderr.WriteLine($"Unhandled exception. {escaped}");
            return new CliResult(line, code, stdout.ToString(), stderr.ToString(), clock.Elapsed);
        }
    }

    private static string Quote(string a) => a.Length > 0 && !a.Any(char.IsWhiteSpace) ? a : $"\"{a}\"";
}
