// GlWindow: the GLFW window with an OpenGL 3.3 core context (through Silk.NET.OpenGL), vsync, resizable,
// fullscreen toggle, and its input as a queue of small structs filled by GLFW's callbacks (static, unmanaged-callable:
// no delegates, nothing allocated per event). Sizes: the window size is in screen units, the framebuffer in pixels
// (they differ on HiDPI screens); everything is drawn in framebuffer pixels.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Silk.NET.OpenGL;

namespace CameraCnn.App.Window;

internal enum InputKind : byte
{
    /// <summary>A key went down (<see cref="InputEvent.Key"/> is a GLFW key code).</summary>
    Key,
    /// <summary>The system's auto-repeat of a held key.</summary>
    KeyRepeat,
    /// <summary>A key went up.</summary>
    KeyRelease,
    /// <summary>Text typed (<see cref="InputEvent.Key"/> is a Unicode code point), after the key's own event.</summary>
    Char,
    Click,
    Scroll,
}

/// <summary>One input event. Click positions are framebuffer pixels.</summary>
internal readonly record struct InputEvent(InputKind Kind, int Key, int Mods, float X, float Y, float Delta)
{
    public static InputEvent KeyPress(int key, int mods = 0) => new(InputKind.Key, key, mods, 0, 0, 0);
    public static InputEvent KeyRelease(int key, int mods = 0) => new(InputKind.KeyRelease, key, mods, 0, 0, 0);
    public static InputEvent Text(int codePoint) => new(InputKind.Char, codePoint, 0, 0, 0, 0);
}

/// <summary>The live window. One per process; created and used on one thread.</summary>
internal sealed unsafe class GlWindow : IDisposable
{
    private static GlWindow? _current;
    private static string _lastGlfwError = "";

    private readonly InputEvent[] _events = new InputEvent[256];
    private int _eventHead, _eventCount;
    private nint _handle;
    private int _windowedX, _windowedY, _windowedW, _windowedH;

    public GL Gl { get; }
    public string GlVersion { get; }
    public string GlRenderer { get; }
    public bool VsyncRequested { get; }

    /// <summary>OpenGL runs on the CPU (Mesa llvmpipe/softpipe, SwiftShader): drawing competes with inference for cores.</summary>
    public bool IsSoftwareRenderer =>
        GlRenderer.Contains("llvmpipe", StringComparison.OrdinalIgnoreCase) || GlRenderer.Contains("softpipe", StringComparison.OrdinalIgnoreCase)
        || GlRenderer.Contains("SwiftShader", StringComparison.OrdinalIgnoreCase);

    private GlWindow(nint handle, GL gl, bool vsync)
    {
        _handle = handle;
        Gl = gl;
        VsyncRequested = vsync;
        GlVersion = gl.GetStringS(StringName.Version) ?? "?";
        GlRenderer = gl.GetStringS(StringName.Renderer) ?? "?";
    }

    /// <summary>
    /// Opens the window and makes its GL 3.3 core context current on this thread. Throws <see cref="WindowException"/>
    /// with what to do when there is no display, no GLFW or no GL 3.3.
    /// </summary>
    public static GlWindow Open(string title, int width, int height, bool fullscreen, bool vsync)
    {
        if (_current is not null) throw new InvalidOperationException("one window per process");
        Preflight();
        Glfw.SetErrorCallback(&OnError);
        if (Glfw.Init() == 0)
            throw new WindowException($"GLFW could not initialise ({Detail()}); {NoDisplayAdvice}");

        Glfw.DefaultWindowHints();
        Glfw.WindowHint(Glfw.ContextVersionMajor, 3);
        Glfw.WindowHint(Glfw.ContextVersionMinor, 3);
        Glfw.WindowHint(Glfw.OpenGlProfile, Glfw.OpenGlCoreProfile);
        Glfw.WindowHint(Glfw.OpenGlForwardCompat, 1);
        Glfw.WindowHint(Glfw.Resizable, 1);
        Glfw.WindowHint(Glfw.ScaleToMonitor, 1);
        Glfw.WindowHint(Glfw.CocoaRetinaFramebuffer, 1);
        nint handle = Glfw.CreateWindowWithTitle(width, height, title);
        if (handle == 0)
        {
            string detail = Detail();
            Glfw.Terminate();
            throw new WindowException($"no OpenGL 3.3 core context ({detail}); " + (OperatingSystem.IsLinux()
                ? "install Mesa with: sudo apt-get install libgl1-mesa-dri (or a GPU driver with OpenGL 3.3)"
                : "update the graphics driver to one with OpenGL 3.3"));
        }
        Glfw.MakeContextCurrent(handle);
        Glfw.SwapInterval(vsync ? 1 : 0);
        GL gl;
        try { gl = GL.GetApi(Glfw.ProcAddress); }
        catch (Exception e) when (e is InvalidOperationException or EntryPointNotFoundException)
        {
            Glfw.DestroyWindow(handle);
            Glfw.Terminate();
            throw new WindowException($"OpenGL functions could not be loaded: {e.Message}");
        }
        var window = new GlWindow(handle, gl, vsync);
        _current = window;
        Glfw.SetWindowSizeLimits(handle, 320, 240, Glfw.DontCare, Glfw.DontCare);
        Glfw.SetKeyCallback(handle, &OnKey);
        Glfw.SetMouseButtonCallback(handle, &OnMouseButton);
        Glfw.SetScrollCallback(handle, &OnScroll);
        Glfw.SetCharCallback(handle, &OnChar);
        if (fullscreen) window.ToggleFullscreen();
        return window;
    }

    public const string NoDisplayAdvice =
        "run it under a virtual display with `xvfb-run -a camcnn run ...`, or without a window with `camcnn run --headless`";

    /// <summary>
    /// The cheap checks, done before a model is loaded: a display is set (X11/Wayland systems) and GLFW loads.
    /// Throws <see cref="WindowException"/> with what to do.
    /// </summary>
    public static void Preflight()
    {
        if (!OperatingSystem.IsWindows() && !OperatingSystem.IsMacOS()
            && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("DISPLAY"))
            && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("WAYLAND_DISPLAY")))
            throw new WindowException($"no display (DISPLAY and WAYLAND_DISPLAY are not set): {NoDisplayAdvice}");
        Glfw.Load();
    }

    private static string Detail() => _lastGlfwError.Length > 0 ? _lastGlfwError : "no detail from GLFW";

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnError(int code, byte* description)
    {
        _lastGlfwError = $"GLFW error 0x{code:X}: {Marshal.PtrToStringUTF8((nint)description)}";
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnKey(nint window, int key, int scancode, int action, int mods)
    {
        var kind = action switch { Glfw.Press => InputKind.Key, Glfw.Repeat => InputKind.KeyRepeat, _ => InputKind.KeyRelease };
        _current?.Enqueue(new InputEvent(kind, key, mods, 0, 0, 0));
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnChar(nint window, uint codePoint)
    {
        if (codePoint <= 0x10FFFF) _current?.Enqueue(InputEvent.Text((int)codePoint));
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnMouseButton(nint window, int button, int action, int mods)
    {
        if (action != Glfw.Press || _current is not { } w) return;
        double x, y;
        Glfw.GetCursorPos(window, &x, &y);
        var (sx, sy) = w.PixelRatio;
        w.Enqueue(new InputEvent(InputKind.Click, button, mods, (float)(x * sx), (float)(y * sy), 0));
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnScroll(nint window, double dx, double dy)
    {
        _current?.Enqueue(new InputEvent(InputKind.Scroll, 0, 0, 0, 0, (float)dy));
    }

    /// <summary>Adds an event as if it came from GLFW (the --keys script uses this path too).</summary>
    public void Enqueue(in InputEvent e)
    {
        if (_eventCount == _events.Length) return; // a flood of events: drop, never grow
        _events[(_eventHead + _eventCount) % _events.Length] = e;
        _eventCount++;
    }

    public bool TryDequeue(out InputEvent e)
    {
        if (_eventCount == 0)
        {
            e = default;
            return false;
        }
        e = _events[_eventHead];
        _eventHead = (_eventHead + 1) % _events.Length;
        _eventCount--;
        return true;
    }

    public void PollEvents() => Glfw.PollEvents();

    /// <summary>Processes events, sleeping up to <paramref name="seconds"/> until one arrives (or <see cref="Wake"/> is called).</summary>
    public void WaitEvents(double seconds)
    {
        if (seconds > 0) Glfw.WaitEventsTimeout(seconds);
        else Glfw.PollEvents();
    }

    /// <summary>Wakes the render thread from <see cref="WaitEvents"/> (any thread; GLFW's glfwPostEmptyEvent is thread-safe).</summary>
    public static void Wake()
    {
        if (_current is not null) Glfw.PostEmptyEvent();
    }
    public void SwapBuffers() => Glfw.SwapBuffers(_handle);
    public bool ShouldClose => Glfw.WindowShouldClose(_handle) != 0;
    public void Close() => Glfw.SetWindowShouldClose(_handle, 1);
    public void SetTitle(string title) => Glfw.SetTitle(_handle, title);

    /// <summary>Drawable size in pixels.</summary>
    public (int Width, int Height) FramebufferSize
    {
        get
        {
            int w, h;
            Glfw.GetFramebufferSize(_handle, &w, &h);
            return (w, h);
        }
    }

    public (int Width, int Height) WindowSize
    {
        get
        {
            int w, h;
            Glfw.GetWindowSize(_handle, &w, &h);
            return (w, h);
        }
    }

    /// <summary>Framebuffer pixels per window unit (cursor positions come in window units).</summary>
    public (float X, float Y) PixelRatio
    {
        get
        {
            var (fw, fh) = FramebufferSize;
            var (ww, wh) = WindowSize;
            return (ww > 0 ? (float)fw / ww : 1f, wh > 0 ? (float)fh / wh : 1f);
        }
    }

    /// <summary>The mouse cursor in framebuffer pixels (it may lie outside the window).</summary>
    public (float X, float Y) CursorPosition
    {
        get
        {
            double x, y;
            Glfw.GetCursorPos(_handle, &x, &y);
            var (sx, sy) = PixelRatio;
            return ((float)(x * sx), (float)(y * sy));
        }
    }

    /// <summary>The desktop's UI scale for this window (1 on ordinary screens, 2 on HiDPI, ...).</summary>
    public float ContentScale
    {
        get
        {
            float x, y;
            Glfw.GetWindowContentScale(_handle, &x, &y);
            float s = Math.Max(x, y);
            return float.IsFinite(s) && s >= 0.5f ? s : 1f;
        }
    }

    public bool IsFullscreen => Glfw.GetWindowMonitor(_handle) != 0;

    /// <summary>Between windowed and fullscreen on the primary monitor at its current mode (restoring the window's place).</summary>
    public void ToggleFullscreen()
    {
        if (IsFullscreen)
        {
            Glfw.SetWindowMonitor(_handle, 0, _windowedX, _windowedY, Math.Max(320, _windowedW), Math.Max(240, _windowedH), Glfw.DontCare);
            Glfw.SwapInterval(VsyncRequested ? 1 : 0);
            return;
        }
        nint monitor = Glfw.GetPrimaryMonitor();
        if (monitor == 0) return;
        var mode = Glfw.GetVideoMode(monitor);
        if (mode == null) return;
        int x, y, w, h;
        Glfw.GetWindowPos(_handle, &x, &y);
        Glfw.GetWindowSize(_handle, &w, &h);
        (_windowedX, _windowedY, _windowedW, _windowedH) = (x, y, w, h);
        Glfw.SetWindowMonitor(_handle, monitor, 0, 0, mode->Width, mode->Height, mode->RefreshRate);
        Glfw.SwapInterval(VsyncRequested ? 1 : 0);
    }

    public void Dispose()
    {
        if (_handle == 0) return;
        Gl.Dispose();
        Glfw.DestroyWindow(_handle);
        _handle = 0;
        _current = null;
        Glfw.Terminate();
    }
}
