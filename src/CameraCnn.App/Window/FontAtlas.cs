// FontAtlas: printable ASCII rasterised once at start-up with OpenCV's Hershey simplex font (anti-aliased) into
// one R8 texture, plus an all-white cell for solid rectangles; FontMetrics, the same font's sizes without GL (the
// layout needs them). Drawing text is adding quads to a QuadBatch: no allocation, one draw call for all the HUD.
using OpenCvSharp;
using Silk.NET.OpenGL;

namespace CameraCnn.App.Window;

/// <summary>
/// The font's sizes, without GL: line height, ascent and each character's advance (OpenCV's own measure of the Hershey
/// font). The layout and its tests use them; <see cref="FontAtlas"/> rasterises the same glyphs into a texture.
/// </summary>
internal sealed class FontMetrics
{
    public const char First = ' ', Last = '~';
    public const int Pad = 3;
    public const HersheyFonts Face = HersheyFonts.HersheySimplex;

    private readonly float[] _advance = new float[128];

    /// <param name="pixelScale">framebuffer pixels per window unit (2 on HiDPI screens): glyphs are rasterised at that size, drawn 1:1.</param>
    public FontMetrics(float pixelScale)
    {
        Scale = 0.5 * pixelScale;
        Thickness = Math.Max(1, (int)Math.Round(pixelScale));
        var full = Cv2.GetTextSize("Ag|jy", Face, Scale, Thickness, out int descent);
        int maxWidth = 0;
        for (char c = First; c <= Last; c++)
        {
            var size = Cv2.GetTextSize(c.ToString(), Face, Scale, Thickness, out _);
            _advance[c] = size.Width;
            maxWidth = Math.Max(maxWidth, size.Width);
        }
        GlyphAscent = full.Height;
        Descent = descent;
        CellWidth = maxWidth + 2 * Pad;
        CellHeight = GlyphAscent + descent + 2 * Pad;
        Ascent = GlyphAscent + Pad;
        LineHeight = GlyphAscent + descent + Pad + 2;
    }

    public double Scale { get; }
    public int Thickness { get; }
    public int GlyphAscent { get; }
    public int Descent { get; }
    /// <summary>One glyph's cell in the atlas: the widest glyph and the full height, with padding.</summary>
    public int CellWidth { get; }
    public int CellHeight { get; }
    /// <summary>Distance from the top of a line to the baseline, and the line spacing, in pixels.</summary>
    public float Ascent { get; }
    public float LineHeight { get; }

    /// <summary>How far the pen moves for <paramref name="c"/> ('?' stands in for characters the font lacks).</summary>
    public float Advance(char c) => _advance[c is >= First and <= Last ? c : '?'];

    /// <summary>Width of <paramref name="text"/> in pixels.</summary>
    public float Measure(ReadOnlySpan<char> text)
    {
        float w = 0;
        foreach (char c in text) w += Advance(c);
        return w;
    }
}

/// <summary>A bitmap font (the glyphs of <see cref="FontMetrics"/> in one texture) and the white texel the HUD's rectangles use.</summary>
internal sealed unsafe class FontAtlas : IDisposable
{
    private const char First = FontMetrics.First, Last = FontMetrics.Last;
    private const int Columns = 16, Pad = FontMetrics.Pad;

    private readonly float[] _u0 = new float[128], _v0 = new float[128];
    private readonly float _cellW, _cellH, _du, _dv;

    public FontMetrics Metrics { get; }
    public Texture Texture { get; }
    public float LineHeight => Metrics.LineHeight;
    /// <summary>Texture coordinate of a white texel (solid rectangles).</summary>
    public float WhiteU { get; }
    public float WhiteV { get; }

    public FontAtlas(GL gl, FontMetrics metrics)
    {
        Metrics = metrics;
        int cellW = metrics.CellWidth, cellH = metrics.CellHeight, ascent = metrics.GlyphAscent;
        int glyphs = Last - First + 2; // + the white cell
        int rows = (glyphs + Columns - 1) / Columns;
        int width = Columns * cellW, height = rows * cellH;
        using var atlas = new Mat(height, width, MatType.CV_8UC1, Scalar.Black);
        for (char c = First; c <= Last; c++)
        {
            int i = c - First, x = i % Columns * cellW, y = i / Columns * cellH;
            Cv2.PutText(atlas, c.ToString(), new Point(x + Pad, y + Pad + ascent), FontMetrics.Face, metrics.Scale, Scalar.White,
                metrics.Thickness, LineTypes.AntiAlias);
            _u0[c] = (float)x / width;
            _v0[c] = (float)y / height;
        }
        int white = Last - First + 1;
        int wx = white % Columns * cellW, wy = white / Columns * cellH;
        // Only the middle of the white cell: a glyph quad that samples a texel past its own cell must find black.
        atlas.Rectangle(new Rect(wx + Pad, wy + Pad, cellW - 2 * Pad, cellH - 2 * Pad), Scalar.White, -1);
        WhiteU = (wx + cellW * 0.5f) / width;
        WhiteV = (wy + cellH * 0.5f) / height;

        Texture = new Texture(gl, width, height, InternalFormat.R8, PixelFormat.Red, PixelType.UnsignedByte, linear: false);
        Texture.Update(0, 0, width, height, (void*)atlas.Data);
        _cellW = cellW;
        _cellH = cellH;
        _du = (float)cellW / width;
        _dv = (float)cellH / height;
    }

    /// <summary>Width of <paramref name="text"/> in pixels.</summary>
    public float Measure(ReadOnlySpan<char> text) => Metrics.Measure(text);

    /// <summary>
    /// Adds the glyphs of <paramref name="text"/> with the line's top at y; text that would pass <paramref name="right"/>
    /// is cut and ends in "..". Returns the pen's x after it.
    /// </summary>
    public float Draw(QuadBatch batch, ReadOnlySpan<char> text, float x, float y, float r, float g, float b, float a, float right = float.MaxValue)
    {
        x = MathF.Round(x);
        y = MathF.Round(y);
        bool cut = x + Measure(text) > right;
        float limit = cut ? right - 2 * Metrics.Advance('.') : float.MaxValue;
        foreach (char ch in text)
        {
            char c = ch is >= First and <= Last ? ch : '?';
            if (x + Metrics.Advance(c) > limit) break;
            x = Glyph(batch, c, x, y, r, g, b, a);
        }
        if (cut)
        {
            x = Glyph(batch, '.', x, y, r, g, b, a);
            x = Glyph(batch, '.', x, y, r, g, b, a);
        }
        return x;
    }

    private float Glyph(QuadBatch batch, char c, float x, float y, float r, float g, float b, float a)
    {
        if (c != ' ')
            batch.Add(x - Pad, y - Pad, x - Pad + _cellW, y - Pad + _cellH, _u0[c], _v0[c], _u0[c] + _du, _v0[c] + _dv, r, g, b, a);
        return x + Metrics.Advance(c);
    }

    /// <summary>A solid rectangle (the white cell tinted).</summary>
    public void Rect(QuadBatch batch, float x0, float y0, float x1, float y1, float r, float g, float b, float a) =>
        batch.Add(x0, y0, x1, y1, WhiteU, WhiteV, WhiteU, WhiteV, r, g, b, a);

    public void Dispose() => Texture.Dispose();
}

/// <summary>A reusable character buffer for HUD lines: numbers are formatted in place (TryFormat), so no strings are made per frame.</summary>
internal sealed class TextLine(int capacity = 256)
{
    private readonly char[] _chars = new char[capacity];
    private int _length;

    public ReadOnlySpan<char> Span => _chars.AsSpan(0, _length);

    public TextLine Clear()
    {
        _length = 0;
        return this;
    }

    public TextLine Append(ReadOnlySpan<char> s)
    {
        int n = Math.Min(s.Length, _chars.Length - _length);
        s[..n].CopyTo(_chars.AsSpan(_length));
        _length += n;
        return this;
    }

    public TextLine Append(double value, ReadOnlySpan<char> format)
    {
        if (double.IsNaN(value)) return Append("-");
        if (value.TryFormat(_chars.AsSpan(_length), out int written, format, System.Globalization.CultureInfo.InvariantCulture))
            _length += written;
        return this;
    }

    public TextLine Append(long value)
    {
        if (value.TryFormat(_chars.AsSpan(_length), out int written, default, System.Globalization.CultureInfo.InvariantCulture))
            _length += written;
        return this;
    }
}
