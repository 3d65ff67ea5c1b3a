// CollectTests: `camcnn collect` writes PNGs into DIR/NAME/ with sortable numbers that continue across runs and never
// overwrite, honours --every, keeps unsafe class names inside the data directory, and fails cleanly on bad input.
using System.Security.Cryptography;
using CameraCnn.App.Tests.Infrastructure;
using OpenCvSharp;
using Xunit.Abstractions;
using static CameraCnn.App.Tests.Capture.CaptureTestData;

namespace CameraCnn.App.Tests.Capture;

public sealed class CollectTests(ITestOutputHelper output) : CliTest(output, "camcnn-collect")
{
    private string[] Files(string cls) =>
        Directory.GetFiles(Path.Combine(Dir.Path, "data", cls), "*", new EnumerationOptions { AttributesToSkip = 0 })
            .Select(p => Path.GetFileName(p)).Order(StringComparer.Ordinal).ToArray();

    [Fact]
    public void Numbering_continues_across_runs_and_nothing_is_overwritten()
    {
        var first = Run("collect", "--source", "synthetic", "--width", "80", "--height", "60", "--fps", "60",
            "--class", "cat", "--frames", "3", "--data", "data");
        CliAssert.Succeeded(first);
        Assert.Equal(["cat_000001.png", "cat_000002.png", "cat_000003.png"], Files("cat"));
        Assert.Contains("saved 3 frame(s)", first.Stdout);
        byte[] hash = SHA256.HashData(File.ReadAllBytes(Dir["data/cat/cat_000002.png"]));
        using (var png = Cv2.ImRead(Dir["data/cat/cat_000001.png"]))
            Assert.Equal((80, 60), (png.Cols, png.Rows));

        var second = Run("collect", "--source", "synthetic", "--width", "80", "--height", "60", "--fps", "60",
            "--class", "cat", "--frames", "2", "--data", "data", "--json");
        CliAssert.Succeeded(second);
        Assert.Equal(["cat_000001.png", "cat_000002.png", "cat_000003.png", "cat_000004.png", "cat_000005.png"], Files("cat"));
        Assert.Equal(hash, SHA256.HashData(File.ReadAllBytes(Dir["data/cat/cat_000002.png"])));
        var json = CliAssert.LastLineJson(second);
        Assert.Equal(2, CliAssert.Number(json, "saved", second));
        Assert.Equal("cat_000004.png", json.GetProperty("first").GetString());
    }

    [Fact]
    public void Every_k_saves_every_kth_frame_of_a_video_and_stops_at_its_end()
    {
        WriteVideo(Dir["clip.avi"], 12);
        var r = Run("collect", "--source", "clip.avi", "--class", "grey", "--every", "4", "--frames", "10", "--data", "data");
        Assert.Equal(0, r.ExitCode);
        CliAssert.NoStackTrace(r);
        Assert.Contains(r.StderrLines, l => l.Contains("ended after 3 of 10"));
        string[] files = Files("grey");
        Assert.Equal(3, files.Length);
        int[] numbers = files.Select(f =>
        {
            using var png = Cv2.ImRead(Dir[Path.Combine("data", "grey", f)]);
            return FrameNumberOf(png);
        }).ToArray();
        Assert.Equal([0, 4, 8], numbers);
    }

    [Fact]
    public void Unsafe_class_names_stay_inside_the_data_directory()
    {
        var r = Run("collect", "--source", "synthetic", "--fps", "0", "--class", "../../escape", "--frames", "1", "--data", "data");
        CliAssert.Succeeded(r);
        Assert.Equal(["escape_000001.png"], Files("escape"));
        Assert.Contains("is saved as 'escape'", r.Stderr);
        Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(Dir.Path)!, "escape")));
    }

    [Fact]
    public void Bad_input_fails_cleanly()
    {
        CliAssert.Error(Run("collect", "--source", "synthetic", "--class", "..", "--data", "data"), "no letters or digits");
        CliAssert.Error(Run("collect", "--source", "synthetic", "--class", "", "--data", "data"), "no letters or digits");
        CliAssert.Error(Run("collect", "--source", "synthetic", "--data", "data"), "--class");
        CliAssert.OutOfRange(Run("collect", "--source", "synthetic", "--class", "a", "--data", "data", "--every", "0"), "--every");
        File.WriteAllText(Dir["plain-file"], "x");
        CliAssert.Error(Run("collect", "--source", "synthetic", "--class", "a", "--data", "plain-file"), "plain-file", "not a directory");
        if (!File.Exists("/dev/video3"))
            CliAssert.Error(Run("collect", "--source", "3", "--class", "a", "--data", "data"), "camera 3");
    }
}
