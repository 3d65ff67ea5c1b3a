// VirtualDisplay: an Xvfb server of its own for the window tests (what `xvfb-run -a -s "-screen 0 WxHx24"` does, kept
// running across runs: one server start instead of one per run, and no xvfb-run temp-directory races).
using System.Diagnostics;
using Xunit.Sdk;

namespace CameraCnn.App.Tests.Window;

public sealed class VirtualDisplay : IDisposable
{
    private readonly Process _server;

    private VirtualDisplay(Process server, int number)
    {
        _server = server;
        Name = $":{number}";
    }

    /// <summary>The DISPLAY value, e.g. ":117".</summary>
    public string Name { get; }

    public const string InstallHint = "the window tests need Xvfb: sudo apt-get install -y xvfb xauth libglfw3 libgl1-mesa-dri (scripts/setup.sh does this)";

    /// <summary>Starts Xvfb on a free display number with one screen of width x height x 24 bits.</summary>
    public static VirtualDisplay Start(int width, int height)
    {
        string xvfb = WindowRunner.FindOnPath("Xvfb") ?? throw new XunitException(InstallHint);
        int first = 100 + Random.Shared.Next(800);
        for (int number = first; number < first + 20; number++)
        {
            if (File.Exists($"/tmp/.X{number}-lock") || File.Exists($"/tmp/.X11-unix/X{number}")) continue;
            var psi = new ProcessStartInfo(xvfb)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (string a in new[] { $":{number}", "-screen", "0", $"{width}x{height}x24", "-nolisten", "tcp" }) psi.ArgumentList.Add(a);
            var server = Process.Start(psi) ?? throw new XunitException($"could not start {xvfb}");
            server.OutputDataReceived += (_, _) => { };
            server.ErrorDataReceived += (_, _) => { }; // keymap chatter; drained so the server never blocks on a full pipe
            server.BeginOutputReadLine();
            server.BeginErrorReadLine();
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromSeconds(10) && !server.HasExited)
            {
                if (File.Exists($"/tmp/.X11-unix/X{number}")) return new VirtualDisplay(server, number);
                Thread.Sleep(20);
            }
            if (!server.HasExited) server.Kill();
            server.Dispose();
        }
        throw new XunitException($"Xvfb did not start on any display from :{first} to :{first + 19}");
    }

    public void Dispose()
    {
        try
        {
            if (!_server.HasExited)
            {
                _server.Kill();
                _server.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException) { }
        _server.Dispose();
    }
}
