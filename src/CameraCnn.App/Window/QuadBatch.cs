// QuadBatch: a vertex array with one streamed vertex buffer and a fixed index buffer, filled with quads on the CPU
// (into an array allocated once) and drawn with one call per flush. Vertex: position (2, framebuffer pixels),
// uv (2), data (4: colour for the HUD, channel/opacity for feature maps); the layout quad.vert declares.
using Silk.NET.OpenGL;

namespace CameraCnn.App.Window;

/// <summary>Batches textured quads; <see cref="Flush"/> draws them with whatever program is in use.</summary>
internal sealed unsafe class QuadBatch : IDisposable
{
    private const int FloatsPerVertex = 8, VerticesPerQuad = 4, IndicesPerQuad = 6;

    private readonly GL _gl;
    private readonly float[] _vertices;
    private uint _vao, _vbo, _ebo;
    private int _quads;

    public int Capacity { get; }

    public QuadBatch(GL gl, int capacity)
    {
        _gl = gl;
        Capacity = capacity;
        _vertices = new float[capacity * VerticesPerQuad * FloatsPerVertex];
        _vao = gl.GenVertexArray();
        gl.BindVertexArray(_vao);
        _vbo = gl.GenBuffer();
        gl.BindBuffer(BufferTargetARB.ArrayBuffer, _vbo);
        gl.BufferData(BufferTargetARB.ArrayBuffer, (nuint)(_vertices.Length * sizeof(float)), null, BufferUsageARB.StreamDraw);
        var indices = new uint[capacity * IndicesPerQuad];
        for (uint q = 0, v = 0, i = 0; q < capacity; q++, v += 4)
        {
            indices[i++] = v; indices[i++] = v + 1; indices[i++] = v + 2;
            indices[i++] = v; indices[i++] = v + 2; indices[i++] = v + 3;
        }
        _ebo = gl.GenBuffer();
        gl.BindBuffer(BufferTargetARB.ElementArrayBuffer, _ebo);
        fixed (uint* p = indices)
            gl.BufferData(BufferTargetARB.ElementArrayBuffer, (nuint)(indices.Length * sizeof(uint)), p, BufferUsageARB.StaticDraw);
        uint stride = FloatsPerVertex * sizeof(float);
        gl.EnableVertexAttribArray(0);
        gl.VertexAttribPointer(0, 2, VertexAttribPointerType.Float, false, stride, (void*)0);
        gl.EnableVertexAttribArray(1);
        gl.VertexAttribPointer(1, 2, VertexAttribPointerType.Float, false, stride, (void*)(2 * sizeof(float)));
        gl.EnableVertexAttribArray(2);
        gl.VertexAttribPointer(2, 4, VertexAttribPointerType.Float, false, stride, (void*)(4 * sizeof(float)));
        gl.BindVertexArray(0);
    }

    public int Count => _quads;

    /// <summary>Adds the axis-aligned quad (x0, y0)-(x1, y1) with texture corners (u0, v0)-(u1, v1). Full batches are dropped, never grown.</summary>
    public void Add(float x0, float y0, float x1, float y1, float u0, float v0, float u1, float v1, float d0, float d1, float d2, float d3)
    {
        if (_quads >= Capacity) return;
        int o = _quads * VerticesPerQuad * FloatsPerVertex;
        var a = _vertices;
        Vertex(a, o, x0, y0, u0, v0, d0, d1, d2, d3);
        Vertex(a, o + 8, x1, y0, u1, v0, d0, d1, d2, d3);
        Vertex(a, o + 16, x1, y1, u1, v1, d0, d1, d2, d3);
        Vertex(a, o + 24, x0, y1, u0, v1, d0, d1, d2, d3);
        _quads++;
    }

    private static void Vertex(float[] a, int o, float x, float y, float u, float v, float d0, float d1, float d2, float d3)
    {
        a[o] = x; a[o + 1] = y; a[o + 2] = u; a[o + 3] = v;
        a[o + 4] = d0; a[o + 5] = d1; a[o + 6] = d2; a[o + 7] = d3;
    }

    /// <summary>Uploads and draws the quads added since the last flush with the current program, then empties the batch.</summary>
    public void Flush()
    {
        if (_quads == 0) return;
        _gl.BindVertexArray(_vao);
        _gl.BindBuffer(BufferTargetARB.ArrayBuffer, _vbo);
        nuint bytes = (nuint)(_quads * VerticesPerQuad * FloatsPerVertex * sizeof(float));
        // Orphan the buffer so the driver need not wait for the previous draw that still reads it.
        _gl.BufferData(BufferTargetARB.ArrayBuffer, (nuint)(_vertices.Length * sizeof(float)), null, BufferUsageARB.StreamDraw);
        fixed (float* p = _vertices) _gl.BufferSubData(BufferTargetARB.ArrayBuffer, 0, bytes, p);
        _gl.DrawElements(PrimitiveType.Triangles, (uint)(_quads * IndicesPerQuad), DrawElementsType.UnsignedInt, null);
        _quads = 0;
    }

    public void Dispose()
    {
        if (_vao == 0) return;
        _gl.DeleteBuffer(_vbo);
        _gl.DeleteBuffer(_ebo);
        _gl.DeleteVertexArray(_vao);
        _vao = _vbo = _ebo = 0;
    }
}
