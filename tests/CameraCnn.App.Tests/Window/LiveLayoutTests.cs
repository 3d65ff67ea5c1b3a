// LiveLayoutTests: the live window's layout without a display (LiveLayout is plain arithmetic over the real font's
// sizes): at 1280x720, 800x600 and 1920x1080 (and 1280x720 at HiDPI scale 2), in every view (plain, feature maps of a
// wide or a deep layer, the timing strip, teach mode with nine classes, a full status box and a notice), no two panels
// overlap, every panel lies inside the window, and the feature grid lies inside its panel; with G the Grad-CAM row is one
// more panel, the heatmap lies on the region of the picture the network saw (stretch, crop, letterbox, mirrored), and a
// click finds the bar it is on.
using CameraCnn.App.Live;
using CameraCnn.App.Window;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Optimization;
using CameraCnn.Vision;

namespace CameraCnn.App.Tests.Window;

public sealed class LiveLayoutTests
{
    private static readonly LayerTap[] Taps =
    [
        new(0, "conv1", typeof(FusedConv2d), 64, 112, 112),
        new(1, "layer4", typeof(FusedConv2d), 512, 7, 7),
        new(2, "pool", typeof(GlobalAvgPool), 512, 1, 1),
    ];

    private static readonly string[] Labels = ["apple", "banana", "cherry", "date", "elder", "fig", "grape", "hazel", "iris"];

    /// <summary>Every view the window can show at once: features x timing x teach x the layer shown.</summary>
    public static TheoryData<int, int, float> Sizes => new() { { 1280, 720, 1f }, { 800, 600, 1f }, { 1920, 1080, 1f }, { 2560, 1440, 2f } };

    [Theory]
    [MemberData(nameof(Sizes))]
    public void Panels_never_overlap_and_stay_inside_the_window(int width, int height, float ui)
    {
        var layout = new LiveLayout(ui, new FontMetrics(ui), Taps, [64, 512, 512]);
        int views = 0;
        foreach (bool features in new[] { false, true })
            foreach (bool timing in new[] { false, true })
                foreach (bool teach in new[] { false, true })
                    foreach (bool heat in new[] { false, true })
                        foreach (int tap in new[] { 0, 1, 2 })
                        {
                            var s = State(features, timing, teach, tap, heat);
                            layout.Update(width, height, s);
                            string view = $"{width}x{height} features={features} timing={timing} teach={teach} heat={heat} tap={tap}";
                            var panels = Panels(layout, s);
                            foreach (var (name, r) in panels)
                            {
                                Assert.False(r.IsEmpty, $"{view}: {name} is empty");
                                Assert.True(r.X >= 0 && r.Y >= 0 && r.Right <= width && r.Bottom <= height, $"{view}: {name} {r} leaves the window");
                            }
                            for (int i = 0; i < panels.Count; i++)
                                for (int j = i + 1; j < panels.Count; j++)
                                    Assert.False(panels[i].Rect.Overlaps(panels[j].Rect),
                                        $"{view}: {panels[i].Name} {panels[i].Rect} overlaps {panels[j].Name} {panels[j].Rect}");
                            if (features)
                            {
                                Assert.True(layout.PageCount > 0, $"{view}: no channels in the grid");
                                Assert.True(Inside(layout.Grid, layout.FeaturePanel), $"{view}: grid {layout.Grid} outside {layout.FeaturePanel}");
                                Assert.True(Inside(layout.Tile(layout.PageCount - 1), layout.Grid), $"{view}: the last channel outside the grid");
                            }
                            if (heat) Assert.True(Inside(layout.HeatScale, layout.HeatLegend), $"{view}: the colour scale outside the Grad-CAM row");
                            if (teach)
                            {
                                Assert.True(layout.Tiles.Length >= 3, $"{view}: only {layout.Tiles.Length} class tiles fit");
                                Assert.True(layout.TeachLinesShown >= 4, $"{view}: only {layout.TeachLinesShown} teach lines fit");
                            }
                            views++;
                        }
        Assert.Equal(48, views);
    }

    [Fact]
    public void The_teach_box_and_the_feature_panel_are_apart_at_1280x720()
    {
        // The view the issue saw overlap: F in teach mode, a long trainer status line.
        var layout = new LiveLayout(1f, new FontMetrics(1f), Taps, [64, 512, 512]);
        var s = State(features: true, timing: false, teach: true, tap: 0);
        layout.Update(1280, 720, s);
        Assert.True(layout.TeachBox.Right <= layout.FeaturePanel.X - layout.M, $"{layout.TeachBox} runs into {layout.FeaturePanel}");
        Assert.All(layout.Tiles.ToArray(), t => Assert.True(t.Rect.Right <= layout.FeaturePanel.X - layout.M, $"tile {t.Index} {t.Rect}"));
        Assert.Equal(s.TeachLineCount, layout.TeachLinesShown);
    }

    /// <summary>A 640x480 frame in a 1280x720 window: the picture is 960x720 from x = 160, 1.5 screen pixels per frame pixel.</summary>
    [Theory]
    [InlineData("stretch", false, 160, 0, 960, 720, 0, 0, 1, 1)]
    [InlineData("crop", false, 280, 0, 720, 720, 0, 0, 1, 1)]            // the centre 480x480 of the frame
    [InlineData("crop", true, 280, 0, 720, 720, 1, 0, 0, 1)]             // mirrored: the map's left column on the right
    [InlineData("letterbox", false, 160, 0, 960, 720, 0, 0.125, 1, 0.875)] // the padding rows above and below are not drawn
    [InlineData("letterbox", true, 160, 0, 960, 720, 1, 0.125, 0, 0.875)]
    public void The_heatmap_lies_on_the_region_the_network_saw_cut_to_the_picture(string resize, bool mirror,
        float x, float y, float w, float h, float u0, float v0, float u1, float v1)
    {
        var layout = new LiveLayout(1f, new FontMetrics(1f), Taps, [64, 512, 512]);
        var s = State(features: false, timing: false, teach: false, tap: 0, heat: true);
        s.Mirror = mirror;
        var pre = new Preprocessing { Height = 224, Width = 224, Resize = resize };
        var (rx, ry, rw, rh) = HeatmapOverlay.InputRegion(FramePreprocessor.ComputeGeometry(resize, 640, 480, 224, 224), 224, 224);
        layout.Update(1280, 720, s);
        Assert.True(layout.HeatmapQuad(s).Rect.IsEmpty, "no map yet: nothing to draw");
        s.Heat = new HeatmapInfo
        {
            State = HeatmapState.Map, Height = 7, Width = 7, RegionX = (float)rx, RegionY = (float)ry, RegionWidth = (float)rw, RegionHeight = (float)rh,
            FrameWidth = 640, FrameHeight = 480,
        };
        layout.Update(1280, 720, s);
        var q = layout.HeatmapQuad(s);
        Assert.Equal(new RectF(x, y, w, h), q.Rect);
        Assert.Equal((u0, v0, u1, v1), (q.U0, q.V0, q.U1, q.V1));
        Assert.True(Inside(q.Rect, layout.Camera), $"{q.Rect} leaves the picture {layout.Camera}");
        if (resize != "letterbox") Assert.Equal(layout.ZoomRect(s, pre), q.Rect); // where the zoomed channel goes too
    }

    [Fact]
    public void A_click_on_a_bar_finds_its_rank()
    {
        var layout = new LiveLayout(1f, new FontMetrics(1f), Taps, [64, 512, 512]);
        var s = State(features: false, timing: false, teach: false, tap: 0, heat: true);
        s.TopCount = 3;
        layout.Update(1280, 720, s);
        Assert.Equal(-1, layout.BarAt(s, layout.BarRow(0).X + 5, layout.BarRow(0).Y + 5)); // no result yet: no bars
        s.HaveResult = true;
        for (int k = 0; k < 3; k++)
        {
            var r = layout.BarRow(k);
            Assert.True(Inside(r, layout.Bars), $"bar {k} {r} outside {layout.Bars}");
            Assert.Equal(k, layout.BarAt(s, r.X + r.W / 2, r.Y + r.H / 2));
            Assert.Equal(k, layout.BarAt(s, r.Right - 1, r.Bottom - 1));
        }
        Assert.Equal(-1, layout.BarAt(s, layout.BarRow(2).X + 5, layout.BarRow(2).Bottom + 4 + layout.LineHeight)); // under the last bar
        Assert.Equal(-1, layout.BarAt(s, layout.Bars.Right + 5, layout.BarRow(0).Y + 5));
        Assert.Equal(-1, layout.BarAt(s, layout.BarRow(0).X + 5, layout.Bars.Y + 2)); // the title line
    }

    private static LiveState State(bool features, bool timing, bool teach, int tap, bool heat = false)
    {
        var s = new LiveState([])
        {
            ShowFeatures = features, ShowTiming = timing, Tap = tap, HaveFrame = true, FrameWidth = 640, FrameHeight = 480,
            IsClassifier = true, Labels = Labels, Notice = "no camera (camera 0 cannot be opened): showing the synthetic pattern",
            ShowHeat = heat,
        };
        if (teach)
        {
            s.TeachTiles = Labels.Select((l, i) => new TeachTile(i, $"{i + 1} {l}", "12")).ToArray();
            s.TeachLines =
            [
                "teach: 108 frame(s) in 9 class(es); recording into class 3 (5/s while held)",
                "training [40 %]: training epoch 12/30: loss 0.412, validation accuracy 93.1 %, and a status line longer than any box",
                "frame dropped (the disk is behind)",
                "W: press 1-9, the class this frame belongs to",
            ];
            s.TeachPredictionAt = 2;
            s.TeachProgress = 0.4f;
        }
        return s;
    }

    /// <summary>The panels that must not overlap (the camera picture is the background; help and tables are modal).</summary>
    private static List<(string Name, RectF Rect)> Panels(LiveLayout l, LiveState s)
    {
        var panels = new List<(string, RectF)> { ("bars", l.Bars), ("notice", l.Notice), ("status", l.Status), ("hint", l.Hint) };
        if (s.ShowFeatures) panels.Add(("featurePanel", l.FeaturePanel));
        if (s.ShowTiming) panels.Add(("timing", l.Timing));
        if (s.ShowHeat) panels.Add(("gradcam", l.HeatLegend));
        if (s.TeachLines is not null) panels.Add(("teachBox", l.TeachBox));
        foreach (var (index, rect) in l.Tiles) panels.Add(($"tile{index}", rect));
        return panels;
    }

    private static bool Inside(RectF inner, RectF outer) =>
        inner.X >= outer.X && inner.Y >= outer.Y && inner.Right <= outer.Right && inner.Bottom <= outer.Bottom;
}
