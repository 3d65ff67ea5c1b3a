// Overlay: the live window's text and boxes, as quads for the HUD shader: the bars, the feature panel's header, the
// status line, the timing strip, the Grad-CAM row, the notice banner, teach mode's status box (with the live prediction), the confusion
// table and the help. Where things go is LiveLayout's; numbers are formatted into a reused buffer, so drawing a frame
// allocates nothing.
using System.Diagnostics;
using CameraCnn.App.Live;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Optimization;

namespace CameraCnn.App.Window;

/// <summary>Adds the overlay's quads to a batch (the caller binds the HUD program and flushes).</summary>
internal sealed class Overlay
{
    private static readonly (string Key, string What)[] HelpLines =
    [
        ("F", "feature maps on / off"),
        ("[  ]", "previous / next layer (with G on: the Grad-CAM layer)"),
        ("+  -", "next / previous page of channels (also the mouse wheel)"),
        ("click", "zoom a channel over the picture (again, or right-click: stop)"),
        ("G", "Grad-CAM: where the network looks for the predicted class, as a heatmap over the picture"),
        ("click bar", "with G on: the heatmap of that class (click it again: the predicted class)"),
        ("Up  Down", "zoom opacity (with G on: the heatmap's)"),
        ("C", "colormap: viridis, inferno, gray"),
        ("N", "normalise per channel / over the whole layer"),
        ("T", "per-layer timing strip (Shift+T in teach mode)"),
        ("Space", "pause the camera"),
        ("M", "mirror the picture"),
        ("F11", "fullscreen (also Alt+Enter)"),
        ("H", "this help"),
        ("Esc", "quit"),
    ];

    /// <summary>The teach-mode keys (shown when the window runs a backbone with a teach session).</summary>
    private static readonly (string Key, string What)[] TeachHelpLines =
    [
        ("1 - 9", "hold: record frames into that class (a head trains when you let go)"),
        ("R", "rename the class under the pointer, else the current one (Enter keeps, Esc cancels)"),
        ("click tile", "select that class"),
        ("Backspace", "delete the last frame of the current class"),
        ("T", "train now, in the background: the head, or with --fine-tune N the last N blocks + head"),
        ("S", "save backbone (fine-tuned or not) + head as DATA/teach.onnx"),
        ("W, 1 - 9", "add this frame to that class (a wrong prediction)"),
        ("V", "validation confusion matrix of the last training"),
    ];

    private static readonly (string Key, string What)[] TeachAndPlainHelp = [.. TeachHelpLines, .. HelpLines];

    private static readonly (float R, float G, float B)[] KindColours =
        [(0.25f, 0.55f, 0.95f), (0.62f, 0.40f, 0.90f), (0.98f, 0.60f, 0.15f), (0.90f, 0.30f, 0.30f), (0.35f, 0.80f, 0.45f), (0.5f, 0.5f, 0.5f)];

    private readonly FontAtlas _font;
    private readonly QuadBatch _batch;
    private readonly LiveState _s;
    private readonly LiveLayout _l;
    private readonly IReadOnlyList<LayerTap> _taps;
    private readonly int[] _shownChannels;
    private readonly int[] _nodeColour;
    private readonly int[] _slowest = new int[3];
    private readonly TextLine _line = new(), _line2 = new();
    private readonly float _ui;

    public Overlay(FontAtlas font, QuadBatch batch, LiveState state, LiveLayout layout, IReadOnlyList<LayerTap> taps, int[] shownChannels)
    {
        _font = font;
        _batch = batch;
        _s = state;
        _l = layout;
        _taps = taps;
        _shownChannels = shownChannels;
        _ui = layout.Ui;
        _nodeColour = new int[state.Nodes.Count];
        for (int i = 0; i < _nodeColour.Length; i++)
            _nodeColour[i] = state.Nodes[i].Layer switch
            {
                Conv2d or FusedConv2d => 0,
                BatchNorm2d => 1,
                MaxPool2d or AvgPool2d or GlobalAvgPool => 2,
                Dense => 3,
                null or OutputAlias => 5,
                _ => 4,
            };
    }

    private float M => _l.M;
    private float Lh => _l.LineHeight;

    /// <summary>A panel's translucent background.</summary>
    public void Panel(RectF r)
    {
        if (!r.IsEmpty) _font.Rect(_batch, r.X, r.Y, r.Right, r.Bottom, 0.03f, 0.03f, 0.05f, 0.72f);
    }

    public void Box(float x0, float y0, float x1, float y1, float r, float g, float b, float a) => _font.Rect(_batch, x0, y0, x1, y1, r, g, b, a);

    public float Measure(ReadOnlySpan<char> text) => _font.Measure(text);

    public void Text(ReadOnlySpan<char> text, float x, float y, float r = 0.95f, float g = 0.95f, float b = 0.95f, float a = 1f, float right = float.MaxValue) =>
        _font.Draw(_batch, text, x, y, r, g, b, a, Math.Min(right, _l.Width));

    /// <summary>Everything except the panel backgrounds, the feature grid and the thumbnails, in drawing order.</summary>
    public void Draw(bool haveFeatures)
    {
        DrawBars();
        if (_s.ShowFeatures) DrawFeatureLabels(haveFeatures);
        DrawStatus();
        if (_s.ShowTiming) DrawTiming();
        if (_s.ShowHeat) DrawHeatLegend();
        DrawNotice();
        if (_s.TeachLines is { } teach) DrawTeach(teach);
    }

    /// <summary>The modal boxes over everything: the confusion table and the help.</summary>
    public void DrawModal()
    {
        if (_s.ShowConfusion && _s.ConfusionTable is { } confusion) DrawTable(confusion, 0.55f);
        if (_s.ShowHelp) DrawHelp();
    }

    private void DrawBars()
    {
        var p = _l.Bars;
        float x = p.X + 8 * _ui, y = p.Y + 6 * _ui, w = p.W - 16 * _ui;
        Text(_s.Title, x, y, 1f, 0.85f, 0.45f, right: p.Right - 4 * _ui);
        y += Lh + 4 * _ui;
        if (!_s.IsClassifier)
        {
            Text(_s.NoClassesText, x, y, 0.8f, 0.8f, 0.8f, right: p.Right - 4 * _ui);
            return;
        }
        if (!_s.HaveResult)
        {
            Text("waiting for the first inference...", x, y, 0.8f, 0.8f, 0.8f);
            return;
        }
        for (int k = 0; k < _s.TopCount; k++)
        {
            int cls = _s.Top[k];
            float prob = Math.Clamp(_s.Smoothed[cls], 0, 1);
            var bar = _l.BarRow(k);
            (x, y, w) = (bar.X, bar.Y, bar.W);
            Box(x, y, x + w, bar.Bottom, 1f, 1f, 1f, 0.10f);
            if (k == 0) Box(x, y, x + w * prob, bar.Bottom, 0.96f, 0.55f, 0.12f, 0.92f);
            else Box(x, y, x + w * prob, bar.Bottom, 0.22f, 0.52f, 0.95f, 0.85f);
            if (_s.ShowHeat && cls == _s.HeatClass) Outline(bar); // the class the heatmap explains, chosen by a click
            var pct = _line.Clear().Append(prob * 100, "F1").Append("%").Span;
            float pctX = x + w - 5 * _ui - Measure(pct);
            Text(cls < _s.Labels.Count ? _s.Labels[cls] : "?", x + 5 * _ui, y + 1 * _ui, right: pctX - 6 * _ui);
            Text(pct, pctX, y + 1 * _ui);
        }
    }

    /// <summary>A white frame just outside a rectangle.</summary>
    private void Outline(RectF r)
    {
        float b = Math.Max(1, _ui);
        Box(r.X - b, r.Y - b, r.Right + b, r.Y, 1, 1, 1, 1);
        Box(r.X - b, r.Bottom, r.Right + b, r.Bottom + b, 1, 1, 1, 1);
        Box(r.X - b, r.Y, r.X, r.Bottom, 1, 1, 1, 1);
        Box(r.Right, r.Y, r.Right + b, r.Bottom, 1, 1, 1, 1);
    }

    private void DrawFeatureLabels(bool haveData)
    {
        var p = _l.FeaturePanel;
        float x = p.X + 8 * _ui, y = p.Y + 5 * _ui;
        if (_s.Tap < 0 || _s.Tap >= _taps.Count)
        {
            Text("this model has no layer with [C, H, W] feature maps", x, y);
            return;
        }
        var tap = _taps[_s.Tap];
        var l = _line.Clear().Append("layer ").Append(_s.Tap + 1).Append("/").Append(_taps.Count).Append("  ").Append(tap.Label);
        Text(l.Span, x, y, 1f, 0.85f, 0.45f, right: p.Right - 4 * _ui);
        y += Lh + 2 * _ui;
        int channels = _shownChannels[_s.Tap], pages = (channels + LiveLayout.PageSize - 1) / LiveLayout.PageSize;
        int start = _l.PageStart, count = _l.PageCount;
        var l2 = _line2.Clear().Append("ch ").Append(start + 1).Append("-").Append(start + count)
            .Append(" of ").Append(tap.C).Append("  page ").Append(Math.Clamp(_s.Page, 0, pages - 1) + 1).Append("/").Append(pages)
            .Append("  ").Append(LiveState.ColormapNames[_s.Colormap]).Append(_s.GlobalNorm ? "  global" : "  per channel");
        if (_s.ZoomChannel >= 0) l2.Append("  zoom ch ").Append(_s.ZoomChannel + 1).Append(" ").Append(_s.ZoomOpacity * 100, "F0").Append("%");
        Text(l2.Span, x, y, 0.85f, 0.85f, 0.85f, right: p.Right - 4 * _ui);
        if (!haveData) Text("computing...", _l.GridArea.X + 4 * _ui, _l.GridArea.Y + 4 * _ui, 0.8f, 0.8f, 0.8f);
        else if (_s.ZoomChannel >= start && _s.ZoomChannel < start + count) Outline(_l.Tile(_s.ZoomChannel - start));
    }

    private void DrawStatus()
    {
        var l = _line.Clear()
            .Append("render ").Append(_s.RenderFps, "F0").Append(" fps   capture ").Append(_s.CaptureFps, "F1")
            .Append(" fps   inference ").Append(_s.InferenceFps, "F1").Append(" fps (").Append(_s.ForwardMs, "F1")
            .Append(" ms)   latency ").Append(_s.LatencyMs, "F0").Append(" ms");
        if (_s.Paused) l.Append("   PAUSED");
        if (_s.Mirror) l.Append("   mirrored");
        var row = _l.Status;
        float y = row.Y + 3 * _ui, w = Math.Min(Measure(l.Span) + 12 * _ui, row.W);
        Box(row.X, row.Y, row.X + w, row.Bottom, 0.03f, 0.03f, 0.05f, 0.72f);
        Text(l.Span, row.X + 6 * _ui, y, right: row.X + w);
        var hint = _l.Hint;
        Box(hint.X, hint.Y, hint.Right, hint.Bottom, 0.03f, 0.03f, 0.05f, 0.72f);
        Text(LiveLayout.HelpHint, hint.X + 6 * _ui, y, 0.8f, 0.8f, 0.8f);
        if (!_s.HaveFrame)
        {
            var wait = _line.Clear().Append("waiting for ").Append(_s.SourceName).Append("...").Span;
            Text(wait, (_l.Width - Measure(wait)) / 2, _l.Height / 2f);
        }
    }

    /// <summary>
    /// The Grad-CAM row: its background as wide as its text, the colour scale (drawn by the renderer into
    /// <see cref="LiveLayout.HeatScale"/>), then "class (predicted | clicked)  layer i/n NAME CxHxW  t ms = p % of the forward
    /// opacity", or why there is no map.
    /// </summary>
    private void DrawHeatLegend()
    {
        var row = _l.HeatLegend;
        var h = _s.Heat;
        var l = _line.Clear();
        float r = 0.95f, g = 0.95f, b = 0.95f;
        if (h.State == HeatmapState.Message && h.Message is { } message)
        {
            l.Append(message);
            (r, g, b) = (1f, 0.6f, 0.35f);
        }
        else if (!h.HasMap) l.Append("Grad-CAM: computing...");
        else
        {
            l.Append("Grad-CAM  ").Append(h.Output < _s.Labels.Count ? _s.Labels[h.Output] : "?").Append(h.Pinned ? " (clicked)" : " (predicted)");
            if (h.Empty) l.Append(": no evidence in this layer");
            l.Append("   layer ").Append(h.LayerIndex + 1).Append("/").Append(h.LayerCount).Append(" ").Append(h.Layer?.Name ?? "?")
                .Append(" ").Append(h.Channels).Append("x").Append(h.Height).Append("x").Append(h.Width)
                .Append("   ").Append(h.Ms, "F2").Append(" ms");
            if (double.IsFinite(h.Share)) l.Append(" = ").Append(h.Share * 100, "F1").Append(" % of the forward");
            l.Append("   opacity ").Append(_s.HeatOpacity * 100, "F0").Append(" %");
        }
        float x = _l.HeatScale.Right + 8 * _ui, w = Math.Min(x - row.X + Measure(l.Span) + 8 * _ui, row.W);
        Box(row.X, row.Y, row.X + w, row.Bottom, 0.03f, 0.03f, 0.05f, 0.72f);
        Text(l.Span, x, row.Y + 3 * _ui, r, g, b, right: row.X + w);
    }

    private void DrawTiming()
    {
        var t = _l.Timing;
        float ty = t.Y + 3 * _ui, y0 = ty + Lh + 4 * _ui, y1 = y0 + _l.TimingStripH;
        Panel(t);
        if (!_s.HaveTiming)
        {
            Text("timing the layers...", t.X + 6 * _ui, ty);
            return;
        }
        double total = 0;
        for (int i = 0; i < _s.NodeMs.Length; i++) total += _s.NodeMs[i];
        if (total <= 0) return;
        float x = t.X + 2 * _ui, w = t.W - 4 * _ui;
        for (int i = 0; i < _s.NodeMs.Length; i++)
        {
            float seg = (float)(_s.NodeMs[i] / total * w);
            if (seg <= 0) continue;
            var (r, g, b) = KindColours[_nodeColour[i]];
            float shade = i % 2 == 0 ? 1f : 0.75f;
            Box(x, y0, x + seg, y1, r * shade, g * shade, b * shade, 0.95f);
            x += seg;
        }
        // The three slowest layers by name.
        Array.Fill(_slowest, -1);
        for (int i = 0; i < _s.NodeMs.Length; i++)
        {
            if (_s.NodeMs[i] <= 0) continue;
            for (int k = 0; k < _slowest.Length; k++)
                if (_slowest[k] < 0 || _s.NodeMs[i] > _s.NodeMs[_slowest[k]])
                {
                    for (int j = _slowest.Length - 1; j > k; j--) _slowest[j] = _slowest[j - 1];
                    _slowest[k] = i;
                    break;
                }
        }
        var l = _line.Clear().Append("layers: ").Append(total, "F1").Append(" ms per forward; slowest ");
        for (int k = 0; k < _slowest.Length && _slowest[k] >= 0; k++)
        {
            if (k > 0) l.Append(", ");
            l.Append(_s.Nodes[_slowest[k]].Name).Append(" ").Append(_s.NodeMs[_slowest[k]], "F2").Append(" ms");
        }
        l.Append("   (blue conv, purple norm, orange pool, red dense)");
        Text(l.Span, t.X + 6 * _ui, ty, right: t.Right - 4 * _ui);
    }

    private void DrawNotice()
    {
        ReadOnlySpan<char> text = default;
        float r = 1f, g = 0.8f, b = 0.3f;
        if (_s.WorkerFailure is { } failure)
        {
            text = failure;
            (r, g, b) = (1f, 0.4f, 0.35f);
        }
        else if (_s.FeedState is FeedState.Reconnecting or FeedState.Stopped)
        {
            text = _s.FeedStatus;
            if (_s.FeedState == FeedState.Stopped) (r, g, b) = (1f, 0.4f, 0.35f);
        }
        else if (_s.Notice is { } notice && Stopwatch.GetTimestamp() < _s.NoticeUntil) text = notice;
        else if (_s.Paused) text = "paused (Space to resume)";
        if (text.IsEmpty) return;
        // Right of the bars when it fits (over the picture's top), else from the left; never past its row.
        var row = _l.Notice;
        float pad = 8 * _ui, w = Measure(text);
        float x = MathF.Round(Math.Max((_l.Width - w) / 2, _l.Bars.Right + M));
        if (x + w + pad > row.Right) x = row.X + pad;
        float right = Math.Min(x + w + pad, row.Right);
        Box(x - pad, row.Y, right, row.Bottom, 0.15f, 0.08f, 0.02f, 0.85f);
        Text(text, x, row.Y + 4 * _ui, r, g, b, right: right - 2 * _ui);
    }

    /// <summary>Teach mode's counters, trainer status, live prediction and messages, in the box under the bars.</summary>
    private void DrawTeach(string[] lines)
    {
        var box = _l.TeachBox;
        int shown = _l.TeachLinesShown;
        if (box.IsEmpty || shown == 0) return;
        float step = Lh + 2 * _ui, x = box.X + 8 * _ui, y = box.Y + 4 * _ui, w = 0;
        for (int i = 0; i < shown; i++) w = Math.Max(w, Measure(TeachLine(lines, i)));
        w = Math.Min(w, box.W - 16 * _ui);
        float bar = _s.TeachProgress >= 0 ? 8 * _ui : 0, bottom = y + shown * step + 2 * _ui;
        Box(box.X, box.Y, x + w + 8 * _ui, bottom + bar, 0.03f, 0.03f, 0.05f, 0.8f);
        for (int i = 0; i < shown; i++)
            Text(TeachLine(lines, i), x, y + i * step, i == 0 ? 1f : 0.9f, i == 0 ? 0.85f : 0.9f, i == 0 ? 0.45f : 0.9f, right: x + w);
        if (bar > 0) // the trainer's progress bar along the bottom of the box
        {
            float p = Math.Clamp(_s.TeachProgress, 0, 1);
            Box(x, bottom, x + w, bottom + 4 * _ui, 1, 1, 1, 0.15f);
            Box(x, bottom, x + w * p, bottom + 4 * _ui, 0.35f, 0.8f, 0.45f, 0.95f);
        }
    }

    /// <summary>Line <paramref name="i"/> of the teach box: a stored line, or the live prediction (formatted in place).</summary>
    private ReadOnlySpan<char> TeachLine(string[] lines, int i)
    {
        int at = _s.TeachPredictionAt;
        if (at < 0 || i < at) return lines[i];
        if (i > at) return lines[i - 1];
        var p = _s.Prediction;
        var l = _line2.Clear().Append("prediction: ");
        if (p.Output < 0) return l.Append("waiting...").Span;
        if (p.IsUnknown)
            return l.Append(Prediction.UnknownLabel).Append(" (").Append(p.Confidence * 100, "F0").Append("% < ")
                .Append(_s.Threshold * 100, "F0").Append("%)").Span;
        return l.Append(p.Label).Append(" (").Append(p.Confidence * 100, "F0").Append("%)").Span;
    }

    /// <summary>
    /// A centred box with a title row and a table under it (the confusion matrix), <paramref name="at"/> of the way
    /// down: the first column left-aligned, the others right-aligned on measured widths (the font is proportional).
    /// </summary>
    private void DrawTable(string[][] rows, float at)
    {
        float step = Lh + 2 * _ui, gap = 14 * _ui;
        int columns = rows.Skip(1).Select(r => r.Length).DefaultIfEmpty(0).Max();
        var widths = new float[columns];
        foreach (var row in rows.Skip(1))
            for (int c = 0; c < row.Length; c++) widths[c] = Math.Max(widths[c], Measure(row[c]));
        float tableW = widths.Sum() + gap * Math.Max(0, columns - 1);
        float w = Math.Max(tableW, rows.Length > 0 && rows[0].Length > 0 ? Measure(rows[0][0]) : 0);
        float h = rows.Length * step;
        float x = MathF.Round(Math.Max(M, (_l.Width - w) / 2)), y = MathF.Round(Math.Max(M, (_l.Height - h) * at));
        Box(x - 12 * _ui, y - 8 * _ui, x + w + 12 * _ui, y + h + 6 * _ui, 0.02f, 0.02f, 0.04f, 0.9f);
        for (int i = 0; i < rows.Length; i++)
        {
            var row = rows[i];
            if (i == 0)
            {
                if (row.Length > 0) Text(row[0], x, y, 1f, 0.85f, 0.45f);
                continue;
            }
            float cx = x;
            for (int c = 0; c < row.Length; c++)
            {
                float tx = c == 0 ? cx : cx + widths[c] - Measure(row[c]);
                bool diagonal = i >= 2 && c == i - 1; // correct predictions
                Text(row[c], tx, y + i * step, diagonal ? 0.5f : 0.95f, 0.95f, diagonal ? 0.55f : 0.95f);
                cx += widths[c] + gap;
            }
        }
    }

    private void DrawHelp()
    {
        var helpLines = _s.TeachLines is null ? HelpLines : TeachAndPlainHelp;
        float keyW = 0, whatW = 0;
        foreach (var (key, what) in helpLines)
        {
            keyW = Math.Max(keyW, Measure(key));
            whatW = Math.Max(whatW, Measure(what));
        }
        keyW += 16 * _ui;
        float w = keyW + whatW, step = Lh + 2 * _ui;
        float h = (helpLines.Length + 1) * step + 16 * _ui;
        float x = MathF.Round((_l.Width - w) / 2), y = MathF.Round((_l.Height - h) / 2);
        Box(x - 16 * _ui, y - 8 * _ui, x + w + 16 * _ui, y + h, 0.02f, 0.02f, 0.04f, 0.9f);
        Text("Keys", x, y, 1f, 0.85f, 0.45f);
        y += step;
        foreach (var (key, what) in helpLines)
        {
            Text(key, x, y, 1f, 0.85f, 0.45f);
            Text(what, x + keyW, y);
            y += step;
        }
    }
}
