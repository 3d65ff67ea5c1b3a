// LiveRenderer: the live window's GL side: the programs, textures and quad batch (made once at start-up), the uploads
// (the camera frame straight from its capture reader's Mat, the tapped layer into one R32F atlas with per-channel
// ranges, the Grad-CAM map into one small R32F texture) and one frame drawn in order: picture, zoomed channel, heatmap,
// panels, thumbnails, feature grid, overlay (with the heatmap's colour scale), modal boxes. Where things go is LiveLayout's, what the text says is Overlay's. A frame allocates nothing.
using CameraCnn.App.Live;
using OpenCvSharp;
using Silk.NET.OpenGL;

namespace CameraCnn.App.Window;

/// <summary>All drawing of the live window.</summary>
internal sealed unsafe class LiveRenderer : IDisposable
{
    private readonly GL _gl;
    private readonly LiveState _s;
    private readonly ShaderProgram _camera, _hud, _features;
    private readonly int _cameraViewport, _cameraFrame, _hudViewport, _hudFont;
    private readonly int _fmViewport, _fmAtlas, _fmRange, _fmColormap, _fmGlobal, _fmGlobalRange, _fmUvClamp;
    private readonly QuadBatch _batch;
    private readonly FontAtlas _font;
    private readonly Texture _atlas, _ranges;
    private readonly Texture _heat, _scale; // the Grad-CAM map (linear: the GPU upsamples it); the colour scale's 0 and 1
    private int _heatW, _heatH;
    private readonly int[] _shownChannels;
    private readonly Engine.Models.Preprocessing _pre;
    private readonly Overlay _overlay;
    private Texture? _frame;

    // The feature data currently in the atlas.
    private LayerTap? _atlasTap;
    private float _globalMin, _globalMax;

    /// <param name="uiScale">pixels per UI unit (2 on HiDPI screens).</param>
    /// <param name="pre">the model's preprocessing: where in the frame the network looks (for the zoomed channel).</param>
    /// <param name="heatmapSize">the largest Grad-CAM map (width, height) the network's layers give.</param>
    public LiveRenderer(GL gl, LiveState state, IReadOnlyList<LayerTap> taps, float uiScale, string shaderDirectory, Engine.Models.Preprocessing pre,
        (int Width, int Height) heatmapSize)
    {
        _gl = gl;
        _s = state;
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
        _fmUvClamp = _features.Uniform("uUvClamp");
        _batch = new QuadBatch(gl, 8192);
        _font = new FontAtlas(gl, new FontMetrics(uiScale));

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
        _heat = new Texture(gl, Math.Max(1, heatmapSize.Width), Math.Max(1, heatmapSize.Height), InternalFormat.R32f, PixelFormat.Red, PixelType.Float, linear: true);
        _scale = new Texture(gl, 2, 1, InternalFormat.R32f, PixelFormat.Red, PixelType.Float, linear: true);
        float* ends = stackalloc float[] { 0f, 1f };
        _scale.Update(0, 0, 2, 1, ends);
        Layout = new LiveLayout(uiScale, _font.Metrics, taps, _shownChannels);
        _overlay = new Overlay(_font, _batch, state, Layout, taps, _shownChannels);
        Strip = new TeachStrip(gl, state, Layout, _overlay);
        gl.Enable(EnableCap.Blend);
        gl.BlendFunc(BlendingFactor.SrcAlpha, BlendingFactor.OneMinusSrcAlpha);
        gl.Disable(EnableCap.DepthTest);
        gl.Disable(EnableCap.CullFace);
    }

    /// <summary>The layout of the last frame drawn (hit tests, stats).</summary>
    public LiveLayout Layout { get; }
    /// <summary>Teach mode's class tiles.</summary>
    public TeachStrip Strip { get; }

    /// <summary>How many channels of a tap the atlas holds (all, unless the GPU's texture size limits it).</summary>
    public int ShownChannels(int tap) => _shownChannels[tap];

    public LayerTap? AtlasTap => _atlasTap;

    /// <summary>
    /// Uploads a camera frame (8-bit BGR, as the capture thread wrote it into this reader's slot) into the frame texture,
    /// made on the first frame and remade only if the size changes.
    /// </summary>
    public void UploadFrame(Mat frame)
    {
        if (frame.Type() != MatType.CV_8UC3 || !frame.IsContinuous()) return; // the sources' contract: packed BGR
        int w = frame.Cols, h = frame.Rows;
        if (_frame is null || _frame.Width != w || _frame.Height != h)
        {
            _frame?.Dispose();
            _frame = new Texture(_gl, w, h, InternalFormat.Rgb8, PixelFormat.Bgr, PixelType.UnsignedByte, linear: true);
        }
        _frame.Update(0, 0, w, h, (void*)frame.Data);
        _s.HaveFrame = true;
        _s.FrameWidth = w;
        _s.FrameHeight = h;
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

    /// <summary>Uploads a result's Grad-CAM map (a few dozen floats) into the heatmap texture; true when it has one that fits.</summary>
    public bool UploadHeatmap(InferenceResult r)
    {
        var h = r.Heat;
        if (!h.HasMap || h.Width > _heat.Width || h.Height > _heat.Height) return false;
        fixed (float* p = r.Heatmap) _heat.Update(0, 0, h.Width, h.Height, p);
        (_heatW, _heatH) = (h.Width, h.Height);
        return true;
    }

    /// <summary>Lays out and draws the whole window into the back buffer.</summary>
    public void Draw(int fbW, int fbH)
    {
        _gl.Viewport(0, 0, (uint)fbW, (uint)fbH);
        _gl.ClearColor(0.07f, 0.07f, 0.08f, 1f);
        _gl.Clear(ClearBufferMask.ColorBufferBit);
        var l = Layout;
        l.Update(fbW, fbH, _s);

        // 1. The camera picture.
        if (_frame is not null && _s.HaveFrame)
        {
            BeginCamera();
            _frame.Bind(0);
            var c = l.Camera;
            float u0 = _s.Mirror ? 1 : 0, u1 = 1 - u0;
            _batch.Add(c.X, c.Y, c.Right, c.Bottom, u0, 0, u1, 1, 1, 1, 1, 1);
            _batch.Flush();
        }

        bool features = _s.ShowFeatures && _atlasTap is { } t && t.Index == _s.Tap;
        // 2. A zoomed channel over the picture.
        if (features && _s.ZoomChannel >= 0 && _s.ZoomChannel < _shownChannels[_atlasTap!.Index])
        {
            BeginFeatures();
            var z = l.ZoomRect(_s, _pre);
            var (v0, v1) = ChannelV(_atlasTap, _s.ZoomChannel);
            float uMax = (float)_atlasTap.W / _atlas.Width;
            float a0 = _s.Mirror ? uMax : 0, a1 = _s.Mirror ? 0 : uMax;
            _batch.Add(z.X, z.Y, z.Right, z.Bottom, a0, v0, a1, v1, _s.ZoomChannel, _s.ZoomOpacity, 0, 0);
            _batch.Flush();
        }

        // The Grad-CAM heatmap over the region of the picture the network saw.
        var heat = _s.ShowHeat && _heatW > 0 ? l.HeatmapQuad(_s) : default;
        if (!heat.Rect.IsEmpty)
        {
            BeginHeat(_heat, _heatW, _heatH);
            float su = (float)_heatW / _heat.Width, sv = (float)_heatH / _heat.Height;
            var q = heat.Rect;
            _batch.Add(q.X, q.Y, q.Right, q.Bottom, heat.U0 * su, heat.V0 * sv, heat.U1 * su, heat.V1 * sv, 0, _s.HeatOpacity, 0, 0);
            _batch.Flush();
        }

        // 3. Panel backgrounds, then the teach strip's thumbnails over theirs.
        BeginHud();
        _overlay.Panel(l.Bars);
        if (_s.ShowFeatures) _overlay.Panel(l.FeaturePanel);
        Strip.DrawPanels();
        _batch.Flush();
        BeginCamera();
        Strip.DrawThumbnails(_batch);
        _batch.Flush();

        // 4. The feature grid.
        if (features)
        {
            BeginFeatures();
            var tap = _atlasTap!;
            float uMax = (float)tap.W / _atlas.Width;
            for (int i = 0; i < l.PageCount; i++)
            {
                int ch = l.PageStart + i;
                var r = l.Tile(i);
                var (v0, v1) = ChannelV(tap, ch);
                _batch.Add(r.X, r.Y, r.Right, r.Bottom, 0, v0, uMax, v1, ch, 1, 0, 0);
            }
            _batch.Flush();
        }

        // 5. Text, bars and the rest of the overlay, the tiles' captions, the heatmap's colour scale, then the modal
        // boxes over everything.
        BeginHud();
        _overlay.Draw(features);
        Strip.DrawCaptions();
        _batch.Flush();
        if (!l.HeatLegend.IsEmpty)
        {
            BeginHeat(_scale, 2, 1);
            var r = l.HeatScale;
            _batch.Add(r.X, r.Y, r.Right, r.Bottom, 0.25f, 0.5f, 0.75f, 0.5f, 0, 1, 0, 0); // texel centres: 0 to 1
            _batch.Flush();
            BeginHud();
        }
        _overlay.DrawModal();
        _batch.Flush();
    }

    private void BeginCamera()
    {
        _camera.Use();
        _gl.Uniform2(_cameraViewport, (float)Layout.Width, Layout.Height);
        _gl.Uniform1(_cameraFrame, 0);
    }

    private void BeginHud()
    {
        _hud.Use();
        _gl.Uniform2(_hudViewport, (float)Layout.Width, Layout.Height);
        _gl.Uniform1(_hudFont, 0);
        _font.Texture.Bind(0);
    }

    private void BeginFeatures()
    {
        _features.Use();
        _gl.Uniform2(_fmViewport, (float)Layout.Width, Layout.Height);
        _gl.Uniform1(_fmAtlas, 0);
        _gl.Uniform1(_fmRange, 1);
        _gl.Uniform1(_fmColormap, _s.Colormap);
        _gl.Uniform1(_fmGlobal, _s.GlobalNorm ? 1 : 0);
        _gl.Uniform2(_fmGlobalRange, _globalMin, _globalMax);
        _gl.Uniform4(_fmUvClamp, 0f, 0f, 1f, 1f);
        _atlas.Bind(0);
        _ranges.Bind(1);
    }

    /// <summary>The feature-map program on a map of values 0..1 in the corner <paramref name="w"/> x <paramref name="h"/>
    /// of <paramref name="map"/>, sampled between its outermost texel centres.</summary>
    private void BeginHeat(Texture map, int w, int h)
    {
        BeginFeatures();
        _gl.Uniform1(_fmGlobal, 1);
        _gl.Uniform2(_fmGlobalRange, 0f, 1f);
        float tu = 0.5f / map.Width, tv = 0.5f / map.Height;
        _gl.Uniform4(_fmUvClamp, tu, tv, (float)w / map.Width - tu, (float)h / map.Height - tv);
        map.Bind(0);
    }

    private (float V0, float V1) ChannelV(LayerTap tap, int channel) =>
        ((float)channel * tap.H / _atlas.Height, (float)(channel + 1) * tap.H / _atlas.Height);

    /// <summary>Reads the back buffer (what the next swap shows) and writes it as an image file, top row first.</summary>
    public void SaveScreenshot(string path)
    {
        int w = Layout.Width, h = Layout.Height;
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

    public void Dispose()
    {
        _frame?.Dispose();
        Strip.Dispose();
        _atlas.Dispose();
        _ranges.Dispose();
        _heat.Dispose();
        _scale.Dispose();
        _font.Dispose();
        _batch.Dispose();
        _camera.Dispose();
        _hud.Dispose();
        _features.Dispose();
    }
}
