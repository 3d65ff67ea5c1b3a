// Texture: one GL 2-D texture whose storage is allocated once; the frame loop only rewrites regions of it
// (TexSubImage2D), so nothing is reallocated on the GPU or the CPU per frame.
using Silk.NET.OpenGL;

namespace CameraCnn.App.Window;

/// <summary>An immutable-size 2-D texture (camera frame, font atlas, feature-map atlas, channel ranges).</summary>
internal sealed unsafe class Texture : IDisposable
{
    private readonly GL _gl;
    private readonly PixelFormat _format;
    private readonly PixelType _type;

    public uint Handle { get; private set; }
    public int Width { get; }
    public int Height { get; }

    /// <param name="internalFormat">e.g. Rgb8, R8, R32f, RG32f.</param>
    /// <param name="format">the layout of the CPU data given to <see cref="Update"/> (e.g. Bgr for OpenCV frames).</param>
    /// <param name="linear">linear filtering (camera, text) or nearest (feature maps: one texel = one activation).</param>
    public Texture(GL gl, int width, int height, InternalFormat internalFormat, PixelFormat format, PixelType type, bool linear)
    {
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"texture size {width}x{height}");
        _gl = gl;
        _format = format;
        _type = type;
        Width = width;
        Height = height;
        Handle = gl.GenTexture();
        gl.BindTexture(TextureTarget.Texture2D, Handle);
        gl.TexImage2D(TextureTarget.Texture2D, 0, internalFormat, (uint)width, (uint)height, 0, format, type, null);
        int filter = (int)(linear ? TextureMinFilter.Linear : TextureMinFilter.Nearest);
        gl.TexParameter(TextureTarget.Texture2D, TextureParameterName.TextureMinFilter, filter);
        gl.TexParameter(TextureTarget.Texture2D, TextureParameterName.TextureMagFilter, filter);
        gl.TexParameter(TextureTarget.Texture2D, TextureParameterName.TextureWrapS, (int)TextureWrapMode.ClampToEdge);
        gl.TexParameter(TextureTarget.Texture2D, TextureParameterName.TextureWrapT, (int)TextureWrapMode.ClampToEdge);
    }

    /// <summary>Rewrites the region (x, y, width, height) from tightly packed rows at <paramref name="data"/>.</summary>
    public void Update(int x, int y, int width, int height, void* data)
    {
        if (width <= 0 || height <= 0) return;
        if (x < 0 || y < 0 || x + width > Width || y + height > Height)
            throw new ArgumentOutOfRangeException(nameof(width), $"region {x},{y} {width}x{height} outside the {Width}x{Height} texture");
        _gl.BindTexture(TextureTarget.Texture2D, Handle);
        _gl.PixelStore(PixelStoreParameter.UnpackAlignment, 1);
        _gl.TexSubImage2D(TextureTarget.Texture2D, 0, x, y, (uint)width, (uint)height, _format, _type, data);
    }

    public void Bind(int unit)
    {
        _gl.ActiveTexture(TextureUnit.Texture0 + unit);
        _gl.BindTexture(TextureTarget.Texture2D, Handle);
    }

    public void Dispose()
    {
        if (Handle == 0) return;
        _gl.DeleteTexture(Handle);
        Handle = 0;
    }
}
