// TeachWindowTests: teach mode in the live window under Xvfb: with a backbone (resnet18) the digit keys record the
// frame on screen into the --data folder, and W then a digit adds one more to that class.
using System.Text.Json;
using CameraCnn.App.Tests.Infrastructure;

namespace CameraCnn.App.Tests.Window;

[Collection(WindowCollection.Name)]
public sealed class TeachWindowTests(WindowFixture f)
{
    [Fact]
    public void DigitKeys_RecordFrames_IntoTheDataFolder()
    {
        string data = Path.Combine(f.Runner.Directory, "teach-data");
        string stats = Path.Combine(f.Runner.Directory, "teach-stats.json");
        if (Directory.Exists(data)) Directory.Delete(data, recursive: true);

        var r = f.Runner.OnDisplay(["run", "--model", "resnet18", "--source", f.Runner.ImagePath, "--frames", "60", "--max-fps", "60",
            "--keys", "1,2,W,1,V", "--data", data, "--stats-json", stats]);

        CliAssert.Succeeded(r);
        Assert.Equal(2, Frames(Path.Combine(data, "class1")));
        Assert.Equal(1, Frames(Path.Combine(data, "class2")));
        using var doc = JsonDocument.Parse(File.ReadAllText(stats));
        var teach = doc.RootElement.GetProperty("teach");
        Assert.Equal(3, teach.GetProperty("recorded").GetInt32());
        Assert.Equal(Path.GetFullPath(data), Path.GetFullPath(teach.GetProperty("data").GetString()!));
    }

    private static int Frames(string dir) =>
        Directory.Exists(dir) ? Directory.EnumerateFiles(dir).Count(p => !Path.GetFileName(p).StartsWith('.')) : 0;
}
