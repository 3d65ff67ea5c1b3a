// CliRunner: runs a subcommand body and turns the engine's expected failures into one clear line and an exit code.
using System.Text.RegularExpressions;
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
        catch (Exception e) when (MissingNativeLibrary(e) is { } missing)
        {
            return Fail(missing, Failed);
        }
    }

    /// <summary>
    /// A native library that did not load (OpenCV's OpenCvSharpExtern without libgtk-3 on a fresh machine, say) surfaces as
    /// a DllNotFoundException, often inside a TypeInitializationException: one line naming the library and what is absent.
    /// </summary>
    public static string? MissingNativeLibrary(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            if (x is not DllNotFoundException dll) continue;
            var library = Regex.Match(dll.Message, "'([^']+)'");
            string what = library.Success ? library.Groups[1].Value : "a native library";
            // The message lists every path probed ("/path/libX.so: cannot open ..."); an absent dependency has a line of
            // its own ("libgtk-3.so.0: cannot open ...") or follows the library's path ("/path/libX.so: libgtk-3.so.0: ...").
            string? absent = Regex.Matches(dll.Message, @"(?:^|: )([\w.+-]+\.so[\w.]*): cannot open shared object file", RegexOptions.Multiline)
                .Select(m => m.Groups[1].Value)
                .FirstOrDefault(name => !name.Contains(what, StringComparison.OrdinalIgnoreCase));
            string why = absent is null ? "" : $" ({absent} is missing)";
            string hint = OperatingSystem.IsLinux() ? "; on Debian, scripts/setup.sh installs what camcnn needs" : "";
            return $"{what} could not be loaded{why}{hint}";
        }
        return null;
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
