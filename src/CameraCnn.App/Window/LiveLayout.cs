// LiveLayout: where everything in the live window goes, as plain arithmetic over rectangles (no GL, so tests check it
// without a display): the camera picture (letterboxed), the bars at the top left, under them a notice row and teach
// mode's status box, its class tiles along the bottom left, the feature panel and its grid on the right, the Grad-CAM
// legend, the timing strip and the status line along the bottom. Panels never overlap one another (the camera picture
// is the background, the heatmap and a zoomed channel lie on it; help and the confusion table are modal boxes drawn
// over everything).
using System.Runtime.InteropServices;
using CameraCnn.App.Live;
using CameraCnn.Engine.Models;
using CameraCnn.Vision;

namespace CameraCnn.App.Window;

/// <summary>An axis-aligned rectangle in framebuffer pixels.</summary>
internal readonly record struct RectF(float X, float Y, float W, float H)
{
    public float Right => X + W;
    public float Bottom => Y + H;
    public bool Contains(float x, float y) => x >= X && x < Right && y >= Y && y < Bottom;
    public bool IsEmpty => W <= 0 || H <= 0;
    /// <summary>The two rectangles share area (touching edges do not count).</summary>
    public bool Overlaps(RectF o) => !IsEmpty && !o.IsEmpty && X < o.Right && o.X < Right && Y < o.Bottom && o.Y < Bottom;
}

/// <summary>A quad over the picture showing the part U0..U1 x V0..V1 (fractions) of a map.</summary>
internal readonly record struct HeatQuad(RectF Rect, float U0, float V0, float U1, float V1);

/// <summary>The live window's layout for one framebuffer size and view state. Render thread only; allocation-free per frame.</summary>
internal sealed class LiveLayout
{
    /// <summary>Channels per page of the grid (pages step with + / - or the wheel).</summary>
    public const int PageSize = 64;
    public const string HelpHint = "H: help";

    private readonly float _ui;
    private readonly FontMetrics _font;
    private readonly IReadOnlyList<LayerTap> _taps;
    private readonly int[] _shownChannels;
    private readonly List<(int Index, RectF Rect)> _tiles = [];
    private float _tileW, _tileH, _gap, _gridX, _gridY;
    private int _cols;

    /// <param name="uiScale">pixels per UI unit (2 on HiDPI screens).</param>
    /// <param name="shownChannels">per tap, how many channels the feature atlas holds (all, unless the GPU limits it).</param>
    public LiveLayout(float uiScale, FontMetrics font, IReadOnlyList<LayerTap> taps, int[] shownChannels)
    {
        _ui = uiScale;
        _font = font;
        _taps = taps;
        _shownChannels = shownChannels;
    }

    /// <summary>The margin around and between panels.</summary>
    public float M => 10 * _ui;
    public float Ui => _ui;
    public float LineHeight => _font.LineHeight;
    /// <summary>Height of a bar (and of the timing strip's segments).</summary>
    public float TimingStripH => 14 * _ui;
    /// <summary>Teach mode's class tiles: a thumbnail box over a caption.</summary>
    public float TileW => 120 * _ui;
    public float ThumbBoxH => 72 * _ui;

    public int Width { get; private set; }
    public int Height { get; private set; }
    public RectF Camera { get; private set; }
    public RectF Bars { get; private set; }
    /// <summary>The row under the bars for a notice (no camera, reconnecting, paused...).</summary>
    public RectF Notice { get; private set; }
    /// <summary>Teach mode's status box (counts, trainer, prediction, messages): the most it may take; its text sets its width.</summary>
    public RectF TeachBox { get; private set; }
    /// <summary>How many teach lines fit into <see cref="TeachBox"/>.</summary>
    public int TeachLinesShown { get; private set; }
    public RectF FeaturePanel { get; private set; }
    /// <summary>The part of the feature panel under its two header lines, where the grid is centred.</summary>
    public RectF GridArea { get; private set; }
    /// <summary>The per-layer timing strip with its caption (empty when hidden).</summary>
    public RectF Timing { get; private set; }
    /// <summary>The Grad-CAM row (colour scale, class, layer, time, or why there is no map): the most it may take; empty without G.</summary>
    public RectF HeatLegend { get; private set; }
    /// <summary>The colour scale at the left of <see cref="HeatLegend"/>.</summary>
    public RectF HeatScale => HeatLegend.IsEmpty ? default : new(HeatLegend.X + 6 * _ui, HeatLegend.Y + 4 * _ui, 60 * _ui, HeatLegend.H - 8 * _ui);
    /// <summary>The status line (frame rates, latency): the most it may take, left of the help hint.</summary>
    public RectF Status { get; private set; }
    public RectF Hint { get; private set; }
    /// <summary>Teach mode's class tiles that fit, left to right (a span: walking it allocates nothing).</summary>
    public ReadOnlySpan<(int Index, RectF Rect)> Tiles => CollectionsMarshal.AsSpan(_tiles);
    public int PageStart { get; private set; }
    public int PageCount { get; private set; }
    public int Columns => _cols;

    /// <summary>Lays the window out for a framebuffer of <paramref name="width"/> x <paramref name="height"/> and the state <paramref name="s"/>.</summary>
    public void Update(int width, int height, LiveState s)
    {
        Width = width;
        Height = height;
        float fw = width, fh = height, m = M, lh = LineHeight, ui = _ui;
        // The picture keeps its aspect ratio, centred (letterbox or pillarbox).
        if (s.HaveFrame && s.FrameWidth > 0)
        {
            float scale = Math.Min(fw / s.FrameWidth, fh / s.FrameHeight);
            float w = s.FrameWidth * scale, h = s.FrameHeight * scale;
            Camera = new RectF(MathF.Round((fw - w) / 2), MathF.Round((fh - h) / 2), MathF.Round(w), MathF.Round(h));
        }
        else Camera = new RectF(0, 0, fw, fh);

        // The bottom row: the status line at the left, the help hint at the right; the timing strip above them.
        float rowY = fh - m - lh - 5 * ui, rowH = lh + 4 * ui, hintW = _font.Measure(HelpHint) + 12 * ui;
        Hint = new RectF(fw - m - hintW, rowY, hintW, rowH);
        Status = new RectF(m, rowY, Math.Max(0, Hint.X - 2 * m), rowH);
        float timingH = lh + 23 * ui;
        Timing = s.ShowTiming ? new RectF(m, rowY - 3 * ui - timingH, fw - 2 * m, timingH) : default;
        float bottom = (s.ShowTiming ? Timing.Y : rowY) - 3 * ui; // the panels above end here
        HeatLegend = s.ShowHeat ? new RectF(m, bottom - rowH, fw - 2 * m, rowH) : default;
        if (s.ShowHeat) bottom = HeatLegend.Y - 3 * ui;

        float barsW = Math.Min(420 * ui, fw * 0.45f);
        int rows = s.IsClassifier ? Math.Max(1, Math.Min(LiveState.TopK, s.Labels.Count)) : 1;
        Bars = new RectF(m, m, barsW, 6 * ui + lh + rows * (lh + 6 * ui) + 4 * ui);

        // Right: the feature panel. Left of it (or across, without it): notice, teach box, tiles.
        float px = MathF.Round(Math.Max(fw * 0.5f, Bars.Right + m));
        FeaturePanel = s.ShowFeatures ? new RectF(px, m, fw - m - px, Math.Max(0, bottom - m)) : default;
        var p = FeaturePanel;
        float header = 2 * lh + 10 * ui;
        GridArea = s.ShowFeatures ? new RectF(p.X + 6 * ui, p.Y + header, p.W - 12 * ui, p.H - header - 6 * ui) : default;
        float leftRight = s.ShowFeatures ? px - m : fw - m;

        Notice = new RectF(m, Bars.Bottom + m - 4 * ui, leftRight - m, lh + 6 * ui);
        LayoutTiles(leftRight, Notice.Bottom + 4 * ui, bottom, s.TeachTiles);
        float teachTop = Notice.Bottom + 8 * ui, teachBottom = (_tiles.Count > 0 ? _tiles[0].Rect.Y : bottom) - 4 * ui;
        int lines = s.TeachLineCount;
        float step = lh + 2 * ui, pad = 4 * ui + 2 * ui + (s.TeachProgress >= 0 ? 8 * ui : 0);
        TeachLinesShown = lines == 0 ? 0 : Math.Clamp((int)((teachBottom - teachTop - pad) / step), 0, lines);
        TeachBox = TeachLinesShown > 0 ? new RectF(m, teachTop, leftRight - m, TeachLinesShown * step + pad) : default;
        LayoutGrid(s);
    }

    /// <summary>One tile per class along the bottom left (a narrow window shows the first few, a low one none).</summary>
    private void LayoutTiles(float right, float top, float bottom, TeachTile[] tiles)
    {
        _tiles.Clear();
        float w = TileW, h = ThumbBoxH + LineHeight + 8 * _ui, gap = 6 * _ui, x = M;
        if (tiles.Length == 0 || bottom - h < top) return;
        foreach (var t in tiles)
        {
            if (x + w > right) break;
            _tiles.Add((t.Index, new RectF(x, bottom - h, w, h)));
            x += w + gap;
        }
    }

    /// <summary>The page of channels shown and the tile size that fills the grid area best, keeping each map's aspect.</summary>
    private void LayoutGrid(LiveState s)
    {
        PageCount = 0;
        if (!s.ShowFeatures || s.Tap < 0 || s.Tap >= _taps.Count || GridArea.IsEmpty) return;
        var tap = _taps[s.Tap];
        int channels = _shownChannels[s.Tap];
        int pages = (channels + PageSize - 1) / PageSize;
        int page = Math.Clamp(s.Page, 0, pages - 1);
        PageStart = page * PageSize;
        PageCount = Math.Min(PageSize, channels - PageStart);
        _gap = Math.Max(1, MathF.Round(2 * _ui));
        float aspect = (float)tap.W / tap.H, best = 0;
        for (int cols = 1; cols <= PageCount; cols++)
        {
            int r = (PageCount + cols - 1) / cols;
            float tw = Math.Min((GridArea.W - _gap * (cols - 1)) / cols, (GridArea.H - _gap * (r - 1)) / r * aspect);
            if (tw > best)
            {
                best = tw;
                _cols = cols;
            }
        }
        _tileW = MathF.Floor(best);
        _tileH = MathF.Floor(best / aspect);
        int gridRows = (PageCount + _cols - 1) / _cols;
        float gw = _cols * _tileW + (_cols - 1) * _gap;
        _gridX = MathF.Round(GridArea.X + (GridArea.W - gw) / 2);
        _gridY = MathF.Round(GridArea.Y);
        Grid = new RectF(_gridX, _gridY, gw, gridRows * _tileH + (gridRows - 1) * _gap);
    }

    /// <summary>The channels drawn (valid while <see cref="PageCount"/> &gt; 0).</summary>
    public RectF Grid { get; private set; }

    /// <summary>The <paramref name="i"/>-th channel of the page in the grid.</summary>
    public RectF Tile(int i) => new(_gridX + i % _cols * (_tileW + _gap), _gridY + i / _cols * (_tileH + _gap), _tileW, _tileH);

    /// <summary>The channel under a framebuffer position in the grid, or -1.</summary>
    public int ChannelAt(float x, float y)
    {
        for (int i = 0; i < PageCount; i++)
            if (Tile(i).Contains(x, y)) return PageStart + i;
        return -1;
    }

    /// <summary>The class whose tile is under a framebuffer position, or -1.</summary>
    public int ClassAt(float x, float y)
    {
        foreach (var (index, r) in _tiles)
            if (r.Contains(x, y)) return index;
        return -1;
    }

    /// <summary>The bar of the <paramref name="k"/>-th ranked class (0: the top one) in the bars panel.</summary>
    public RectF BarRow(int k)
    {
        float lh = LineHeight;
        return new RectF(Bars.X + 8 * _ui, Bars.Y + 10 * _ui + lh + k * (lh + 6 * _ui), Bars.W - 16 * _ui, lh + 2 * _ui);
    }

    /// <summary>The rank of the bar under a framebuffer position (the whole row, gaps included), or -1.</summary>
    public int BarAt(LiveState s, float x, float y)
    {
        if (!s.IsClassifier || !s.HaveResult) return -1;
        for (int k = 0; k < s.TopCount; k++)
        {
            var r = BarRow(k);
            if (x >= Bars.X && x < Bars.Right && y >= r.Y - 3 * _ui && y < r.Bottom + 3 * _ui) return k;
        }
        return -1;
    }

    /// <summary>Where on screen the network's input lies (the zoomed channel is drawn there): the whole picture when
    /// stretched, its centre window when cropped, the picture plus the padding when letterboxed.</summary>
    public RectF ZoomRect(LiveState s, Preprocessing pre)
    {
        int fw = Math.Max(1, s.FrameWidth), fh = Math.Max(1, s.FrameHeight);
        var (x, y, w, h) = HeatmapOverlay.InputRegion(FramePreprocessor.ComputeGeometry(pre.Resize, fw, fh, pre.Width, pre.Height), pre.Width, pre.Height);
        return OnScreen((float)x, (float)y, (float)w, (float)h, fw, fh, s.Mirror);
    }

    /// <summary>
    /// Where the Grad-CAM map of <see cref="LiveState.Heat"/> is drawn: the region of the frame the network saw, cut to
    /// the picture (a letterbox's padding is not drawn over), with the part of the map it shows as fractions U0..U1 (left
    /// to right on screen; reversed when mirrored) and V0..V1 (top to bottom). An empty rectangle without a map.
    /// </summary>
    public HeatQuad HeatmapQuad(LiveState s)
    {
        var h = s.Heat;
        if (!h.HasMap || h.FrameWidth <= 0 || h.FrameHeight <= 0 || h.RegionWidth <= 0 || h.RegionHeight <= 0 || !s.HaveFrame) return default;
        var c = Camera;
        var r = OnScreen(h.RegionX, h.RegionY, h.RegionWidth, h.RegionHeight, h.FrameWidth, h.FrameHeight, s.Mirror);
        float x0 = Math.Max(r.X, c.X), x1 = Math.Min(r.Right, c.Right), y0 = Math.Max(r.Y, c.Y), y1 = Math.Min(r.Bottom, c.Bottom);
        if (x1 <= x0 || y1 <= y0) return default;
        float u0 = (x0 - r.X) / r.W, u1 = (x1 - r.X) / r.W, v0 = (y0 - r.Y) / r.H, v1 = (y1 - r.Y) / r.H;
        if (s.Mirror) (u0, u1) = (1 - u0, 1 - u1);
        return new HeatQuad(new RectF(x0, y0, x1 - x0, y1 - y0), u0, v0, u1, v1);
    }

    /// <summary>A rectangle in frame pixels of a <paramref name="fw"/> x <paramref name="fh"/> frame, on screen over the picture.</summary>
    private RectF OnScreen(float x, float y, float w, float h, int fw, int fh, bool mirror)
    {
        var c = Camera;
        if (mirror) x = fw - x - w;
        float kx = c.W / fw, ky = c.H / fh;
        return new RectF(c.X + x * kx, c.Y + y * ky, w * kx, h * ky);
    }

    /// <summary>The layout as plain numbers (for --stats-json, so tests can find things in the screenshot).</summary>
    public Dictionary<string, int[]?> ForStats(LiveState s)
    {
        static int[] R(RectF r) => [(int)r.X, (int)r.Y, (int)r.W, (int)r.H];
        bool grid = s.ShowFeatures && PageCount > 0;
        return new()
        {
            ["framebuffer"] = [Width, Height],
            ["camera"] = R(Camera),
            ["bars"] = R(Bars),
            ["featurePanel"] = s.ShowFeatures ? R(FeaturePanel) : null,
            ["featureGrid"] = grid ? R(Grid) : null,
            ["firstTile"] = grid ? R(Tile(0)) : null,
            ["teachTiles"] = _tiles.Count > 0 ? _tiles.SelectMany(t => R(t.Rect)).ToArray() : null,
            ["teachBox"] = TeachBox.IsEmpty ? null : R(TeachBox),
            ["timing"] = Timing.IsEmpty ? null : R(Timing),
            ["gradcam"] = HeatLegend.IsEmpty ? null : R(HeatLegend),
            ["heatmap"] = HeatmapQuad(s).Rect is { IsEmpty: false } heat ? R(heat) : null,
            ["barRows"] = s.IsClassifier && s.HaveResult && s.TopCount > 0 ? Enumerable.Range(0, s.TopCount).SelectMany(k => R(BarRow(k))).ToArray() : null,
        };
    }
}
