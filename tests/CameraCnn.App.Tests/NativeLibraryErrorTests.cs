// A native library that does not load (OpenCV's runtime on a machine without libgtk-3, say) must give one line that names
// it and what is absent, not the TypeInitializationException's stack trace.
using System.Runtime.InteropServices;
using CameraCnn.App.Cli;

namespace CameraCnn.App.Tests;

public static partial class NativeLibraryErrorTests
{
    [LibraryImport("camcnn_no_such_library")]
    private static partial int AbsentFunction();

    [Fact]
    public static void A_library_that_is_not_there_is_named_in_one_line()
    {
        var e = Assert.Throws<DllNotFoundException>(() => AbsentFunction());
        string? line = CliRunner.MissingNativeLibrary(new TypeInitializationException("CameraCnn.Vision.FrameSource", e));
        Assert.NotNull(line);
        Assert.StartsWith("camcnn_no_such_library could not be loaded", line);
        Assert.Contains("scripts/setup.sh", line);
        Assert.DoesNotContain('\n', line);
    }

    [Theory]
    [InlineData("/app/runtimes/linux-x64/native/libOpenCvSharpExtern.so: cannot open shared object file: No such file or directory\n" +
                "libgtk-3.so.0: cannot open shared object file: No such file or directory\n")] // .NET 10 (seen with a test library)
    [InlineData("/app/runtimes/linux-x64/native/libOpenCvSharpExtern.so: libgtk-3.so.0: cannot open shared object file: No such file or directory\n")]
    public static void A_missing_dependency_is_named_too(string probes)
    {
        // The shapes .NET gives on Linux when the library is found but one of its dependencies is not.
        var e = new DllNotFoundException(
            "Unable to load shared library 'OpenCvSharpExtern' or one of its dependencies. In order to help diagnose loading " +
            "problems, consider using a tool like strace.\n" +
            "/app/runtimes/linux-x64/native/OpenCvSharpExtern.so: cannot open shared object file: No such file or directory\n" + probes);
        Assert.Equal("OpenCvSharpExtern could not be loaded (libgtk-3.so.0 is missing); on Debian, scripts/setup.sh installs what camcnn needs",
                     CliRunner.MissingNativeLibrary(new TypeInitializationException("X", new TypeInitializationException("Y", e))));
    }

    [Fact]
    public static void Other_failures_are_not_taken_for_a_missing_library() =>
        Assert.Null(CliRunner.MissingNativeLibrary(new TypeInitializationException("X", new InvalidOperationException("bug"))));
}
