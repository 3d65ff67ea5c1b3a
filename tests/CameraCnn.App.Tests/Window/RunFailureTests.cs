// RunFailureTests: `camcnn run` where things are missing or break: no display, no GLFW, a broken shader, no camera,
// a source that stops delivering frames; and the headless mode that needs no display at all.
using System.Text.Json;
using CameraCnn.App.Tests.Infrastructure;
using CameraCnn.App.Live;
using CameraCnn.App.Window;
using CameraCnn.Vision;
using OpenCvSharp;

namespace CameraCnn.App.Tests.Window;

[Collection(WindowCollection.Name)]
public sealed class RunFailureTests(WindowFixture f)
{
    private static readonly Dictionary<string, string?> NoDisplay = new() { ["DISPLAY"] = null, ["WAYLAND_DISPLAY"] = null };

    [Fact]
    public void No_display_exits_with_one_line_suggesting_xvfb_or_headless()
    {
        var r = Camcnn.Run(["run", "--model", f.Runner.ModelPath, "--source", "synthetic"], null, NoDisplay);
        CliAssert.Error(r, "no display", "xvfb-run", "--headless");
    }

    [Fact]
    public void Missing_glfw_exits_with_one_line_naming_the_package()
    {
        var env = new Dictionary<string, string?> { ["DISPLAY"] = ":12345", [Glfw.LibraryVariable] = "/nonexistent/libglfw.so.3" };
        var r = Camcnn.Run(["run", "--model", f.Runner.ModelPath, "--source", "synthetic"], null, env);
        CliAssert.Error(r, "GLFW", "libglfw3");
    }

    [Fact]
    public void No_OpenGl33_exits_with_one_line_naming_the_package()
    {
        // Mesa pretends to be an OpenGL 3.0 driver: no 3.3 core context can be made.
        var r = f.Runner.OnDisplay(["run", "--model", f.Runner.ModelPath, "--source", "synthetic"],
            new Dictionary<string, string?> { ["MESA_GL_VERSION_OVERRIDE"] = "3.0" });
        CliAssert.Error(r, "OpenGL 3.3", "libgl1-mesa-dri");
    }

    [Fact]
    public void Esc_quits_cleanly_and_still_writes_the_stats()
    {
        string stats = Path.Combine(f.Runner.Directory, "esc.json");
        var r = f.Runner.OnDisplay(["run", "--model", f.Runner.ModelPath, "--source", "synthetic", "--frames", "400", "--keys", "Esc", "--stats-json", stats]);
        CliAssert.Succeeded(r);
        using var doc = JsonDocument.Parse(File.ReadAllText(stats));
        long frames = doc.RootElement.GetProperty("frames").GetInt64();
        Assert.True(frames < 400, $"Esc (at frame 100 of 400) should end the run early; it drew {frames} frames");
    }

    [Fact]
    public void Shader_compile_error_names_the_file_and_gives_the_log()
    {
        string dir = Path.Combine(f.Runner.Directory, "bad-shaders");
        Directory.CreateDirectory(dir);
        foreach (string file in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "shaders")))
            File.Copy(file, Path.Combine(dir, Path.GetFileName(file)), overwrite: true);
        File.WriteAllText(Path.Combine(dir, "featuremap.frag"), "#version 330 core\nout vec4 fragColor;\nvoid main() { fragColor = undefinedThing; }\n");
        var r = f.Runner.OnDisplay(["run", "--model", f.Runner.ModelPath, "--source", "synthetic"],
            new Dictionary<string, string?> { [ShaderProgram.DirectoryVariable] = dir });
        string line = CliAssert.FailedCleanly(r, 1, progressNotesAllowed: true, "featuremap.frag");
        Assert.Contains("undefinedThing", line);
    }

    [Fact]
    public void Bad_options_are_refused_before_any_window()
    {
        CliAssert.Error(Camcnn.RunInProcess("run", "--keys", "F", "--model", f.Runner.ModelPath), "--frames");
        CliAssert.Error(Camcnn.RunInProcess("run", "--frames", "5", "--keys", "F,Bogus", "--model", f.Runner.ModelPath), "Bogus");
        CliAssert.Error(Camcnn.RunInProcess("run", "--frames", "5", "--screenshot", "x.txt", "--model", f.Runner.ModelPath), ".png");
        CliAssert.Error(Camcnn.RunInProcess("run", "--headless", "--frames", "5", "--source", "/nonexistent/clip.mp4", "--model", f.Runner.ModelPath), "source not found");
        CliAssert.Error(Camcnn.RunInProcess("run", "--frames", "5", "--keys", "Hold:1", "--model", f.Runner.ModelPath), "Hold:1");
        CliAssert.Error(Camcnn.RunInProcess("run", "--frames", "5", "--keys", "Wait:-1", "--model", f.Runner.ModelPath), "Wait:-1");
        CliAssert.OutOfRange(Camcnn.RunInProcess("run", "--record-rate", "0", "--model", f.Runner.ModelPath), "--record-rate");
        CliAssert.Error(Camcnn.RunInProcess("run", "--classes", "apple,,none", "--model", f.Runner.ModelPath), "empty name");
        CliAssert.Error(Camcnn.RunInProcess("run", "--classes", "apple,Apple", "--model", f.Runner.ModelPath), "twice");
        CliAssert.Error(Camcnn.RunInProcess("run", "--classes", "a,b,c,d,e,f,g,h,i,j", "--model", f.Runner.ModelPath), "at most 9");
        string missing = Path.Combine(f.Runner.Directory, "no-such-teach-folder");
        CliAssert.Error(Camcnn.RunInProcess("run", "--headless", "--source", "synthetic", "--data", missing), "no such teach folder");
        Assert.False(Directory.Exists(missing), "a headless run must not create the teach folder");
    }

    [Fact]
    public void Headless_runs_the_pipeline_without_a_display()
    {
        string stats = Path.Combine(f.Runner.Directory, "headless.json");
        var r = Camcnn.Run(["run", "--headless", "--model", f.Runner.ModelPath, "--source", f.Runner.ImagePath, "--frames", "20", "--stats-json", stats], null, NoDisplay);
        CliAssert.Succeeded(r);
        using var doc = JsonDocument.Parse(File.ReadAllText(stats));
        Assert.Equal("headless", doc.RootElement.GetProperty("mode").GetString());
        Assert.True(doc.RootElement.GetProperty("frames").GetInt64() >= 20);
        Assert.True(doc.RootElement.GetProperty("latencyMs").GetProperty("p50").GetDouble() > 0);
    }

    [Fact]
    public void No_camera_falls_back_to_the_synthetic_source_and_says_so()
    {
        // Index 9 does not exist on a test machine: the same path as `camcnn run` without a webcam.
        using var run = f.Runner.Run(keys: null, frames: 12, source: "9");
        Assert.Equal("synthetic pattern", run.Stats.GetProperty("source").GetString());
        Assert.Contains("no camera", run.Result.Stderr);
        int[] camera = run.Rect("camera")!;
        Assert.Equal([160, 0, 960, 720], camera); // the synthetic source is 640x480
    }

    [Fact]
    public void Source_outage_shows_reconnecting()
    {
        // The pattern stops 2 s after it was opened and stays away; the run (150 frames at 60 fps) ends inside the outage.
        using var run = f.Runner.Run(null, 150, "synthetic", "--outage", "2-600");
        Assert.Equal("Reconnecting", run.Stats.GetProperty("sourceState").GetString());
        int[] bars = run.Rect("bars")!;
        int[] banner = [bars[0] + bars[2], bars[1] + bars[3], WindowRunner.Width - bars[0] - bars[2], 40];
        int amber = ScreenPixels.Count(run.Screenshot, banner, (r, g, b) => r > 230 && g is > 170 and < 230 && b is > 40 and < 120);
        Assert.True(amber > 30, $"the reconnecting banner should be drawn ({amber} amber text pixels)");
    }

    [Fact]
    public void SourceOutage_recovers()
    {
        using var run = f.Runner.Run(null, 240, "synthetic", "--outage", "0.5-1.5");
        Assert.Equal("Live", run.Stats.GetProperty("sourceState").GetString());
        Assert.True(run.Stats.GetProperty("reconnects").GetInt64() >= 1, run.Stats.ToString());
    }

    [Fact]
    public void LiveFeed_reports_reconnecting_and_frames_flow_again()
    {
        var source = new FlakySource(goodFrames: 5, badReads: 3);
        var capture = new CaptureThread(source, new CaptureOptions { ReconnectDelay = TimeSpan.FromMilliseconds(100), Readers = 2 });
        capture.Start();
        using var feed = new LiveFeed(capture);
        var render = feed.ForRender!;
        bool sawReconnecting = false;
        long framesAfter = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(10) && !(sawReconnecting && feed.State == FeedState.Live && framesAfter > 5))
        {
            sawReconnecting |= feed.State == FeedState.Reconnecting;
            if (sawReconnecting && render.TryTake(out _)) framesAfter++;
            Thread.Sleep(1);
        }
        Assert.True(sawReconnecting, "the feed should report reconnecting while the source fails");
        Assert.Equal(FeedState.Live, feed.State);
        Assert.True(feed.Reconnects >= 1);
        Assert.True(source.Opens >= 2, $"the source should have been reopened ({source.Opens} opens)");
        Assert.True(framesAfter > 5, "frames should flow again after the reconnect");
        Assert.Equal(64, render.Current!.Image.Cols);
    }

    /// <summary>Delivers some frames, then loses a few reads (each one forcing a re-open), then works again.</summary>
    private sealed class FlakySource(int goodFrames, int badReads) : Vision.FrameSource
    {
        private int _reads;
        public int Opens;
        public override string Description => "flaky test source";
        public override bool IsLive => true;

        public override void Open()
        {
            Opens++;
            Width = 64;
            Height = 48;
        }

        public override FrameRead Read(Mat into, CancellationToken cancel)
        {
            Thread.Sleep(5);
            int n = ++_reads;
            if (n > goodFrames && n <= goodFrames + badReads) return FrameRead.Lost;
            into.Create(48, 64, MatType.CV_8UC3);
            into.SetTo(new Scalar(n % 255, 0, 0));
            return FrameRead.Frame;
        }

        public override void Close() { }
    }
}
