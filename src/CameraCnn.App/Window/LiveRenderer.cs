// LiveRenderer: draws one frame of the live window from LiveState: the camera texture, the feature-map grid and
// zoom (one R32F atlas + per-channel ranges, coloured in featuremap.frag) and the overlay (bars, figures, timing
// strip, help) as batched quads. Every GL object is made once at start-up; a frame allocates nothing.
using System.Diagnostics;
using CameraCnn.Engine.Layers;
using OpenCvSharp;
using Silk.NET.OpenGL;

namespace CameraCnn.App.Window;

/// <summary>An axis-aligned rectangle in framebuffer pixels.</summary>
internal readonly record struct RectF(float X, float Y, float W, float H)
{
    public float Right => X + W;
    public float Bottom => Y + H;
    public bool Contains(float x, float y) => x >= X && x < Right && y >= Y && y < Bottom;
    public bool IsEmpty => W <= 0 || H <= 0;
}

/// <summary>All drawing of the live window.</summary>
internal sealed unsafe class LiveRenderer : IDisposable
{
    /// <summary>Channels per page of the grid (pages step with + / - or the wheel).</summary>
    public const int PageSize = 64;

    private static readonly (string Key, string What)[] HelpLines =
    [
        ("F", "feature maps on / off"),
        ("[  ]", "previous / next layer"),
        ("+  -", "next / previous page of channels (also the mouse wheel)"),
        ("click", "zoom a channel over the picture (again, or right-click: stop)"),
        ("Up  Down", "zoom opacity"),
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
        ("1 - 9", "hold: record frames into that class (a few a second)"),
        ("R", "rename the class under the pointer, else the current one (Enter keeps, Esc cancels)"),
        ("click tile", "select that class"),
        ("Backspace", "delete the last frame of the current class"),
        ("T", "train a head on the recorded frames (in the background)"),
        ("S", "save backbone + head as DATA/teach.onnx"),
        ("W, 1 - 9", "add this frame to that class (a wrong prediction)"),
        ("V", "validation confusion matrix of the last training"),
    ];

    private (string Key, string What)[] Help => _s.TeachLines is null ? HelpLines : [.. TeachHelpLines, .. HelpLines];

    private readonly GL _gl;
    private readonly LiveState _s;
    private readonly IReadOnlyList<LayerTap> _taps;
    private readonly ShaderProgram _camera, _hud, _features;
    private readonly int _cameraViewport, _cameraFrame, _hudViewport, _hudFont;
    private readonly int _fmViewport, _fmAtlas, _fmRange, _fmColormap, _fmGlobal, _fmGlobalRange;
    private readonly QuadBatch _batch;
    private readonly FontAtlas _font;
    private readonly Texture _atlas, _ranges;
    private readonly int[] _shownChannels;
    private readonly int[] _nodeColour;
    private readonly float _ui;
    private readonly TextLine _line = new(), _line2 = new();
    private readonly Engine.Models.Preprocessing _pre;
    private Texture? _frame;

    // Teach mode's class strip: the newest thumbnail of each class 1-9 in one BGR atlas (a slot per class).
    public const int ThumbSlotW = 96, ThumbSlotH = 128, ThumbSlots = 9;
    private Texture? _thumbs;
    private Mat? _thumbScratch;
    private readonly (int W, int H)[] _thumbSize = new (int, int)[ThumbSlots];
    private int _thumbVersion = -1;
    private readonly List<(int Index, RectF Rect)> _tiles = [];
    private readonly int[] _slowest = new int[3];

    // The feature data currently in the atlas.
    private LayerTap? _atlasTap;
    private float _globalMin, _globalMax;

    // Layout of the last frame (framebuffer pixels), for hit tests and the stats file.
    private int _fbW, _fbH;
    public RectF CameraRect { get; private set; }
    public RectF BarsRect { get; private set; }
    public RectF FeaturePanel { get; private set; }
    public RectF GridRect { get; private set; }
    private float _tileW, _tileH, _gap, _gridX, _gridY;
    private int _cols, _pageStart, _pageCount;

    /// <param name="uiScale">pixels per UI unit (2 on HiDPI screens).</param>
    /// <param name="pre">the model's preprocessing: where in the frame the network looks (for the zoomed channel).</param>
    public LiveRenderer(GL gl, LiveState state, IReadOnlyList<LayerTap> taps, float uiScale, string shaderDirectory, Engine.Models.Preprocessing pre)
    {
        _gl = gl;
        _s = state;
        _taps = taps;
        _ui = uiScale;
        _pre = pre;
        _camera = new ShaderProgram(gl, shaderDirectory, "quad.vert", "camera.frag");
        _hud = new ShaderProgram(gl, shaderDirectory, "quad.vert", "hud.frag");
        _features = new ShaderProgram(gl, shaderDirectory, "quad.vert", "featuremap.frag");
        _cameraViewport = _camera.Uniform("uViewport");
        _cameraFrame = _camera.Uniform("uFrame");
        _hudViewport = _hud.Uniform("uViewport");
        _hudFont = _hud.Uniform("uFont");
        _fmViewport = _features.Uniform("uViewport");
        _fmAtlas = _features.Uniform("uAtlas");
        _fmRange = _features.Uniform("uRange");
        _fmColormap = _features.Uniform("uColormap");
        _fmGlobal = _features.Uniform("uGlobal");
        _fmGlobalRange = _features.Uniform("uGlobalRange");
        _batch = new QuadBatch(gl, 8192);
        _font = new FontAtlas(gl, uiScale);

        // One atlas for every layer: wide enough for the widest map, tall enough for the tallest C*H stack the
        // GPU allows (layers with more rows show their first channels only).
        gl.GetInteger(GetPName.MaxTextureSize, out int maxTexture);
        _shownChannels = new int[taps.Count];
        int atlasW = 1, atlasH = 1, maxC = 1;
        for (int i = 0; i < taps.Count; i++)
        {
            var t = taps[i];
            _shownChannels[i] = Math.Max(1, Math.Min(t.C, maxTexture / t.H));
            atlasW = Math.Max(atlasW, t.W);
            atlasH = Math.Max(atlasH, _shownChannels[i] * t.H);
            maxC = Math.Max(maxC, _shownChannels[i]);
        }
        _atlas = new Texture(gl, atlasW, atlasH, InternalFormat.R32f, PixelFormat.Red, PixelType.Float, linear: false);
        _ranges = new Texture(gl, maxC, 1, InternalFormat.RG32f, PixelFormat.RG, PixelType.Float, linear: false);

        _nodeColour = new int[state.Nodes.Count];
        for (int i = 0; i < _nodeColour.Length; i++)
            _nodeColour[i] = state.Nodes[i].Layer switch
            {
                Conv2d or Engine.Optimization.FusedConv2d => 0,
                BatchNorm2d => 1,
                MaxPool2d or AvgPool2d or GlobalAvgPool => 2,
                Dense => 3,
                null or Engine.Optimization.OutputAlias => 5,
                _ => 4,
            };
        gl.Enable(EnableCap.Blend);
        gl.BlendFunc(BlendingFactor.SrcAlpha, BlendingFactor.OneMinusSrcAlpha);
        gl.Disable(EnableCap.DepthTest);
        gl.Disable(EnableCap.CullFace);
    }

    /// <summary>How many channels of a tap the atlas holds (all, unless the GPU's texture size limits it).</summary>
    public int ShownChannels(int tap) => _shownChannels[tap];

    public LayerTap? AtlasTap => _atlasTap;

    /// <summary>Uploads a camera frame into the frame texture (made on the first frame, remade only if the size changes).</summary>
    public void UploadFrame(Frame frame)
    {
        if (_frame is null || _frame.Width != frame.Width || _frame.Height != frame.Height)
        {
            _frame?.Dispose();
            _frame = new Texture(_gl, frame.Width, frame.Height, InternalFormat.Rgb8, PixelFormat.Bgr, PixelType.UnsignedByte, linear: true);
        }
        fixed (byte* p = frame.Pixels) _frame.Update(0, 0, frame.Width, frame.Height, p);
        _s.HaveFrame = true;
        _s.FrameWidth = frame.Width;
        _s.FrameHeight = frame.Height;
    }

    /// <summary>Uploads a result's tapped activations and channel ranges into the atlas.</summary>
    public void UploadFeatures(InferenceResult r)
    {
        if (r.Tap is not { } tap) return;
        int channels = _shownChannels[tap.Index];
        fixed (float* p = r.Features) _atlas.Update(0, 0, tap.W, channels * tap.H, p);
        fixed (float* p = r.Ranges) _ranges.Update(0, 0, channels, 1, p);
        _globalMin = r.GlobalMin;
        _globalMax = r.GlobalMax;
        _atlasTap = tap;
    }

    /// <summary>Draws the whole window into the back buffer.</summary>
    public void Draw(int fbW, int fbH)
    {
        _fbW = fbW;
        _fbH = fbH;
        _gl.Viewport(0, 0, (uint)fbW, (uint)fbH);
        _gl.ClearColor(0.07f, 0.07f, 0.08f, 1f);
        _gl.Clear(ClearBufferMask.ColorBufferBit);
        Layout();

        // 1. The camera picture.
        if (_frame is not null && _s.HaveFrame)
        {
            _camera.Use();
            _gl.Uniform2(_cameraViewport, (float)fbW, fbH);
            _gl.Uniform1(_cameraFrame, 0);
            _frame.Bind(0);
            var c = CameraRect;
            float u0 = _s.Mirror ? 1 : 0, u1 = 1 - u0;
            _batch.Add(c.X, c.Y, c.Right, c.Bottom, u0, 0, u1, 1, 1, 1, 1, 1);
            _batch.Flush();
        }

        bool features = _s.ShowFeatures && _atlasTap is { } t && t.Index == _s.Tap;
        // 2. A zoomed channel over the picture.
        if (features && _s.ZoomChannel >= 0 && _s.ZoomChannel < _shownChannels[_atlasTap!.Index])
        {
            BeginFeatures();
            var z = ZoomRect();
            var (v0, v1) = ChannelV(_atlasTap, _s.ZoomChannel);
            float uMax = (float)_atlasTap.W / _atlas.Width;
            float a0 = _s.Mirror ? uMax : 0, a1 = _s.Mirror ? 0 : uMax;
            _batch.Add(z.X, z.Y, z.Right, z.Bottom, a0, v0, a1, v1, _s.ZoomChannel, _s.ZoomOpacity, 0, 0);
            _batch.Flush();
        }

        // 3. Panel backgrounds, then the teach strip's thumbnails over theirs.
        BeginHud();
        Panel(BarsRect);
        if (_s.ShowFeatures) Panel(FeaturePanel);
        foreach (var (_, r) in _tiles) Panel(r);
        _batch.Flush();
        DrawThumbnails();

        // 4. The feature grid.
        if (features)
        {
            BeginFeatures();
            var tap = _atlasTap!;
            float uMax = (float)tap.W / _atlas.Width;
            for (int i = 0; i < _pageCount; i++)
            {
                int ch = _pageStart + i;
                var r = Tile(i);
                var (v0, v1) = ChannelV(tap, ch);
                _batch.Add(r.X, r.Y, r.Right, r.Bottom, 0, v0, uMax, v1, ch, 1, 0, 0);
            }
            _batch.Flush();
        }

        // 5. Text, bars and the rest of the overlay.
        BeginHud();
        DrawBars();
        if (_s.ShowFeatures) DrawFeatureLabels(features);
        DrawStatus();
        if (_s.ShowTiming) DrawTiming();
        DrawNotice();
        if (_s.TeachLines is { } teach) DrawTeach(teach);
        DrawTileCaptions();
        if (_s.ShowConfusion && _s.ConfusionTable is { } confusion) DrawTable(confusion, 0.55f);
        if (_s.ShowHelp) DrawHelp();
        _batch.Flush();
    }

    private void BeginHud()
    {
        _hud.Use();
        _gl.Uniform2(_hudViewport, (float)_fbW, _fbH);
        _gl.Uniform1(_hudFont, 0);
        _font.Texture.Bind(0);
    }

    private void BeginFeatures()
    {
        _features.Use();
        _gl.Uniform2(_fmViewport, (float)_fbW, _fbH);
        _gl.Uniform1(_fmAtlas, 0);
        _gl.Uniform1(_fmRange, 1);
        _gl.Uniform1(_fmColormap, _s.Colormap);
        _gl.Uniform1(_fmGlobal, _s.GlobalNorm ? 1 : 0);
        _gl.Uniform2(_fmGlobalRange, _globalMin, _globalMax);
        _atlas.Bind(0);
        _ranges.Bind(1);
    }

    private (float V0, float V1) ChannelV(LayerTap tap, int channel) =>
        ((float)channel * tap.H / _atlas.Height, (float)(channel + 1) * tap.H / _atlas.Height);

    // ---- layout ----

    private float M => 10 * _ui;
    private float Lh => _font.LineHeight;

    private void Layout()
    {
        float fw = _fbW, fh = _fbH;
        // The picture keeps its aspect ratio, centred (letterbox or pillarbox).
        if (_s.HaveFrame && _s.FrameWidth > 0)
        {
            float scale = Math.Min(fw / _s.FrameWidth, fh / _s.FrameHeight);
            float w = _s.FrameWidth * scale, h = _s.FrameHeight * scale;
            CameraRect = new RectF(MathF.Round((fw - w) / 2), MathF.Round((fh - h) / 2), MathF.Round(w), MathF.Round(h));
        }
        else CameraRect = new RectF(0, 0, fw, fh);

        float barsW = Math.Min(420 * _ui, fw * 0.45f);
        int rows = _s.IsClassifier ? Math.Max(1, Math.Min(LiveState.TopK, _s.Labels.Count)) : 1;
        BarsRect = new RectF(M, M, barsW, 6 * _ui + Lh + rows * (Lh + 6 * _ui) + 4 * _ui);

        float bottom = fh - M - Lh - 8 * _ui - (_s.ShowTiming ? TimingHeight + Lh + 6 * _ui : 0);
        float px = MathF.Round(Math.Max(fw * 0.5f, BarsRect.Right + M));
        FeaturePanel = new RectF(px, M, fw - M - px, Math.Max(0, bottom - M));
        var p = FeaturePanel;
        float header = 2 * Lh + 10 * _ui;
        GridRect = new RectF(p.X + 6 * _ui, p.Y + header, p.W - 12 * _ui, p.H - header - 6 * _ui);

        LayoutTiles(bottom);
        _pageCount = 0;
        if (!_s.ShowFeatures || _s.Tap < 0 || _s.Tap >= _taps.Count || GridRect.IsEmpty) return;
        var tap = _taps[_s.Tap];
        int channels = _shownChannels[_s.Tap];
        int pages = (channels + PageSize - 1) / PageSize;
        int page = Math.Clamp(_s.Page, 0, pages - 1);
        _pageStart = page * PageSize;
        _pageCount = Math.Min(PageSize, channels - _pageStart);
        _gap = Math.Max(1, MathF.Round(2 * _ui));
        float aspect = (float)tap.W / tap.H, best = 0;
        for (int cols = 1; cols <= _pageCount; cols++)
        {
            int r = (_pageCount + cols - 1) / cols;
            float tw = Math.Min((GridRect.W - _gap * (cols - 1)) / cols, (GridRect.H - _gap * (r - 1)) / r * aspect);
            if (tw > best)
            {
                best = tw;
                _cols = cols;
            }
        }
        _tileW = MathF.Floor(best);
        _tileH = MathF.Floor(best / aspect);
        int gridRows = (_pageCount + _cols - 1) / _cols;
        float gw = _cols * _tileW + (_cols - 1) * _gap, gh = gridRows * _tileH + (gridRows - 1) * _gap;
        _gridX = MathF.Round(GridRect.X + (GridRect.W - gw) / 2);
        _gridY = MathF.Round(GridRect.Y);
    }

    private RectF Tile(int i) => new(_gridX + i % _cols * (_tileW + _gap), _gridY + i / _cols * (_tileH + _gap), _tileW, _tileH);

    /// <summary>The channel under a framebuffer position in the grid, or -1.</summary>
    public int ChannelAt(float x, float y)
    {
        for (int i = 0; i < _pageCount; i++)
            if (Tile(i).Contains(x, y)) return _pageStart + i;
        return -1;
    }

    /// <summary>Where on screen the network's input lies (the zoomed channel is drawn there): the whole picture when
    /// stretched, its centre window when cropped, the picture plus the padding when letterboxed.</summary>
    private RectF ZoomRect()
    {
        var c = CameraRect;
        int fw = Math.Max(1, _s.FrameWidth), fh = Math.Max(1, _s.FrameHeight);
        var (src, dst) = Vision.FramePreprocessor.ComputeGeometry(_pre.Resize, fw, fh, _pre.Width, _pre.Height);
        // The whole input in frame pixels: the target rectangle maps onto the source one.
        float sx = (float)src.Width / dst.Width, sy = (float)src.Height / dst.Height;
        float x = src.X - dst.X * sx, y = src.Y - dst.Y * sy, w = _pre.Width * sx, h = _pre.Height * sy;
        if (_s.Mirror) x = fw - x - w;
        float kx = c.W / fw, ky = c.H / fh;
        return new RectF(c.X + x * kx, c.Y + y * ky, w * kx, h * ky);
    }

    // ---- teach mode's class strip ----

    private float TileW => 120 * _ui;
    private float ThumbBoxH => 72 * _ui;

    /// <summary>One tile per class along the bottom left, above the status line (and the timing strip).</summary>
    private void LayoutTiles(float bottom)
    {
        _tiles.Clear();
        var tiles = _s.TeachTiles;
        if (tiles.Length == 0) return;
        float w = TileW, h = ThumbBoxH + Lh + 8 * _ui, gap = 6 * _ui;
        float y = bottom - h, x = M;
        foreach (var t in tiles)
        {
            if (x + w > _fbW - M) break; // a narrow window shows the first few
            _tiles.Add((t.Index, new RectF(x, y, w, h)));
            x += w + gap;
        }
    }

    /// <summary>The class whose tile is under a framebuffer position, or -1.</summary>
    public int ClassAt(float x, float y)
    {
        foreach (var (index, r) in _tiles)
            if (r.Contains(x, y)) return index;
        return -1;
    }

    /// <summary>Re-reads the recorder's thumbnails into the atlas when they changed (render thread; a copy per change only).</summary>
    public void UpdateThumbnails(Vision.Teach.TeachRecorder recorder)
    {
        int version = recorder.ThumbnailVersion;
        if (version == _thumbVersion) return;
        _thumbVersion = version;
        _thumbs ??= new Texture(_gl, ThumbSlotW * ThumbSlots, ThumbSlotH, InternalFormat.Rgb8, PixelFormat.Bgr, PixelType.UnsignedByte, linear: true);
        _thumbScratch ??= new Mat();
        for (int i = 0; i < ThumbSlots; i++)
        {
            _thumbSize[i] = default;
            if (!recorder.TryCopyThumbnail(i, _thumbScratch) || _thumbScratch.Type() != MatType.CV_8UC3) continue;
            int w = Math.Min(ThumbSlotW, _thumbScratch.Cols), h = Math.Min(ThumbSlotH, _thumbScratch.Rows);
            using var packed = new Mat();
            _thumbScratch[new Rect(0, 0, w, h)].CopyTo(packed); // tightly packed rows
            _thumbs.Update(i * ThumbSlotW, 0, w, h, (void*)packed.Data);
            _thumbSize[i] = (w, h);
        }
    }

    private void DrawThumbnails()
    {
        if (_thumbs is null || _tiles.Count == 0) return;
        _camera.Use();
        _gl.Uniform2(_cameraViewport, (float)_fbW, _fbH);
        _gl.Uniform1(_cameraFrame, 0);
        _thumbs.Bind(0);
        foreach (var (index, r) in _tiles)
        {
            if (index >= ThumbSlots || _thumbSize[index] is not { W: > 0, H: > 0 } size) continue;
            // Fit the thumbnail into the box at the top of the tile, keeping its aspect.
            float boxW = r.W - 6 * _ui, boxH = ThumbBoxH - 3 * _ui;
            float k = Math.Min(boxW / size.W, boxH / size.H), w = size.W * k, h = size.H * k;
            float x = r.X + (r.W - w) / 2, y = r.Y + 3 * _ui + (boxH - h) / 2;
            float u0 = (float)index * ThumbSlotW / _thumbs.Width, u1 = u0 + (float)size.W / _thumbs.Width, v1 = (float)size.H / _thumbs.Height;
            if (_s.Mirror) (u0, u1) = (u1, u0);
            _batch.Add(x, y, x + w, y + h, u0, 0, u1, v1, 1, 1, 1, 1);
        }
        _batch.Flush();
    }

    private void DrawTileCaptions()
    {
        var tiles = _s.TeachTiles;
        foreach (var (index, r) in _tiles)
        {
            string caption = "", count = "";
            foreach (var t in tiles)
                if (t.Index == index) (caption, count) = (t.Caption, t.Count);
            bool current = index == _s.TeachCurrent, held = index == _s.TeachHeld, renaming = index == _s.TeachRenaming;
            float b = Math.Max(1, MathF.Round(2 * _ui));
            if (current || held || renaming)
            {
                var (cr, cg, cb) = held ? (0.95f, 0.25f, 0.2f) : renaming ? (0.3f, 0.8f, 1f) : (0.96f, 0.55f, 0.12f);
                _font.Rect(_batch, r.X, r.Y, r.Right, r.Y + b, cr, cg, cb, 1);
                _font.Rect(_batch, r.X, r.Bottom - b, r.Right, r.Bottom, cr, cg, cb, 1);
                _font.Rect(_batch, r.X, r.Y, r.X + b, r.Bottom, cr, cg, cb, 1);
                _font.Rect(_batch, r.Right - b, r.Y, r.Right, r.Bottom, cr, cg, cb, 1);
            }
            // The frame count as a badge in the thumbnail's lower right corner.
            float cw = _font.Measure(count), bx = r.Right - cw - 10 * _ui, by = r.Y + ThumbBoxH - Lh - 2 * _ui;
            _font.Rect(_batch, bx - 3 * _ui, by - 1 * _ui, r.Right - 4 * _ui, by + Lh, 0.03f, 0.03f, 0.05f, 0.8f);
            Text(count, bx, by - 1 * _ui);
            float ty = r.Y + ThumbBoxH + 2 * _ui;
            if (renaming)
            {
                var l = _line.Clear().Append(_s.RenameText).Append("_");
                Text(l.Span, r.X + 4 * _ui, ty, 0.5f, 0.9f, 1f, right: r.Right - 2 * _ui);
            }
            else Text(caption, r.X + 4 * _ui, ty, right: r.Right - 2 * _ui);
        }
    }

    // ---- overlay pieces ----

    private void Panel(RectF r)
    {
        if (!r.IsEmpty) _font.Rect(_batch, r.X, r.Y, r.Right, r.Bottom, 0.03f, 0.03f, 0.05f, 0.72f);
    }

    private void Text(ReadOnlySpan<char> text, float x, float y, float r = 0.95f, float g = 0.95f, float b = 0.95f, float a = 1f, float right = float.MaxValue) =>
        _font.Draw(_batch, text, x, y, r, g, b, a, Math.Min(right, _fbW));

    private void DrawBars()
    {
        var p = BarsRect;
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
        float bh = Lh + 2 * _ui;
        for (int k = 0; k < _s.TopCount; k++)
        {
            int cls = _s.Top[k];
            float prob = Math.Clamp(_s.Smoothed[cls], 0, 1);
            _font.Rect(_batch, x, y, x + w, y + bh, 1f, 1f, 1f, 0.10f);
            if (k == 0) _font.Rect(_batch, x, y, x + w * prob, y + bh, 0.96f, 0.55f, 0.12f, 0.92f);
            else _font.Rect(_batch, x, y, x + w * prob, y + bh, 0.22f, 0.52f, 0.95f, 0.85f);
            var pct = _line.Clear().Append(prob * 100, "F1").Append("%").Span;
            float pctX = x + w - 5 * _ui - _font.Measure(pct);
            Text(cls < _s.Labels.Count ? _s.Labels[cls] : "?", x + 5 * _ui, y + 1 * _ui, right: pctX - 6 * _ui);
            Text(pct, pctX, y + 1 * _ui);
            y += Lh + 6 * _ui;
        }
    }

    private void DrawFeatureLabels(bool haveData)
    {
        var p = FeaturePanel;
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
        int channels = _shownChannels[_s.Tap], pages = (channels + PageSize - 1) / PageSize;
        var l2 = _line2.Clear().Append("ch ").Append(_pageStart + 1).Append("-").Append(_pageStart + _pageCount)
            .Append(" of ").Append(tap.C).Append("  page ").Append(Math.Clamp(_s.Page, 0, pages - 1) + 1).Append("/").Append(pages)
            .Append("  ").Append(LiveState.ColormapNames[_s.Colormap]).Append(_s.GlobalNorm ? "  global" : "  per channel");
        if (_s.ZoomChannel >= 0) l2.Append("  zoom ch ").Append(_s.ZoomChannel + 1).Append(" ").Append(_s.ZoomOpacity * 100, "F0").Append("%");
        Text(l2.Span, x, y, 0.85f, 0.85f, 0.85f, right: p.Right - 4 * _ui);
        if (!haveData) Text("computing...", GridRect.X + 4 * _ui, GridRect.Y + 4 * _ui, 0.8f, 0.8f, 0.8f);
        else if (_s.ZoomChannel >= _pageStart && _s.ZoomChannel < _pageStart + _pageCount)
        {
            var r = Tile(_s.ZoomChannel - _pageStart);
            float b = Math.Max(1, _ui);
            _font.Rect(_batch, r.X - b, r.Y - b, r.Right + b, r.Y, 1, 1, 1, 1);
            _font.Rect(_batch, r.X - b, r.Bottom, r.Right + b, r.Bottom + b, 1, 1, 1, 1);
            _font.Rect(_batch, r.X - b, r.Y, r.X, r.Bottom, 1, 1, 1, 1);
            _font.Rect(_batch, r.Right, r.Y, r.Right + b, r.Bottom, 1, 1, 1, 1);
        }
    }

    private float TimingHeight => 14 * _ui;

    private void DrawStatus()
    {
        var l = _line.Clear()
            .Append("render ").Append(_s.RenderFps, "F0").Append(" fps   capture ").Append(_s.CaptureFps, "F1")
            .Append(" fps   inference ").Append(_s.InferenceFps, "F1").Append(" fps (").Append(_s.ForwardMs, "F1")
            .Append(" ms)   latency ").Append(_s.LatencyMs, "F0").Append(" ms");
        if (_s.Paused) l.Append("   PAUSED");
        if (_s.Mirror) l.Append("   mirrored");
        float y = _fbH - M - Lh - 2 * _ui;
        float w = _font.Measure(l.Span);
        _font.Rect(_batch, M, y - 3 * _ui, M + w + 12 * _ui, y + Lh + 1 * _ui, 0.03f, 0.03f, 0.05f, 0.72f);
        Text(l.Span, M + 6 * _ui, y);
        ReadOnlySpan<char> hint = "H: help";
        float hw = _font.Measure(hint);
        _font.Rect(_batch, _fbW - M - hw - 12 * _ui, y - 3 * _ui, _fbW - M, y + Lh + 1 * _ui, 0.03f, 0.03f, 0.05f, 0.72f);
        Text(hint, _fbW - M - hw - 6 * _ui, y, 0.8f, 0.8f, 0.8f);
        if (!_s.HaveFrame)
        {
            var wait = _line.Clear().Append("waiting for ").Append(_s.SourceName).Append("...").Span;
            Text(wait, (_fbW - _font.Measure(wait)) / 2, _fbH / 2f);
        }
    }

    private static readonly (float R, float G, float B)[] KindColours =
        [(0.25f, 0.55f, 0.95f), (0.62f, 0.40f, 0.90f), (0.98f, 0.60f, 0.15f), (0.90f, 0.30f, 0.30f), (0.35f, 0.80f, 0.45f), (0.5f, 0.5f, 0.5f)];

    private void DrawTiming()
    {
        float x0 = M, x1 = _fbW - M, y1 = _fbH - M - Lh - 8 * _ui, y0 = y1 - TimingHeight;
        float ty = y0 - Lh - 4 * _ui;
        _font.Rect(_batch, x0, ty - 3 * _ui, x1, y1 + 2 * _ui, 0.03f, 0.03f, 0.05f, 0.72f);
        if (!_s.HaveTiming)
        {
            Text("timing the layers...", x0 + 6 * _ui, ty);
            return;
        }
        double total = 0;
        for (int i = 0; i < _s.NodeMs.Length; i++) total += _s.NodeMs[i];
        if (total <= 0) return;
        float x = x0 + 2 * _ui, w = x1 - x0 - 4 * _ui;
        for (int i = 0; i < _s.NodeMs.Length; i++)
        {
            float seg = (float)(_s.NodeMs[i] / total * w);
            if (seg <= 0) continue;
            var (r, g, b) = KindColours[_nodeColour[i]];
            float shade = i % 2 == 0 ? 1f : 0.75f;
            _font.Rect(_batch, x, y0, x + seg, y1, r * shade, g * shade, b * shade, 0.95f);
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
        Text(l.Span, x0 + 6 * _ui, ty);
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
        float w = _font.Measure(text);
        float x = MathF.Round(Math.Max((_fbW - w) / 2, BarsRect.Right + M));
        float y = BarsRect.Bottom + M;
        if (x + w > _fbW - M) x = M;
        _font.Rect(_batch, x - 8 * _ui, y - 4 * _ui, x + w + 8 * _ui, y + Lh + 2 * _ui, 0.15f, 0.08f, 0.02f, 0.85f);
        Text(text, x, y, r, g, b);
    }

    /// <summary>Teach mode's counters, trainer status and verdict, under the bars at the left.</summary>
    private void DrawTeach(string[] lines)
    {
        float step = Lh + 2 * _ui, w = 0;
        foreach (var l in lines) w = Math.Max(w, _font.Measure(l));
        float x = M + 8 * _ui, y = BarsRect.Bottom + M + Lh + 14 * _ui;
        w = Math.Min(w, _fbW - x - M - 8 * _ui);
        float bar = _s.TeachProgress >= 0 ? 8 * _ui : 0, bottom = y + lines.Length * step + 2 * _ui;
        _font.Rect(_batch, x - 8 * _ui, y - 4 * _ui, x + w + 8 * _ui, bottom + bar, 0.03f, 0.03f, 0.05f, 0.8f);
        for (int i = 0; i < lines.Length; i++)
            Text(lines[i], x, y + i * step, i == 0 ? 1f : 0.9f, i == 0 ? 0.85f : 0.9f, i == 0 ? 0.45f : 0.9f, right: _fbW - M);
        if (bar > 0) // the trainer's progress bar along the bottom of the box
        {
            float p = Math.Clamp(_s.TeachProgress, 0, 1);
            _font.Rect(_batch, x, bottom, x + w, bottom + 4 * _ui, 1, 1, 1, 0.15f);
            _font.Rect(_batch, x, bottom, x + w * p, bottom + 4 * _ui, 0.35f, 0.8f, 0.45f, 0.95f);
        }
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
            for (int c = 0; c < row.Length; c++) widths[c] = Math.Max(widths[c], _font.Measure(row[c]));
        float tableW = widths.Sum() + gap * Math.Max(0, columns - 1);
        float w = Math.Max(tableW, rows.Length > 0 && rows[0].Length > 0 ? _font.Measure(rows[0][0]) : 0);
        float h = rows.Length * step;
        float x = MathF.Round(Math.Max(M, (_fbW - w) / 2)), y = MathF.Round(Math.Max(M, (_fbH - h) * at));
        _font.Rect(_batch, x - 12 * _ui, y - 8 * _ui, x + w + 12 * _ui, y + h + 6 * _ui, 0.02f, 0.02f, 0.04f, 0.9f);
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
                float tx = c == 0 ? cx : cx + widths[c] - _font.Measure(row[c]);
                bool diagonal = i >= 2 && c == i - 1; // correct predictions
                Text(row[c], tx, y + i * step, diagonal ? 0.5f : 0.95f, 0.95f, diagonal ? 0.55f : 0.95f);
                cx += widths[c] + gap;
            }
        }
    }

    private void DrawHelp()
    {
        var helpLines = Help;
        float keyW = 0, whatW = 0;
        foreach (var (key, what) in helpLines)
        {
            keyW = Math.Max(keyW, _font.Measure(key));
            whatW = Math.Max(whatW, _font.Measure(what));
        }
        keyW += 16 * _ui;
        float w = keyW + whatW, step = Lh + 2 * _ui;
        float h = (helpLines.Length + 1) * step + 16 * _ui;
        float x = MathF.Round((_fbW - w) / 2), y = MathF.Round((_fbH - h) / 2);
        _font.Rect(_batch, x - 16 * _ui, y - 8 * _ui, x + w + 16 * _ui, y + h, 0.02f, 0.02f, 0.04f, 0.9f);
        Text("Keys", x, y, 1f, 0.85f, 0.45f);
        y += step;
        foreach (var (key, what) in helpLines)
        {
            Text(key, x, y, 1f, 0.85f, 0.45f);
            Text(what, x + keyW, y);
            y += step;
        }
    }

    /// <summary>Reads the back buffer (what the next swap shows) and writes it as an image file, top row first.</summary>
    public void SaveScreenshot(string path)
    {
        int w = _fbW, h = _fbH;
        var pixels = new byte[w * h * 3];
        _gl.PixelStore(PixelStoreParameter.PackAlignment, 1);
        _gl.ReadBuffer(ReadBufferMode.Back);
        fixed (byte* p = pixels) _gl.ReadPixels(0, 0, (uint)w, (uint)h, PixelFormat.Bgr, PixelType.UnsignedByte, p);
        fixed (byte* p = pixels)
        {
            using var mat = Mat.FromPixelData(h, w, MatType.CV_8UC3, (nint)p);
            using var flipped = new Mat();
            Cv2.Flip(mat, flipped, FlipMode.X); // GL rows start at the bottom
            Vision.ImageOutput.Write(path, flipped); // temp file + rename: a full disk keeps the old screenshot
        }
    }

    /// <summary>The layout as plain numbers (for --stats-json, so tests can find things in the screenshot).</summary>
    public Dictionary<string, int[]?> LayoutForStats()
    {
        static int[] R(RectF r) => [(int)r.X, (int)r.Y, (int)r.W, (int)r.H];
        var grid = _pageCount > 0 ? new RectF(_gridX, _gridY, _cols * _tileW + (_cols - 1) * _gap,
            ((_pageCount + _cols - 1) / _cols) * _tileH + ((_pageCount + _cols - 1) / _cols - 1) * _gap) : default;
        return new()
        {
            ["framebuffer"] = [_fbW, _fbH],
            ["camera"] = R(CameraRect),
            ["bars"] = R(BarsRect),
            ["featurePanel"] = _s.ShowFeatures ? R(FeaturePanel) : null,
            ["featureGrid"] = _s.ShowFeatures && _pageCount > 0 ? R(grid) : null,
            ["firstTile"] = _s.ShowFeatures && _pageCount > 0 ? R(Tile(0)) : null,
            ["teachTiles"] = _tiles.Count > 0 ? _tiles.SelectMany(t => R(t.Rect)).ToArray() : null,
        };
    }

    public void Dispose()
    {
        _frame?.Dispose();
        _thumbs?.Dispose();
        _thumbScratch?.Dispose();
        _atlas.Dispose();
        _ranges.Dispose();
        _font.Dispose();
        _batch.Dispose();
        _camera.Dispose();
        _hud.Dispose();
        _features.Dispose();
    }
}
