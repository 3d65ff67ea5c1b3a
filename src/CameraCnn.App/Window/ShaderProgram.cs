// ShaderProgram: a vertex + fragment shader pair compiled from files in shaders/. Compile and link errors are
// thrown with the file name and the driver's log; uniform locations are looked up once and cached by the caller.
using Silk.NET.OpenGL;

namespace CameraCnn.App.Window;

/// <summary>A shader source file failed to load, compile or link; the message names the file and holds the GL log.</summary>
internal sealed class ShaderException(string message) : Exception(message);

/// <summary>A linked GL program.</summary>
internal sealed class ShaderProgram : IDisposable
{
    /// <summary>Environment variable naming another shader directory (for editing shaders without rebuilding).</summary>
    public const string DirectoryVariable = "CAMCNN_SHADERS";

    private readonly GL _gl;
    public uint Handle { get; private set; }
    public string Name { get; }

    /// <summary>shaders/ next to the binary, or $CAMCNN_SHADERS.</summary>
    public static string DefaultDirectory =>
        Environment.GetEnvironmentVariable(DirectoryVariable) is { Length: > 0 } dir ? dir : Path.Combine(AppContext.BaseDirectory, "shaders");

    public ShaderProgram(GL gl, string directory, string vertexFile, string fragmentFile)
    {
        _gl = gl;
        Name = $"{vertexFile} + {fragmentFile}";
        uint vs = Compile(ShaderType.VertexShader, Path.Combine(directory, vertexFile));
        uint fs;
        try { fs = Compile(ShaderType.FragmentShader, Path.Combine(directory, fragmentFile)); }
        catch
        {
            gl.DeleteShader(vs);
            throw;
        }
        Handle = gl.CreateProgram();
        gl.AttachShader(Handle, vs);
        gl.AttachShader(Handle, fs);
        gl.LinkProgram(Handle);
        gl.DetachShader(Handle, vs);
        gl.DetachShader(Handle, fs);
        gl.DeleteShader(vs);
        gl.DeleteShader(fs);
        gl.GetProgram(Handle, ProgramPropertyARB.LinkStatus, out int linked);
        if (linked == 0)
        {
            string log = gl.GetProgramInfoLog(Handle).Trim();
            gl.DeleteProgram(Handle);
            Handle = 0;
            throw new ShaderException($"shader link failed ({Name}): {OneLine(log)}");
        }
    }

    private uint Compile(ShaderType type, string path)
    {
        string source;
        try { source = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ShaderException($"cannot read shader {path}: {e.Message}");
        }
        uint shader = _gl.CreateShader(type);
        _gl.ShaderSource(shader, source);
        _gl.CompileShader(shader);
        _gl.GetShader(shader, ShaderParameterName.CompileStatus, out int ok);
        if (ok != 0) return shader;
        string log = _gl.GetShaderInfoLog(shader).Trim();
        _gl.DeleteShader(shader);
        throw new ShaderException($"shader compile failed in {path}: {OneLine(log)}");
    }

    private static string OneLine(string log) => string.Join(" | ", log.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>The location of a uniform (start-up only; keep the result). A missing uniform is an error, not -1.</summary>
    public int Uniform(string name)
    {
        int location = _gl.GetUniformLocation(Handle, name);
        if (location < 0) throw new ShaderException($"uniform '{name}' not found in {Name} (unused uniforms are optimised away)");
        return location;
    }

    public void Use() => _gl.UseProgram(Handle);

    public void Dispose()
    {
        if (Handle == 0) return;
        _gl.DeleteProgram(Handle);
        Handle = 0;
    }
}
