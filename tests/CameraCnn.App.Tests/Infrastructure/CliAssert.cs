// CliAssert: what a well-behaved camcnn run looks like: success with clean output, or failure with exactly one
// "camcnn: error: ..." line and never a stack trace.
using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit.Sdk;

namespace CameraCnn.App.Tests.Infrastructure;

public static partial class CliAssert
{
    public const string ErrorPrefix = "camcnn: error:";

    // "   at Namespace.Type.Method(...)" frames, and the runtime's own banner for an unhandled exception.
    [GeneratedRegex(@"^\s+at \S+", RegexOptions.Multiline)]
    private static partial Regex StackFrame();

    public static void NoStackTrace(CliResult r)
    {
        foreach (string text in new[] { r.Stdout, r.Stderr })
        {
            if (text.Contains("   at ", StringComparison.Ordinal) || StackFrame().IsMatch(text))
                throw new XunitException($"stack trace in the output:\n{r}");
            if (text.Contains("Unhandled exception", StringComparison.OrdinalIgnoreCase))
                throw new XunitException($"unhandled exception:\n{r}");
        }
    }

    public static void Succeeded(CliResult r)
    {
        if (r.ExitCode != 0) throw new XunitException($"expected exit code 0:\n{r}");
        NoStackTrace(r);
        if (r.Stderr.Contains(ErrorPrefix, StringComparison.Ordinal)) throw new XunitException($"error line on success:\n{r}");
    }

    /// <summary>
    /// A handled failure before any work started: exit code 1 and stderr is exactly one line "camcnn: error: ...",
    /// which mentions each of <paramref name="mentions"/> (case-insensitive). Returns the error line.
    /// </summary>
    public static string Error(CliResult r, params string[] mentions) => FailedCleanly(r, 1, false, mentions);

    /// <summary>
    /// An option out of its range (or NaN/infinite): exit code 2, like a command line that does not parse, and stderr is
    /// exactly one line "camcnn: error: ..." mentioning each of <paramref name="mentions"/>. Returns the error line.
    /// </summary>
    public static string OutOfRange(CliResult r, params string[] mentions) => FailedCleanly(r, 2, false, mentions);

    /// <summary>
    /// A handled failure with exactly <paramref name="exitCode"/>: stderr is one line "camcnn: error: ..." (or, with
    /// <paramref name="progressNotesAllowed"/>, that line last after progress notes such as "data: ..." and
    /// "epoch 1/2: ..."), which mentions each of <paramref name="mentions"/> (case-insensitive). Returns the error line.
    /// </summary>
    public static string FailedCleanly(CliResult r, int exitCode, bool progressNotesAllowed, params string[] mentions)
    {
        if (r.ExitCode != exitCode) throw new XunitException($"expected exit code {exitCode}:\n{r}");
        NoStackTrace(r);
        string[] lines = r.StderrLines;
        string[] errors = lines.Where(l => l.StartsWith(ErrorPrefix, StringComparison.Ordinal)).ToArray();
        if (errors.Length != 1) throw new XunitException($"expected exactly one '{ErrorPrefix}' line on stderr:\n{r}");
        if (lines[^1] != errors[0]) throw new XunitException($"the error line should be the last line on stderr:\n{r}");
        if (!progressNotesAllowed && lines.Length != 1) throw new XunitException($"expected stderr to be only the error line:\n{r}");
        if (r.Stdout.Contains(ErrorPrefix, StringComparison.Ordinal)) throw new XunitException($"error line on stdout:\n{r}");
        foreach (string m in mentions)
            if (!errors[0].Contains(m, StringComparison.OrdinalIgnoreCase))
                throw new XunitException($"the error line should mention '{m}':\n{r}");
        return errors[0];
    }

    /// <summary>A System.CommandLine parse error: non-zero exit, the message on stderr, no stack trace.</summary>
    public static void ParseError(CliResult r, params string[] mentions)
    {
        if (r.ExitCode == 0) throw new XunitException($"expected a non-zero exit code:\n{r}");
        NoStackTrace(r);
        if (r.StderrLines.Length != 1 || !r.StderrLines[0].StartsWith("camcnn: error: ", StringComparison.Ordinal))
            throw new XunitException($"expected the parse error as one 'camcnn: error:' line on stderr:\n{r}");
        if (r.Stdout.Length > 0) throw new XunitException($"a parse error should print nothing on stdout (no help text):\n{r}");
        foreach (string m in mentions)
            if (!r.Stderr.Contains(m, StringComparison.OrdinalIgnoreCase))
                throw new XunitException($"stderr should mention '{m}':\n{r}");
    }

    /// <summary>The last stdout line parsed as a JSON object (the --json contract).</summary>
    public static JsonElement LastLineJson(CliResult r)
    {
        string[] lines = r.StdoutLines;
        if (lines.Length == 0) throw new XunitException($"no stdout:\n{r}");
        try
        {
            using var doc = JsonDocument.Parse(lines[^1]);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new XunitException($"the last stdout line is not a JSON object:\n{r}");
            return doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new XunitException($"the last stdout line is not JSON ({e.Message}):\n{r}");
        }
    }

    public static double Number(JsonElement json, string property, CliResult r)
    {
        if (!json.TryGetProperty(property, out var v) || v.ValueKind != JsonValueKind.Number)
            throw new XunitException($"JSON has no numeric '{property}':\n{r}");
        return v.GetDouble();
    }
}
