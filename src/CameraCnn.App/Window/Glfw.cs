// Glfw: a thin binding to the system GLFW 3 library (Debian libglfw3, glfw3.dll on Windows), loaded at run time
// through NativeLibrary and called through unmanaged function pointers. Only what the live window uses; no wrapper
// types, no managed delegates (callbacks are [UnmanagedCallersOnly] methods, so nothing is pinned or allocated).
using System.Runtime.InteropServices;

namespace CameraCnn.App.Window;

/// <summary>GLFW 3.3 entry points and constants (names and values as in glfw3.h).</summary>
internal static unsafe class Glfw
{
    public const int Release = 0, Press = 1, Repeat = 2;
    public const int ModShift = 0x0001, ModAlt = 0x0004;
    public const int MouseButtonLeft = 0, MouseButtonRight = 1;
    public const int KeySpace = 32, KeyMinus = 45, KeyEqual = 61, KeyA = 65, KeyLeftBracket = 91, KeyRightBracket = 93;
    public const int KeyEscape = 256, KeyEnter = 257, KeyBackspace = 259, KeyDelete = 261, KeyRight = 262, KeyLeft = 263, KeyDown = 264, KeyUp = 265;
    public const int KeyF11 = 300, KeyKpSubtract = 333, KeyKpAdd = 334, KeyKpEnter = 335;
    public const int Resizable = 0x00020003, Visible = 0x00020004, ScaleToMonitor = 0x0002200C, CocoaRetinaFramebuffer = 0x00023001;
    public const int ContextVersionMajor = 0x00022002, ContextVersionMinor = 0x00022003;
    public const int OpenGlForwardCompat = 0x00022006, OpenGlProfile = 0x00022008, OpenGlCoreProfile = 0x00032001;
    public const int DontCare = -1;

    /// <summary>GLFWvidmode.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct VideoMode
    {
        public int Width, Height, RedBits, GreenBits, BlueBits, RefreshRate;
    }

    /// <summary>Environment variable naming the GLFW library file to load instead of the platform's default names.</summary>
    public const string LibraryVariable = "CAMCNN_GLFW";

    private static nint _library;

    public static delegate* unmanaged[Cdecl]<int> Init;
    public static delegate* unmanaged[Cdecl]<void> Terminate;
    public static delegate* unmanaged[Cdecl]<int*, int*, int*, void> GetVersion;
    public static delegate* unmanaged[Cdecl]<delegate* unmanaged[Cdecl]<int, byte*, void>, nint> SetErrorCallback;
    public static delegate* unmanaged[Cdecl]<void> DefaultWindowHints;
    public static delegate* unmanaged[Cdecl]<int, int, void> WindowHint;
    public static delegate* unmanaged[Cdecl]<int, int, byte*, nint, nint, nint> CreateWindow;
    public static delegate* unmanaged[Cdecl]<nint, void> DestroyWindow;
    public static delegate* unmanaged[Cdecl]<nint, void> MakeContextCurrent;
    public static delegate* unmanaged[Cdecl]<int, void> SwapInterval;
    public static delegate* unmanaged[Cdecl]<nint, void> SwapBuffers;
    public static delegate* unmanaged[Cdecl]<void> PollEvents;
    public static delegate* unmanaged[Cdecl]<double, void> WaitEventsTimeout;
    public static delegate* unmanaged[Cdecl]<void> PostEmptyEvent;
    public static delegate* unmanaged[Cdecl]<nint, int> WindowShouldClose;
    public static delegate* unmanaged[Cdecl]<nint, int, void> SetWindowShouldClose;
    public static delegate* unmanaged[Cdecl]<byte*, nint> GetProcAddress;
    public static delegate* unmanaged[Cdecl]<nint, int*, int*, void> GetFramebufferSize;
    public static delegate* unmanaged[Cdecl]<nint, int*, int*, void> GetWindowSize;
    public static delegate* unmanaged[Cdecl]<nint, int*, int*, void> GetWindowPos;
    public static delegate* unmanaged[Cdecl]<nint, float*, float*, void> GetWindowContentScale;
    public static delegate* unmanaged[Cdecl]<nint, double*, double*, void> GetCursorPos;
    public static delegate* unmanaged[Cdecl]<nint, byte*, void> SetWindowTitle;
    public static delegate* unmanaged[Cdecl]<nint> GetPrimaryMonitor;
    public static delegate* unmanaged[Cdecl]<nint, VideoMode*> GetVideoMode;
    public static delegate* unmanaged[Cdecl]<nint, nint> GetWindowMonitor;
    public static delegate* unmanaged[Cdecl]<nint, nint, int, int, int, int, int, void> SetWindowMonitor;
    public static delegate* unmanaged[Cdecl]<nint, int, int, int, int, void> SetWindowSizeLimits;
    public static delegate* unmanaged[Cdecl]<nint, delegate* unmanaged[Cdecl]<nint, int, int, int, int, void>, nint> SetKeyCallback;
    public static delegate* unmanaged[Cdecl]<nint, delegate* unmanaged[Cdecl]<nint, int, int, int, void>, nint> SetMouseButtonCallback;
    public static delegate* unmanaged[Cdecl]<nint, delegate* unmanaged[Cdecl]<nint, double, double, void>, nint> SetScrollCallback;
    public static delegate* unmanaged[Cdecl]<nint, delegate* unmanaged[Cdecl]<nint, uint, void>, nint> SetCharCallback;

    /// <summary>True once the library has been loaded and every entry point resolved.</summary>
    public static bool Loaded => _library != 0;

    /// <summary>
    /// Loads GLFW 3 ($CAMCNN_GLFW, else the platform's usual file names). Throws <see cref="WindowException"/> with the
    /// package to install when it is missing or too old (3.3 is needed for content scale).
    /// </summary>
    public static void Load()
    {
        if (Loaded) return;
        string? explicitPath = Environment.GetEnvironmentVariable(LibraryVariable);
        string[] names = !string.IsNullOrEmpty(explicitPath) ? [explicitPath]
            : OperatingSystem.IsWindows() ? ["glfw3.dll", "glfw.dll"]
            : OperatingSystem.IsMacOS() ? ["libglfw.3.dylib", "libglfw.dylib"]
            : ["libglfw.so.3", "libglfw.so"];
        nint lib = 0;
        foreach (string name in names)
            if (NativeLibrary.TryLoad(name, typeof(Glfw).Assembly, null, out lib)) break;
        if (lib == 0) throw new WindowException($"the GLFW 3 library was not found ({string.Join(", ", names)}); {InstallHint}");

        try
        {
            Init = (delegate* unmanaged[Cdecl]<int>)Export(lib, "glfwInit");
            Terminate = (delegate* unmanaged[Cdecl]<void>)Export(lib, "glfwTerminate");
            GetVersion = (delegate* unmanaged[Cdecl]<int*, int*, int*, void>)Export(lib, "glfwGetVersion");
            SetErrorCallback = (delegate* unmanaged[Cdecl]<delegate* unmanaged[Cdecl]<int, byte*, void>, nint>)Export(lib, "glfwSetErrorCallback");
            DefaultWindowHints = (delegate* unmanaged[Cdecl]<void>)Export(lib, "glfwDefaultWindowHints");
            WindowHint = (delegate* unmanaged[Cdecl]<int, int, void>)Export(lib, "glfwWindowHint");
            CreateWindow = (delegate* unmanaged[Cdecl]<int, int, byte*, nint, nint, nint>)Export(lib, "glfwCreateWindow");
            DestroyWindow = (delegate* unmanaged[Cdecl]<nint, void>)Export(lib, "glfwDestroyWindow");
            MakeContextCurrent = (delegate* unmanaged[Cdecl]<nint, void>)Export(lib, "glfwMakeContextCurrent");
            SwapInterval = (delegate* unmanaged[Cdecl]<int, void>)Export(lib, "glfwSwapInterval");
            SwapBuffers = (delegate* unmanaged[Cdecl]<nint, void>)Export(lib, "glfwSwapBuffers");
            PollEvents = (delegate* unmanaged[Cdecl]<void>)Export(lib, "glfwPollEvents");
            WaitEventsTimeout = (delegate* unmanaged[Cdecl]<double, void>)Export(lib, "glfwWaitEventsTimeout");
            PostEmptyEvent = (delegate* unmanaged[Cdecl]<void>)Export(lib, "glfwPostEmptyEvent");
            WindowShouldClose = (delegate* unmanaged[Cdecl]<nint, int>)Export(lib, "glfwWindowShouldClose");
            SetWindowShouldClose = (delegate* unmanaged[Cdecl]<nint, int, void>)Export(lib, "glfwSetWindowShouldClose");
            GetProcAddress = (delegate* unmanaged[Cdecl]<byte*, nint>)Export(lib, "glfwGetProcAddress");
            GetFramebufferSize = (delegate* unmanaged[Cdecl]<nint, int*, int*, void>)Export(lib, "glfwGetFramebufferSize");
            GetWindowSize = (delegate* unmanaged[Cdecl]<nint, int*, int*, void>)Export(lib, "glfwGetWindowSize");
            GetWindowPos = (delegate* unmanaged[Cdecl]<nint, int*, int*, void>)Export(lib, "glfwGetWindowPos");
            GetWindowContentScale = (delegate* unmanaged[Cdecl]<nint, float*, float*, void>)Export(lib, "glfwGetWindowContentScale");
            GetCursorPos = (delegate* unmanaged[Cdecl]<nint, double*, double*, void>)Export(lib, "glfwGetCursorPos");
            SetWindowTitle = (delegate* unmanaged[Cdecl]<nint, byte*, void>)Export(lib, "glfwSetWindowTitle");
            GetPrimaryMonitor = (delegate* unmanaged[Cdecl]<nint>)Export(lib, "glfwGetPrimaryMonitor");
            GetVideoMode = (delegate* unmanaged[Cdecl]<nint, VideoMode*>)Export(lib, "glfwGetVideoMode");
            GetWindowMonitor = (delegate* unmanaged[Cdecl]<nint, nint>)Export(lib, "glfwGetWindowMonitor");
            SetWindowMonitor = (delegate* unmanaged[Cdecl]<nint, nint, int, int, int, int, int, void>)Export(lib, "glfwSetWindowMonitor");
            SetWindowSizeLimits = (delegate* unmanaged[Cdecl]<nint, int, int, int, int, void>)Export(lib, "glfwSetWindowSizeLimits");
            SetKeyCallback = (delegate* unmanaged[Cdecl]<nint, delegate* unmanaged[Cdecl]<nint, int, int, int, int, void>, nint>)Export(lib, "glfwSetKeyCallback");
            SetMouseButtonCallback = (delegate* unmanaged[Cdecl]<nint, delegate* unmanaged[Cdecl]<nint, int, int, int, void>, nint>)Export(lib, "glfwSetMouseButtonCallback");
            SetScrollCallback = (delegate* unmanaged[Cdecl]<nint, delegate* unmanaged[Cdecl]<nint, double, double, void>, nint>)Export(lib, "glfwSetScrollCallback");
            SetCharCallback = (delegate* unmanaged[Cdecl]<nint, delegate* unmanaged[Cdecl]<nint, uint, void>, nint>)Export(lib, "glfwSetCharCallback");
        }
        catch (EntryPointNotFoundException e)
        {
            NativeLibrary.Free(lib);
            throw new WindowException($"the GLFW library is older than 3.3 ({e.Message}); {InstallHint}");
        }
        _library = lib;
    }

    /// <summary>What to install, per platform, in one clause.</summary>
    public static string InstallHint =>
        OperatingSystem.IsWindows() ? "put glfw3.dll (GLFW 3.3+, from glfw.org) next to camcnn or on PATH"
        : OperatingSystem.IsMacOS() ? "install it with: brew install glfw"
        : "install it with: sudo apt-get install libglfw3";

    private static nint Export(nint lib, string name) =>
        NativeLibrary.TryGetExport(lib, name, out nint f) ? f : throw new EntryPointNotFoundException(name);

    /// <summary>"3.3.8".</summary>
    public static string VersionString()
    {
        int major, minor, rev;
        GetVersion(&major, &minor, &rev);
        return $"{major}.{minor}.{rev}";
    }

    /// <summary>glfwCreateWindow with a managed title (start-up only: it allocates).</summary>
    public static nint CreateWindowWithTitle(int width, int height, string title)
    {
        byte[] utf8 = NullTerminatedUtf8(title);
        fixed (byte* p = utf8) return CreateWindow(width, height, p, 0, 0);
    }

    public static void SetTitle(nint window, string title)
    {
        byte[] utf8 = NullTerminatedUtf8(title);
        fixed (byte* p = utf8) SetWindowTitle(window, p);
    }

    /// <summary>glfwGetProcAddress for a managed name; used once per GL entry point when Silk.NET binds them.</summary>
    public static nint ProcAddress(string name)
    {
        byte[] utf8 = NullTerminatedUtf8(name);
        fixed (byte* p = utf8) return GetProcAddress(p);
    }

    private static byte[] NullTerminatedUtf8(string s)
    {
        byte[] bytes = new byte[System.Text.Encoding.UTF8.GetByteCount(s) + 1];
        System.Text.Encoding.UTF8.GetBytes(s, bytes);
        return bytes;
    }
}

/// <summary>The window could not be opened (no display, no GLFW, no OpenGL 3.3): the message says what to do.</summary>
internal sealed class WindowException(string message) : Exception(message);
