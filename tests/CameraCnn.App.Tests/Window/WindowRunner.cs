// WindowRunner: runs `camcnn run` in a real window on a virtual X display (Xvfb, 1280x720x24; Mesa llvmpipe gives
// OpenGL 4.5 core there), with a small model and a still image it makes itself, and gives back the exit code, the
// screenshot and the stats the run wrote.
using System.Diagnostics;
using System.Text.Json;
using CameraCnn.App.Tests.Infrastructure;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Training;
using OpenCvSharp;
using Xunit.Sdk;

namespace CameraCnn.App.Tests.Window;

/// <summary>One windowed run: what it printed, its final frame (BGR) and its --stats-json.</summary>
public sealed record WindowRun(CliResult Result, Mat Screenshot, JsonElement Stats) : IDisposable
{
    public int[]? Rect(string name) =>
        Stats.GetProperty("layout").GetProperty(name) is { ValueKind: JsonValueKind.Array } a ? a.EnumerateArray().Select(e => e.GetInt32()).ToArray() : null;

    public JsonElement View => Stats.GetProperty("view");

    public void Dispose() => Screenshot.Dispose();
}

/// <summary>The model, image and Xvfb command shared by the window tests.</summary>
public sealed class WindowRunner : IDisposable
{
    public const int Width = 1280, Height = 720;
    public static readonly string[] Labels = ["reds", "greens", "blues"];
    /// <summary>Set to a directory to keep the model, screenshots and stats of the window tests there (to look at them).</summary>
    public const string KeepVariable = "CAMCNN_WINDOW_TEST_DIR";
    private readonly TempDir? _temp;
    private readonly string _path;
    private int _runs;
    private readonly Lazy<VirtualDisplay> _display = new(() => VirtualDisplay.Start(Width, Height));

    public WindowRunner()
    {
        string? keep = Environment.GetEnvironmentVariable(KeepVariable);
        if (string.IsNullOrEmpty(keep))
        {
            _temp = new TempDir("camcnn-window-tests");
            _path = _temp.Path;
        }
        else _path = System.IO.Directory.CreateDirectory(keep).FullName;
        ModelPath = In("lenet32.onnx");
        var model = Model.Create("lenet", new Preprocessing { Channels = 3, Height = 32, Width = 32, ColorOrder = "rgb" }, Labels);
        Initializer.Initialize(model.Graph, seed: 1);
        model.Save(ModelPath);
        ImagePath = In("still.png");
        WriteStill(ImagePath);
    }

    public string ModelPath { get; }
    public string ImagePath { get; }
    public string Directory => _path;

    /// <summary>A file of the runner's directory.</summary>
    public string In(string name) => Path.Combine(_path, name);

    /// <summary>
    /// A 320x240 still: the left half red, the right half blue (so the camera picture and its mirror image are easy to
    /// tell apart in a screenshot), with a green disc and white stripes on top for the network to respond to.
    /// </summary>
    public static void WriteStill(string path)
    {
        using var m = new Mat(240, 320, MatType.CV_8UC3, new Scalar(0, 0, 255));
        m.Rectangle(new Rect(160, 0, 160, 240), new Scalar(255, 0, 0), -1);
        m.Circle(new Point(160, 70), 45, new Scalar(0, 255, 0), -1, LineTypes.AntiAlias);
        for (int x = 20; x < 300; x += 24) m.Rectangle(new Rect(x, 130, 10, 30), new Scalar(255, 255, 255), -1);
        if (!Cv2.ImWrite(path, m)) throw new XunitException($"cannot write {path}");
    }

    /// <summary>Runs `camcnn run --model (the small model) --source (the still) --frames N --screenshot --stats-json` plus args under Xvfb.</summary>
    public WindowRun Run(string? keys, int frames = 24, string? source = null, params string[] extra) => RunModel(ModelPath, keys, frames, source, extra);

    /// <summary><see cref="Run"/> with another model.</summary>
    public WindowRun RunModel(string model, string? keys, int frames = 24, string? source = null, params string[] extra)
    {
        int n = Interlocked.Increment(ref _runs);
        string shot = In($"shot{n}.png"), stats = In($"stats{n}.json");
        var args = new List<string>
        {
            "run", "--model", model, "--source", source ?? ImagePath, "--frames", frames.ToString(), "--max-fps", "60",
            "--screenshot", shot, "--stats-json", stats,
        };
        if (keys is not null) args.AddRange(["--keys", keys]);
        args.AddRange(extra);
        var r = OnDisplay(args);
        CliAssert.Succeeded(r);
        Assert.True(File.Exists(shot), $"no screenshot written\n{r}");
        var image = Cv2.ImRead(shot, ImreadModes.Color);
        Assert.Equal(Width, image.Cols);
        Assert.Equal(Height, image.Rows);
        using var doc = JsonDocument.Parse(File.ReadAllText(stats));
        return new WindowRun(r, image, doc.RootElement.Clone());
    }

    /// <summary>Runs `dotnet camcnn.dll args` on the shared virtual display; the test fails (with the output) after the timeout.</summary>
    public CliResult OnDisplay(IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment = null, int timeoutSeconds = 60)
    {
        var env = new Dictionary<string, string?> { ["DISPLAY"] = Display.Name, ["WAYLAND_DISPLAY"] = null };
        if (environment is not null)
            foreach (var (k, v) in environment) env[k] = v;
        return Camcnn.Run(args, null, env, TimeSpan.FromSeconds(timeoutSeconds));
    }

    /// <summary>One Xvfb server for all the window tests (started on first use).</summary>
    public VirtualDisplay Display => _display.Value;

    public static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    public void Dispose()
    {
        if (_display.IsValueCreated) _display.Value.Dispose();
        _temp?.Dispose();
    }
}
