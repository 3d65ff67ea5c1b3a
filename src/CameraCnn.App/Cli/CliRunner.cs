// CliRunner: runs a subcommand body and turns the engine's expected failures into one clear line and an exit code.
using CameraCnn.Engine;
using CameraCnn.Engine.Training;

namespace CameraCnn.App.Cli;

/// <summary>A user-facing failure: the message is printed as is, with the exit code given.</summary>
public sealed class CliException(string message, int exitCode = 1) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

public static class CliRunner
{
    /// <summary>Exit codes: 2 is a command line that does not parse or an option out of range (nothing was done).</summary>
    public const int Ok = 0, Failed = 1, UsageError = 2, Diverged = 3;

    /// <summary>Runs body; bad input of any kind becomes "camcnn: error: ..." on stderr, never a stack trace.</summary>
    public static int Run(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (CliException e)
        {
            return Fail(e.Message, e.ExitCode);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or ShapeException
                                      or UnauthorizedAccessException or ArgumentException or KeyNotFoundException)
        {
            return Fail(e.Message, Failed);
        }
        catch (DivergedException e)
        {
            return Fail(e.Message, Diverged);
        }
        catch (OutOfMemoryException)
        {
            return Fail("out of memory (try a smaller --batch or data set)", Failed);
        }
    }

    public static int Fail(string message, int code)
    {
        Console.Error.WriteLine($"camcnn: error: {FirstLine(message)}");
        return code;
    }

    private static string FirstLine(string s)
    {
        int nl = s.IndexOfAny(['\r', '\n']);
        return nl < 0 ? s : s[..nl];
    }
}
