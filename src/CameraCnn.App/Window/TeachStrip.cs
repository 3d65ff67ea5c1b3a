// TeachStrip: teach mode's class tiles along the bottom left of the live window: each class's newest frame as a
// thumbnail (one BGR atlas texture, a slot per class, re-read only when the recorder's thumbnails change), its frame
// count as a badge, its caption (or the name being typed), and a border on the current, held or renamed class.
using OpenCvSharp;
using Silk.NET.OpenGL;

namespace CameraCnn.App.Window;

/// <summary>Draws the tiles <see cref="LiveLayout.Tiles"/> places. Render thread only.</summary>
internal sealed unsafe class TeachStrip : IDisposable
{
    public const int ThumbSlotW = 96, ThumbSlotH = 128, ThumbSlots = 9;

    private readonly GL _gl;
    private readonly LiveState _s;
    private readonly LiveLayout _l;
    private readonly Overlay _overlay;
    private readonly (int W, int H)[] _thumbSize = new (int, int)[ThumbSlots];
    private readonly TextLine _line = new();
    private Texture? _thumbs;
    private Mat? _scratch;
    private int _thumbVersion = -1;

    public TeachStrip(GL gl, LiveState state, LiveLayout layout, Overlay overlay)
    {
        _gl = gl;
        _s = state;
        _l = layout;
        _overlay = overlay;
    }

    /// <summary>Re-reads the recorder's thumbnails into the atlas when they changed (a copy per change only).</summary>
    public void UpdateThumbnails(Vision.Teach.TeachRecorder recorder)
    {
        int version = recorder.ThumbnailVersion;
        if (version == _thumbVersion) return;
        _thumbVersion = version;
        _thumbs ??= new Texture(_gl, ThumbSlotW * ThumbSlots, ThumbSlotH, InternalFormat.Rgb8, PixelFormat.Bgr, PixelType.UnsignedByte, linear: true);
        _scratch ??= new Mat();
        for (int i = 0; i < ThumbSlots; i++)
        {
            _thumbSize[i] = default;
            if (!recorder.TryCopyThumbnail(i, _scratch) || _scratch.Type() != MatType.CV_8UC3) continue;
            int w = Math.Min(ThumbSlotW, _scratch.Cols), h = Math.Min(ThumbSlotH, _scratch.Rows);
            using var packed = new Mat();
            _scratch[new Rect(0, 0, w, h)].CopyTo(packed); // tightly packed rows
            _thumbs.Update(i * ThumbSlotW, 0, w, h, (void*)packed.Data);
            _thumbSize[i] = (w, h);
        }
    }

    /// <summary>The tiles' backgrounds (with the other panels, before the thumbnails).</summary>
    public void DrawPanels()
    {
        foreach (var (_, r) in _l.Tiles) _overlay.Panel(r);
    }

    /// <summary>The thumbnails, with the camera program in use (the caller binds it and flushes).</summary>
    public void DrawThumbnails(QuadBatch batch)
    {
        if (_thumbs is null || _l.Tiles.IsEmpty) return;
        _thumbs.Bind(0);
        float ui = _l.Ui;
        foreach (var (index, r) in _l.Tiles)
        {
            if (index >= ThumbSlots || _thumbSize[index] is not { W: > 0, H: > 0 } size) continue;
            // Fit the thumbnail into the box at the top of the tile, keeping its aspect.
            float boxW = r.W - 6 * ui, boxH = _l.ThumbBoxH - 3 * ui;
            float k = Math.Min(boxW / size.W, boxH / size.H), w = size.W * k, h = size.H * k;
            float x = r.X + (r.W - w) / 2, y = r.Y + 3 * ui + (boxH - h) / 2;
            float u0 = (float)index * ThumbSlotW / _thumbs.Width, u1 = u0 + (float)size.W / _thumbs.Width, v1 = (float)size.H / _thumbs.Height;
            if (_s.Mirror) (u0, u1) = (u1, u0);
            batch.Add(x, y, x + w, y + h, u0, 0, u1, v1, 1, 1, 1, 1);
        }
    }

    /// <summary>Borders, count badges and captions, with the HUD program in use.</summary>
    public void DrawCaptions()
    {
        var tiles = _s.TeachTiles;
        float ui = _l.Ui, lh = _l.LineHeight;
        foreach (var (index, r) in _l.Tiles)
        {
            string caption = "", count = "";
            foreach (var t in tiles)
                if (t.Index == index) (caption, count) = (t.Caption, t.Count);
            bool current = index == _s.TeachCurrent, held = index == _s.TeachHeld, renaming = index == _s.TeachRenaming;
            float b = Math.Max(1, MathF.Round(2 * ui));
            if (current || held || renaming)
            {
                var (cr, cg, cb) = held ? (0.95f, 0.25f, 0.2f) : renaming ? (0.3f, 0.8f, 1f) : (0.96f, 0.55f, 0.12f);
                _overlay.Box(r.X, r.Y, r.Right, r.Y + b, cr, cg, cb, 1);
                _overlay.Box(r.X, r.Bottom - b, r.Right, r.Bottom, cr, cg, cb, 1);
                _overlay.Box(r.X, r.Y, r.X + b, r.Bottom, cr, cg, cb, 1);
                _overlay.Box(r.Right - b, r.Y, r.Right, r.Bottom, cr, cg, cb, 1);
            }
            // The frame count as a badge in the thumbnail's lower right corner.
            float cw = _overlay.Measure(count), bx = r.Right - cw - 10 * ui, by = r.Y + _l.ThumbBoxH - lh - 2 * ui;
            _overlay.Box(bx - 3 * ui, by - 1 * ui, r.Right - 4 * ui, by + lh, 0.03f, 0.03f, 0.05f, 0.8f);
            _overlay.Text(count, bx, by - 1 * ui);
            float ty = r.Y + _l.ThumbBoxH + 2 * ui;
            if (renaming)
            {
                var l = _line.Clear().Append(_s.RenameText).Append("_");
                _overlay.Text(l.Span, r.X + 4 * ui, ty, 0.5f, 0.9f, 1f, right: r.Right - 2 * ui);
            }
            else _overlay.Text(caption, r.X + 4 * ui, ty, right: r.Right - 2 * ui);
        }
    }

    public void Dispose()
    {
        _thumbs?.Dispose();
        _scratch?.Dispose();
    }
}
