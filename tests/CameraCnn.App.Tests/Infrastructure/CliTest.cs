// CliTest: the base of test classes whose cases run camcnn as a process in a temporary folder of their own, each run
// logged to the test output (so a failure shows what the program printed).
using Xunit.Abstractions;

namespace CameraCnn.App.Tests.Infrastructure;

public abstract class CliTest(ITestOutputHelper output, string tag = "camcnn-app-tests") : IDisposable
{
    /// <summary>This test's folder (the working directory of <see cref="Run"/>); deleted afterwards.</summary>
    protected TempDir Dir { get; } = new(tag);

    protected ITestOutputHelper Output => output;

    /// <summary>Runs `camcnn args` in <see cref="Dir"/> and logs the result.</summary>
    protected CliResult Run(params string[] args)
    {
        var r = Camcnn.Run(args, Dir.Path);
        output.WriteLine(r.ToString());
        return r;
    }

    public void Dispose()
    {
        Dir.Dispose();
        GC.SuppressFinalize(this);
    }
}
