// LiveWindowTests: `camcnn run` in a real window under Xvfb, checked through its screenshots (pixels) and its
// --stats-json: the camera picture, the bars, the feature grid toggling with F and changing with ], a zoomed channel,
// the other keys, the figures (no allocation per rendered frame), and the clean failures.
using static CameraCnn.App.Tests.Window.ScreenPixels;

namespace CameraCnn.App.Tests.Window;

[Collection(WindowCollection.Name)]
public sealed class LiveWindowTests(WindowFixture f)
{
    private static bool IsRed((int R, int G, int B) p) => p.R > 200 && p.G < 60 && p.B < 60;
    private static bool IsBlue((int R, int G, int B) p) => p.B > 200 && p.R < 60 && p.G < 60;
    // The top class's bar: orange (0.96, 0.55, 0.12) at 92 % over the bar's background.
    private static bool IsOrange(int r, int g, int b) => r > 200 && g is > 100 and < 170 && b < 80;

    [Fact]
    public void Window_shows_the_camera_picture_and_confidence_bars()
    {
        var run = f.Plain;
        int[] camera = run.Rect("camera")!;
        // 320x240 still in a 1280x720 window: pillarboxed to 960x720 in the middle.
        Assert.Equal([160, 0, 960, 720], camera);
        Assert.True(IsRed(AtFraction(run.Screenshot, camera, 0.25, 0.85)), $"left half of the still should be red: {AtFraction(run.Screenshot, camera, 0.25, 0.85)}");
        Assert.True(IsBlue(AtFraction(run.Screenshot, camera, 0.75, 0.85)), $"right half of the still should be blue: {AtFraction(run.Screenshot, camera, 0.75, 0.85)}");

        int[] bars = run.Rect("bars")!;
        int orange = Count(run.Screenshot, bars, IsOrange);
        Assert.True(orange > 300, $"the top class's bar should be drawn (orange pixels in the bars panel: {orange})");
        int text = Count(run.Screenshot, bars, (r, g, b) => r > 220 && g > 220 && b > 220);
        Assert.True(text > 100, $"labels should be written in the bars panel ({text} white pixels)");

        var top = run.Stats.GetProperty("top").EnumerateArray().ToArray();
        Assert.Equal(3, top.Length);
        Assert.All(top, t => Assert.Contains(t.GetProperty("label").GetString(), WindowRunner.Labels));
        Assert.InRange(top.Sum(t => t.GetProperty("probability").GetDouble()), 0.97, 1.03);
        Assert.False(run.View.GetProperty("features").GetBoolean());
    }

    [Fact]
    public void Stats_report_rates_and_latency_and_no_allocation_per_rendered_frame()
    {
        var s = f.Plain.Stats;
        Assert.True(s.GetProperty("frames").GetInt64() >= 24);
        Assert.True(s.GetProperty("renderFps").GetDouble() > 0);
        Assert.True(s.GetProperty("captureFps").GetDouble() > 0);
        Assert.True(s.GetProperty("inferenceFps").GetDouble() > 0);
        // From 5 s after the first result: a run this short has none (null), a longer one a rate.
        var warm = s.GetProperty("inferenceFpsWarm");
        Assert.True(warm.ValueKind == System.Text.Json.JsonValueKind.Null || warm.GetDouble() > 0, warm.ToString());
        var latency = s.GetProperty("latencyMs");
        Assert.True(latency.GetProperty("samples").GetInt32() > 0);
        Assert.True(latency.GetProperty("p50").GetDouble() > 0);
        Assert.True(latency.GetProperty("p95").GetDouble() >= latency.GetProperty("p50").GetDouble());
        Assert.True(s.GetProperty("steadyFrames").GetInt64() >= 10, s.ToString());
        Assert.Equal(0, s.GetProperty("allocatedBytesPerFrame").GetDouble());
        // The Features run exercises the grid path too: also nothing allocated per frame.
        Assert.Equal(0, f.Features.Stats.GetProperty("allocatedBytesPerFrame").GetDouble());
        Assert.StartsWith("3.", s.GetProperty("glfw").GetString());
    }

    [Fact]
    public void F_shows_the_feature_grid_and_a_second_f_hides_it()
    {
        var on = f.Features;
        int[] grid = on.Rect("featureGrid") ?? throw new Xunit.Sdk.XunitException($"no feature grid after F:\n{on.Stats}");
        Assert.True(on.View.GetProperty("features").GetBoolean());
        Assert.Equal("conv1", on.View.GetProperty("layer").GetString());
        double diff = MeanAbsDiff(on.Screenshot, f.Plain.Screenshot, grid);
        Assert.True(diff > 20, $"the grid region should change when the grid is drawn (mean difference {diff:F1})");
        double viridis = ViridisFraction(on.Screenshot, grid), before = ViridisFraction(f.Plain.Screenshot, grid);
        Assert.True(viridis > 0.6, $"the grid should be coloured by viridis ({viridis:P0} of its pixels)");
        Assert.True(before < 0.05, $"the camera picture alone is not viridis-coloured ({before:P0})");

        using var off = f.Runner.Run(keys: "F,F");
        Assert.Null(off.Rect("featureGrid"));
        Assert.False(off.View.GetProperty("features").GetBoolean());
        double back = MeanAbsDiff(off.Screenshot, f.Plain.Screenshot, grid);
        Assert.True(back < 2, $"after a second F the grid region should show the picture again (mean difference {back:F1})");
    }

    [Fact]
    public void Right_bracket_shows_the_next_layer()
    {
        using var next = f.Runner.Run(keys: "F,]");
        Assert.Equal("pool1", next.View.GetProperty("layer").GetString()); // conv1, its batch norm and ReLU are one fused layer
        int[] grid = f.Features.Rect("featureGrid")!;
        Assert.Equal(grid, next.Rect("featureGrid"));
        double diff = MeanAbsDiff(next.Screenshot, f.Features.Screenshot, grid);
        Assert.True(diff > 5, $"another layer's maps should look different (mean difference {diff:F1})");
        Assert.True(ViridisFraction(next.Screenshot, grid) > 0.6);
    }

    [Fact]
    public void Click_zooms_a_channel_over_the_picture()
    {
        int[] tile = f.Features.Rect("firstTile")!;
        double fx = (tile[0] + tile[2] / 2.0) / WindowRunner.Width, fy = (tile[1] + tile[3] / 2.0) / WindowRunner.Height;
        using var zoom = f.Runner.Run(keys: FormattableString.Invariant($"F,Click:{fx:F4}:{fy:F4},Up,Up"));
        Assert.Equal(0, zoom.View.GetProperty("zoomChannel").GetInt32());
        Assert.Equal(0.8, zoom.View.GetProperty("zoomOpacity").GetDouble(), 3);
        int[] camera = zoom.Rect("camera")!;
        // The left quarter of the picture (not under the panels) is now channel 0 over the red half at 80 %.
        int[] left = [camera[0] + 20, camera[1] + camera[3] / 2, camera[2] / 4, camera[3] / 4];
        double diff = MeanAbsDiff(zoom.Screenshot, f.Features.Screenshot, left);
        Assert.True(diff > 20, $"the zoomed channel should cover the picture (mean difference {diff:F1})");
        Assert.False(IsRed(AtFraction(zoom.Screenshot, camera, 0.25, 0.85)));
    }

    [Fact]
    public void Keys_toggle_help_colormap_normalisation_mirror_timing_and_pause()
    {
        using var run = f.Runner.Run(keys: "H,C,N,M,T,Space");
        var v = run.View;
        Assert.True(v.GetProperty("help").GetBoolean());
        Assert.Equal("inferno", v.GetProperty("colormap").GetString());
        Assert.Equal("global", v.GetProperty("normalisation").GetString());
        Assert.True(v.GetProperty("mirror").GetBoolean());
        Assert.True(v.GetProperty("timing").GetBoolean());
        Assert.True(v.GetProperty("paused").GetBoolean());
        int[] camera = run.Rect("camera")!;
        // Mirrored: red on the right, blue on the left.
        Assert.True(IsBlue(AtFraction(run.Screenshot, camera, 0.25, 0.85)), $"{AtFraction(run.Screenshot, camera, 0.25, 0.85)}");
        Assert.True(IsRed(AtFraction(run.Screenshot, camera, 0.75, 0.85)), $"{AtFraction(run.Screenshot, camera, 0.75, 0.85)}");
        // The help box darkens the middle of the window and has text in it.
        int[] middle = [WindowRunner.Width / 2 - 150, WindowRunner.Height / 2 - 60, 300, 120];
        int dark = Count(run.Screenshot, middle, (r, g, b) => r < 40 && g < 40 && b < 40);
        int white = Count(run.Screenshot, middle, (r, g, b) => r > 200 && g > 200 && b > 200);
        Assert.True(dark > middle[2] * middle[3] / 2, $"help box expected in the middle ({dark} dark pixels)");
        Assert.True(white > 100, $"help text expected ({white} white pixels)");
        Assert.True(Count(f.Plain.Screenshot, middle, (r, g, b) => r < 40 && g < 40 && b < 40) < middle[2] * middle[3] / 10);
    }
}
