// HostileWindowTests: the rows of issue 15 that need the live window: `run --screenshot shot.png` on a full disk with
// shot.png already there (row 5) used to print "libpng error: Write Error" and lose the old file; now the screenshot
// is written by the output rule (temp file + rename) and the run fails with one line, the old file whole.
using CameraCnn.App.Tests.Infrastructure;
using CameraCnn.App.Tests.Window;
using CameraCnn.Tests.Shared;

namespace CameraCnn.App.Tests;

[Collection(WindowCollection.Name)]
public sealed class HostileWindowTests(WindowFixture f) : IDisposable
{
    private readonly TempDir _dir = new("camcnn-hostile-window");

    public void Dispose() => _dir.Dispose();

    [NeedsFact(Need.Mount)]
    public void Row05_a_screenshot_on_a_full_disk_fails_with_one_line_and_keeps_the_old_one()
    {
        string disk = _dir.Sub("disk");
        using var mount = SpecialFiles.MountTmpfs(disk, 256);
        string shot = Path.Combine(disk, "shot.png");
        WindowRunner.WriteStill(shot);
        byte[] before = File.ReadAllBytes(shot);
        SpecialFiles.FillUp(disk); // every byte of the new screenshot must fail

        string stats = _dir["stats.json"];
        var r = f.Runner.OnDisplay(["run", "--model", f.Runner.ModelPath, "--source", f.Runner.ImagePath, "--frames", "3",
            "--screenshot", shot, "--stats-json", stats]);
        string line = CliAssert.FailedCleanly(r, 1, progressNotesAllowed: true, shot, "No space left on device");
        Assert.DoesNotContain("libpng", r.Stderr);
        Assert.Equal(before, File.ReadAllBytes(shot));
        Assert.Equal(["filler", "shot.png"], Directory.GetFileSystemEntries(disk).Select(Path.GetFileName).Order()); // no temp file left
        Assert.StartsWith("camcnn: error: cannot write", line);
    }
}
