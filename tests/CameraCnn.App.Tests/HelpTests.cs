// --help output, through the real process and through Program.Main in-process.
using CameraCnn.App.Tests.Infrastructure;

namespace CameraCnn.App.Tests;

public sealed class HelpTests
{
    [Fact]
    public void Root_help_lists_the_subcommands()
    {
        var r = Camcnn.Run("--help");
        CliAssert.Succeeded(r);
        foreach (string cmd in new[] { "train", "eval", "predict", "infer" })
            Assert.Matches($@"(?m)^\s+{cmd}\s", r.Stdout);
        Assert.Contains("Usage:", r.Stdout);
        Assert.Empty(r.StderrLines);
    }

    [Fact]
    public void Train_help_lists_its_options()
    {
        var r = Camcnn.Run("train", "--help");
        CliAssert.Succeeded(r);
        foreach (string opt in new[] { "--data", "--arch", "--epochs", "--batch", "--lr", "--out", "--json", "--limit", "--input-size", "--seed", "--threads" })
            Assert.Matches($@"(?m)^\s+{opt}\b", r.Stdout);
        Assert.Contains("<lenet|small-resnet>", r.Stdout);
        Assert.Contains("(REQUIRED)", r.Stdout);
    }

    [Theory]
    [InlineData("train", "--data")]
    [InlineData("eval", "--model")]
    [InlineData("predict", "--image")]
    [InlineData("infer", "--output-dir")]
    [InlineData("explain", "--layer")]
    public void Subcommand_help_in_process(string command, string option)
    {
        var r = Camcnn.RunInProcess(command, "--help");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains(option, r.Stdout);
        // In-process the root command is named after the host process (testhost), so only the tail is checked.
        Assert.Contains($" {command} [options]", r.Stdout);
        Assert.Equal("", r.Stderr);
    }

    [Fact]
    public void Root_help_in_process()
    {
        var r = Camcnn.RunInProcess("-h");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("infer", r.Stdout);
    }

    [Fact]
    public void No_subcommand_is_an_error_in_process()
    {
        var r = Camcnn.RunInProcess();
        Assert.NotEqual(0, r.ExitCode);
        CliAssert.NoStackTrace(r);
        Assert.NotEmpty(r.StderrLines);
    }

    [Fact]
    public void Bad_input_in_process_returns_the_exit_code_and_one_error_line()
    {
        var r = Camcnn.RunInProcess("train", "--data", "/nonexistent", "--out", Path.Combine(Path.GetTempPath(), "camcnn-never-written.onnx"));
        CliAssert.Error(r, "data set not found");
    }

    [Fact]
    public void Parse_error_in_process()
    {
        var r = Camcnn.RunInProcess("train", "--data", "x", "--out", "y", "--arch", "foo");
        CliAssert.ParseError(r, "lenet");
    }
}
