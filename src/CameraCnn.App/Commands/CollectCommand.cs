// camcnn collect: records frames from a camera, video or image folder as PNGs of one class into an ImageFolder data
// set (DIR/NAME/NAME_000001.png, ...), for training or fine-tuning later.
using System.CommandLine;
using System.Text.Json;
using CameraCnn.App.Cli;
using CameraCnn.Vision;

namespace CameraCnn.App.Commands;

public static class CollectCommand
{
    public static Command Create()
    {
        // --class and --data are checked in the action so that `collect --list-cameras` works on its own.
        var cls = new Option<string>("--class") { Description = "class name: the sub-folder and file-name prefix (sanitised) (REQUIRED)" };
        var data = new Option<string>("--data") { Description = "ImageFolder data set directory (created if missing) (REQUIRED)" };
        var frames = new Option<int>("--frames") { Description = "how many frames to save", DefaultValueFactory = _ => 50 };
        var every = new Option<int>("--every") { Description = "save every K-th captured frame", DefaultValueFactory = _ => 1 };
        var json = new Option<bool>("--json") { Description = "print a JSON summary as the last line" };
        var source = new SourceOptions();
        var cmd = new Command("collect", "Record frames of one class as PNG files into an image-folder data set.") { cls, data, frames, every, json };
        source.AddTo(cmd);
        cmd.SetAction(r => CliRunner.Run(() =>
        {
            if (r.GetValue(source.ListCameras)) return SourceOptions.PrintCameras();
            string name = r.GetValue(cls) ?? throw new CliException("--class is required (the name of what the frames show)");
            string dir = r.GetValue(data) ?? throw new CliException("--data is required (the data set directory to write into)");
            return Run(source, r, name, dir, r.GetValue(frames), r.GetValue(every), r.GetValue(json));
        }));
        return cmd;
    }

    private static int Run(SourceOptions source, ParseResult r, string className, string dataDir, int frames, int every, bool json)
    {
        OptionRanges.Whole(frames, "--frames", 1);
        OptionRanges.Whole(every, "--every", 1);
        source.CheckRanges(r);
        if (dataDir.Trim().Length == 0) throw new CliException("--data is empty, expected a folder", CliRunner.UsageError);
        SampleWriter writer;
        try
        {
            writer = new SampleWriter(dataDir, className);
        }
        catch (ArgumentException e)
        {
            throw new CliException(e.Message);
        }
        if (writer.ClassName != className) Report.Note($"class '{className}' is saved as '{writer.ClassName}'");

        using var capture = source.Start(r);
        using var stop = new StopRequest();
        string? first = null, last = null;
        string? error = null;
        long lastSaved = -1; // Sequence of the last saved frame
        Report.WithProgress($"collecting {writer.ClassName}", update =>
        {
            while (!stop.IsRequested && writer.Saved < frames)
            {
                if (!capture.TakeLatest(TimeSpan.FromMilliseconds(250), out var frame))
                {
                    if (capture.IsFinished) break;
                    continue;
                }
                if (lastSaved >= 0 && frame.Sequence - lastSaved < every) continue;
                try
                {
                    last = writer.Save(frame.Image);
                }
                catch (IOException e)
                {
                    error = e.Message; // disk full, read-only...: stop, keep what was saved
                    break;
                }
                first ??= last;
                lastSaved = frame.Sequence;
                update((double)writer.Saved / frames, $"{writer.Saved}/{frames}");
            }
            return 0;
        });
        capture.Stop();

        string range = first is null ? "" : first == last ? $" ({Path.GetFileName(first)})" : $" ({Path.GetFileName(first)} .. {Path.GetFileName(last)})";
        Console.WriteLine($"saved {writer.Saved} frame(s) to {writer.ClassDirectory}{range}");
        if (json)
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                saved = writer.Saved,
                directory = writer.ClassDirectory,
                @class = writer.ClassName,
                first = first is null ? null : Path.GetFileName(first),
                last = last is null ? null : Path.GetFileName(last),
            }));
        if (error is not null)
            return CliRunner.Fail($"{error}; stopped after saving {writer.Saved} frame(s), which are kept", CliRunner.Failed);
        var status = capture.Status;
        if (writer.Saved == 0 && status.State == CaptureState.Failed) return CliRunner.Fail(status.Message, CliRunner.Failed);
        if (writer.Saved < frames && !stop.IsRequested)
            Report.Note($"camcnn: warning: {capture.Source.Description} ended after {writer.Saved} of {frames} frame(s)");
        return CliRunner.Ok;
    }
}
