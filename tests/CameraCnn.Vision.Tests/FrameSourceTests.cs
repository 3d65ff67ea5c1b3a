// FrameSourceTests: resolving --source strings, image folders (order, corrupt files, empty), and clean failures for a
// missing camera, missing or undecodable videos — each a FrameSourceException with one line naming the source.
using System.Diagnostics;
using OpenCvSharp;
using static CameraCnn.Vision.Tests.CaptureKit;

namespace CameraCnn.Vision.Tests;

public class FrameSourceTests
{
    [Fact]
    public void Source_strings_resolve_to_the_right_kind()
    {
        using var tmp = new TempDir();
        string video = WriteVideo(Path.Combine(tmp.Path, "v.avi"), 2);
        string image = SolidImage.Write(Path.Combine(tmp.Path, "i.png"), 4, 4, SolidImage.Red);

        Assert.IsType<SyntheticSource>(FrameSources.Create("synthetic"));
        Assert.Equal(2, Assert.IsType<CameraSource>(FrameSources.Create("2")).Index);
        Assert.IsType<ImageFolderSource>(FrameSources.Create(tmp.Path));
        Assert.IsType<ImageFolderSource>(FrameSources.Create(image));
        Assert.True(Assert.IsType<VideoSource>(FrameSources.Create(video)).IsFile);
        var stream = Assert.IsType<VideoSource>(FrameSources.Create("rtsp://127.0.0.1:1/none"));
        Assert.False(stream.IsFile);
        Assert.True(stream.IsLive);

        var e = Assert.Throws<FrameSourceException>(() => FrameSources.Create(Path.Combine(tmp.Path, "nope.avi")));
        Assert.Contains("source not found", e.Message);
        Assert.Contains("nope.avi", e.Message);
        Assert.Throws<FrameSourceException>(() => FrameSources.Create("  "));
    }

    [Fact]
    public void A_camera_index_that_does_not_exist_fails_at_once_naming_it()
    {
        const int index = 57; // no machine this runs on has 58 video devices
        using var camera = new CameraSource(index);
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<FrameSourceException>(camera.Open);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        Assert.Contains($"camera {index}", e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void Probing_cameras_reports_what_exists_without_throwing()
    {
        var cameras = CameraSource.Probe();
        if (OperatingSystem.IsLinux())
            Assert.Equal(Directory.GetFiles("/dev", "video*").Length > 0, cameras.Count > 0);
        Assert.All(cameras, c => Assert.True(c.Available || c.Error is not null));
    }

    [Fact]
    public void Missing_empty_and_undecodable_videos_fail_clearly()
    {
        using var tmp = new TempDir();
        string missing = Path.Combine(tmp.Path, "missing.avi");
        Assert.Contains("not found", Assert.Throws<FrameSourceException>(VideoSource.FromFile(missing).Open).Message);

        string empty = Path.Combine(tmp.Path, "empty.avi");
        File.WriteAllBytes(empty, []);
        Assert.Contains("empty", Assert.Throws<FrameSourceException>(VideoSource.FromFile(empty).Open).Message);

        string garbage = Path.Combine(tmp.Path, "garbage.avi");
        File.WriteAllBytes(garbage, Enumerable.Range(0, 5000).Select(i => (byte)(i * 7919 >> 3)).ToArray());
        var e = Assert.Throws<FrameSourceException>(VideoSource.FromFile(garbage).Open);
        Assert.Contains("cannot open video file", e.Message);
        Assert.Contains("garbage.avi", e.Message);

        Assert.Contains("directory", Assert.Throws<FrameSourceException>(VideoSource.FromFile(tmp.Path).Open).Message);
    }

    [Fact]
    public void An_image_folder_plays_its_images_in_path_order_skipping_corrupt_ones()
    {
        using var tmp = new TempDir();
        SolidImage.Write(Path.Combine(tmp.Sub("b"), "1.png"), 10, 12, SolidImage.Blue);
        SolidImage.Write(Path.Combine(tmp.Sub("a"), "2.jpg"), 20, 16, SolidImage.Green);
        SolidImage.Write(Path.Combine(tmp.Sub("a"), "1.png"), 8, 8, SolidImage.Red);
        File.WriteAllBytes(Path.Combine(tmp.Sub("a"), "3.png"), [1, 2, 3, 4, 5]);
        File.WriteAllText(Path.Combine(tmp.Path, "notes.txt"), "not an image");

        var source = new ImageFolderSource(tmp.Path);
        var warnings = new List<string>();
        source.Warning += warnings.Add;
        using var capture = new CaptureThread(source, new CaptureOptions { Lossless = true });
        capture.Start();
        var got = new List<(string? Name, long Index, double Blue, double Red)>();
        while (capture.TakeLatest(TimeSpan.FromSeconds(10), out var f))
            got.Add((f.SourceName, f.SourceIndex, Cv2.Mean(f.Image).Val0, Cv2.Mean(f.Image).Val2));

        Assert.Equal([Path.Combine("a", "1.png"), Path.Combine("a", "2.jpg"), Path.Combine("b", "1.png")], got.Select(g => g.Name));
        Assert.Equal([0L, 1, 3], got.Select(g => g.Index));
        Assert.Equal(255, got[0].Red, 0);
        Assert.Equal(255, got[2].Blue, 0);
        Assert.Equal(1, source.Skipped);
        Assert.Single(warnings);
        Assert.Contains("3.png", warnings[0]);
        Assert.Equal(CaptureState.Ended, capture.Status.State);
    }

    [Fact]
    public void A_looped_folder_reports_a_corrupt_image_once()
    {
        using var tmp = new TempDir();
        SolidImage.Write(Path.Combine(tmp.Path, "1.png"), 4, 4, SolidImage.Red);
        File.WriteAllBytes(Path.Combine(tmp.Path, "2.png"), [0x89, 0x50, 0x4E, 0x47, 1, 2]);
        var source = new ImageFolderSource(tmp.Path);
        int warnings = 0;
        source.Warning += _ => Interlocked.Increment(ref warnings);
        using var capture = new CaptureThread(source, new CaptureOptions { Lossless = true, Loop = true });
        capture.Start();
        for (int i = 0; i < 5; i++) Assert.Equal("1.png", Take(capture).SourceName);
        Assert.Equal(1, source.Skipped);
        Assert.Equal(1, Volatile.Read(ref warnings));
    }

    [Fact]
    public void An_empty_folder_fails_to_open_and_a_folder_of_corrupt_images_fails_with_a_status()
    {
        using var tmp = new TempDir();
        string empty = tmp.Sub("empty");
        var e = Assert.Throws<FrameSourceException>(new ImageFolderSource(empty).Open);
        Assert.Contains("no images", e.Message);
        Assert.Contains(empty, e.Message);

        string bad = tmp.Sub("bad");
        File.WriteAllBytes(Path.Combine(bad, "x.png"), [1, 2, 3]);
        File.WriteAllBytes(Path.Combine(bad, "y.jpg"), []);
        using var capture = new CaptureThread(new ImageFolderSource(bad), new CaptureOptions { Loop = true });
        capture.Start();
        Assert.False(capture.TakeLatest(TimeSpan.FromSeconds(10), out _));
        Assert.Equal(CaptureState.Failed, capture.Status.State);
        Assert.Contains("no readable frames (2 unreadable skipped)", capture.Status.Message);
    }

    [Fact]
    public void A_single_image_is_a_one_frame_source()
    {
        using var tmp = new TempDir();
        string image = SolidImage.Write(Path.Combine(tmp.Path, "one.bmp"), 6, 9, SolidImage.Green);
        using var capture = new CaptureThread(FrameSources.Create(image), new CaptureOptions { Lossless = true });
        capture.Start();
        var frame = Take(capture);
        Assert.Equal(9, frame.Image.Cols);
        Assert.Equal(6, frame.Image.Rows);
        Assert.False(capture.TakeLatest(TimeSpan.FromSeconds(5), out _));
        Assert.Equal(CaptureState.Ended, capture.Status.State);
    }

    [Fact]
    public void The_synthetic_pattern_honours_the_request_and_moves()
    {
        using var source = new SyntheticSource(new CaptureRequest(100, 60, 0));
        source.Open();
        Assert.Equal((100, 60, 0.0), (source.Width, source.Height, source.Fps));
        using var a = new Mat();
        using var b = new Mat();
        Assert.Equal(FrameRead.Frame, source.Read(a, default));
        Assert.Equal(FrameRead.Frame, source.Read(b, default));
        Assert.Equal(MatType.CV_8UC3, a.Type());
        Assert.Equal((0L, 1L), (SyntheticSource.ReadFrameNumber(a), SyntheticSource.ReadFrameNumber(b)));
        using var diff = new Mat();
        Cv2.Absdiff(a, b, diff);
        Assert.True(Cv2.CountNonZero(diff.Reshape(1)) > 100 * 60 / 2, "consecutive frames should differ");
        Assert.Throws<ArgumentException>(() => new SyntheticSource(new CaptureRequest(0, 10)));
    }
}
