// CaptureThreadTests: the latest-frame slot (order, dropping, ownership), lossless and looping files, pacing, mirroring,
// reconnecting with back-off, failures as statuses, and zero allocation per frame. Counts and order, never exact FPS.
using System.Collections.Concurrent;
using System.Diagnostics;
using OpenCvSharp;
using static CameraCnn.Vision.Tests.CaptureKit;

namespace CameraCnn.Vision.Tests;

public class CaptureThreadTests
{
    private static readonly CaptureOptions FastReconnect = new()
    {
        ReconnectDelay = TimeSpan.FromMilliseconds(5),
        MaxReconnectDelay = TimeSpan.FromMilliseconds(20),
    };

    [Fact]
    public void Reader_gets_the_newest_frame_and_older_ones_are_dropped_and_counted()
    {
        var source = new ScriptedSource();
        using var capture = new CaptureThread(source);
        capture.Start();
        Assert.Equal(CaptureState.Running, capture.Status.State);
        Assert.False(capture.TryTakeLatest(out _));

        source.Release(5);
        Eventually(() => capture.Captured == 5, "5 frames captured");
        Assert.True(capture.TryTakeLatest(out var frame));
        Assert.Equal(5, frame.Sequence);
        Assert.Equal(4, SyntheticSource.ReadFrameNumber(frame.Image));
        Assert.Equal(4, frame.SourceIndex);
        Assert.Equal(4, capture.Dropped); // frames 1..4 were replaced before anyone took them
        Assert.False(capture.TryTakeLatest(out _)); // nothing new since

        source.Release(1);
        var next = Take(capture);
        Assert.Equal(6, next.Sequence);
        Assert.Equal(4, capture.Dropped);
        Assert.Equal(2, capture.Delivered);
        Assert.Equal(capture.Captured, capture.Delivered + capture.Dropped);
        Assert.True(next.Timestamp >= frame.Timestamp);
    }

    [Fact]
    public void The_frame_a_reader_holds_is_not_overwritten_until_it_takes_another()
    {
        var source = new ScriptedSource();
        using var capture = new CaptureThread(source);
        capture.Start();
        source.Release(1);
        var held = Take(capture);
        Assert.Equal(0, SyntheticSource.ReadFrameNumber(held.Image));

        source.Release(10); // the writer cycles through the other two frames of the ring meanwhile
        Eventually(() => capture.Captured == 11, "11 frames captured");
        Assert.Equal(0, SyntheticSource.ReadFrameNumber(held.Image));
        Assert.Equal(1, held.Sequence);

        var newest = Take(capture);
        Assert.NotSame(held, newest);
        Assert.Equal(10, SyntheticSource.ReadFrameNumber(newest.Image));
        Assert.Equal(9, capture.Dropped);
    }

    [Fact]
    public void Each_reader_gets_its_own_copy_of_the_newest_frame_and_a_paused_reader_none()
    {
        var source = new ScriptedSource();
        using var capture = new CaptureThread(source, new CaptureOptions { Readers = 2 });
        var (a, b) = (capture.Readers[0], capture.Readers[1]);
        int published = 0;
        b.Published += () => Interlocked.Increment(ref published);
        capture.Start();
        source.Release(3);
        Eventually(() => capture.Captured == 3, "3 frames captured");
        Assert.True(a.TryTake(out var fa));
        Assert.True(b.TryTake(out var fb));
        Assert.Equal(3, fa.Sequence);
        Assert.Equal(3, fb.Sequence);
        Assert.Equal(2, SyntheticSource.ReadFrameNumber(fa.Image));
        Assert.Equal(2, SyntheticSource.ReadFrameNumber(fb.Image));
        Assert.NotEqual(fa.Image.Data, fb.Image.Data); // two copies: neither reader waits for the other
        Assert.Equal(3, Volatile.Read(ref published));
        Assert.Equal(2, a.Dropped);
        Assert.Equal(2, b.Dropped);

        // b looks away: a keeps getting frames while the frame b holds stays as it was.
        source.Release(1);
        Assert.Equal(4, Take(capture).Sequence);
        Assert.Same(fb, b.Current);
        Assert.Equal(2, SyntheticSource.ReadFrameNumber(fb.Image));

        // Paused, b is skipped: no copy, no drop; it still has frame 4 waiting.
        b.Paused = true;
        source.Release(5);
        Eventually(() => capture.Captured == 9, "9 frames captured");
        Assert.Equal(9, Take(capture).Sequence);
        Assert.True(b.TryTake(out var waiting));
        Assert.Equal(4, waiting.Sequence);
        Assert.Equal(2, b.Dropped);
        Assert.Equal(4, Volatile.Read(ref published));
        Assert.False(b.TryTake(out _));
    }

    [Fact]
    public void Lossless_mode_delivers_every_frame_in_order()
    {
        var source = new ScriptedSource();
        using var capture = new CaptureThread(source, new CaptureOptions { Lossless = true });
        capture.Start();
        source.Release(30);
        for (int i = 0; i < 30; i++)
        {
            var frame = Take(capture);
            Assert.Equal(i + 1, frame.Sequence);
            Assert.Equal(i, SyntheticSource.ReadFrameNumber(frame.Image));
        }
        Assert.Equal(0, capture.Dropped);
        Assert.Equal(30, capture.Captured);
    }

    [Fact]
    public void A_lost_source_is_reopened_with_back_off_and_the_status_says_so()
    {
        var source = new ScriptedSource { OpenFails = n => n is 2 or 3 };
        source.LoseAt.Add(3);
        var statuses = new ConcurrentQueue<CaptureStatus>();
        using var capture = new CaptureThread(source, FastReconnect with { Lossless = true });
        capture.StatusChanged += statuses.Enqueue;
        capture.Start();
        source.Release(10);

        for (int i = 0; i < 10; i++)
        {
            var frame = Take(capture);
            Assert.Equal(i + 1, frame.Sequence);
            Assert.Equal(i, SyntheticSource.ReadFrameNumber(frame.Image)); // nothing lost or repeated around the gap
        }
        Assert.Equal(1, capture.Reconnects);
        Assert.Equal(4, source.Opens); // the first open, two failed re-opens, one that worked
        Assert.Equal(CaptureState.Running, capture.Status.State);

        var seen = statuses.ToArray();
        var reconnecting = seen.Where(s => s.State == CaptureState.Reconnecting).ToArray();
        Assert.Equal([1, 2, 3], reconnecting.Select(s => s.Attempt));
        Assert.Contains("scripted open failure #2", reconnecting[1].Message);
        int last = Array.FindLastIndex(seen, s => s.State == CaptureState.Reconnecting);
        Assert.Equal(CaptureState.Running, seen[last + 1].State);
        Assert.Contains("reconnected", seen[last + 1].Message);
    }

    [Fact]
    public void Reconnecting_gives_up_after_the_allowed_attempts()
    {
        var source = new ScriptedSource { OpenFails = n => n > 1 };
        source.LoseAt.Add(1);
        using var capture = new CaptureThread(source, FastReconnect with { MaxReconnectAttempts = 3 });
        capture.Start();
        source.Release(5);
        Eventually(() => capture.IsFinished, "capture finished");
        Assert.Equal(CaptureState.Failed, capture.Status.State);
        Assert.Contains("gave up after 3", capture.Status.Message);
        Assert.Equal(4, source.Opens);
        Assert.True(capture.TakeLatest(TimeSpan.FromSeconds(1), out var frame)); // frame 0, published before the loss
        Assert.Equal(0, SyntheticSource.ReadFrameNumber(frame.Image));
        Assert.False(capture.TakeLatest(TimeSpan.FromSeconds(1), out _));
    }

    [Fact]
    public void Stop_does_not_wait_out_a_reconnect_back_off()
    {
        var source = new ScriptedSource { OpenFails = n => n > 1 };
        source.LoseAt.Add(0);
        using var capture = new CaptureThread(source, new CaptureOptions { ReconnectDelay = TimeSpan.FromSeconds(30) });
        capture.Start();
        Eventually(() => capture.Status.State == CaptureState.Reconnecting, "reconnecting");
        var clock = Stopwatch.StartNew();
        capture.Stop();
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"Stop took {clock.Elapsed}");
        Assert.True(capture.IsFinished);
    }

    [Fact]
    public void An_exception_in_the_source_becomes_a_failed_status_not_a_crash()
    {
        var source = new ScriptedSource { ThrowAt = 2 };
        using var capture = new CaptureThread(source, new CaptureOptions { Lossless = true });
        capture.Start();
        source.Release(5);
        Assert.Equal(0, SyntheticSource.ReadFrameNumber(Take(capture).Image));
        Assert.Equal(1, SyntheticSource.ReadFrameNumber(Take(capture).Image));
        Eventually(() => capture.IsFinished, "capture finished");
        Assert.Equal(CaptureState.Failed, capture.Status.State);
        Assert.Contains("scripted driver crash", capture.Status.Message);
        Assert.False(capture.TakeLatest(TimeSpan.FromMilliseconds(100), out _));
    }

    [Fact]
    public void A_source_that_cannot_be_opened_fails_Start()
    {
        var source = new ScriptedSource { OpenFails = _ => true };
        using var capture = new CaptureThread(source);
        var e = Assert.Throws<FrameSourceException>(capture.Start);
        Assert.Contains("scripted open failure #1", e.Message);
        Assert.Equal(CaptureState.Failed, capture.Status.State);
    }

    [Fact]
    public void A_video_plays_once_in_order_then_ends()
    {
        using var tmp = new TempDir();
        string path = WriteVideo(Path.Combine(tmp.Path, "clip.avi"), 12);
        using var capture = new CaptureThread(VideoSource.FromFile(path), new CaptureOptions { Lossless = true });
        capture.Start();
        Assert.Equal(64, capture.Source.Width);
        Assert.Equal(48, capture.Source.Height);
        Assert.Equal(25, capture.Source.Fps, 1);
        for (int i = 0; i < 12; i++)
        {
            var frame = Take(capture);
            Assert.Equal(i, frame.SourceIndex);
            Assert.Equal(i, FrameNumberOf(frame.Image));
            Assert.Equal(MatType.CV_8UC3, frame.Image.Type());
        }
        Assert.False(capture.TakeLatest(TimeSpan.FromSeconds(10), out _));
        Assert.True(capture.IsFinished);
        Assert.Equal(CaptureState.Ended, capture.Status.State);
        Assert.Contains("after 12 frame(s)", capture.Status.Message);
    }

    [Fact]
    public void A_looped_video_starts_over()
    {
        using var tmp = new TempDir();
        string path = WriteVideo(Path.Combine(tmp.Path, "clip.avi"), 7);
        using var capture = new CaptureThread(VideoSource.FromFile(path), new CaptureOptions { Lossless = true, Loop = true });
        capture.Start();
        for (int i = 0; i < 20; i++)
        {
            var frame = Take(capture);
            Assert.Equal(i + 1, frame.Sequence);
            Assert.Equal(i % 7, frame.SourceIndex);
            Assert.Equal(i % 7, FrameNumberOf(frame.Image));
        }
        Assert.Equal(CaptureState.Running, capture.Status.State);
    }

    [Fact]
    public void A_looped_video_that_disappears_waits_reconnecting_and_resumes_when_it_is_back()
    {
        using var tmp = new TempDir();
        string path = WriteVideo(Path.Combine(tmp.Path, "clip.avi"), 6), away = path + ".away";
        using var capture = new CaptureThread(VideoSource.FromFile(path), FastReconnect with { Lossless = true, Loop = true });
        capture.Start();
        File.Move(path, away); // the open file keeps playing; the rewind at its end has to re-open it by name
        for (int i = 0; i < 6; i++) Assert.Equal(i, FrameNumberOf(Take(capture).Image));

        Eventually(() => capture.Status.State == CaptureState.Reconnecting, "reconnecting while the file is gone");
        Assert.Contains("not found", capture.Status.Message);
        Assert.False(capture.TryTakeLatest(out _));
        File.Move(away, path);

        var again = Take(capture);
        Assert.Equal(0, again.SourceIndex);
        Assert.Equal(0, FrameNumberOf(again.Image));
        Assert.Equal(7, again.Sequence);
        Assert.Equal(1, capture.Reconnects);
        Assert.Equal(CaptureState.Running, capture.Status.State);
    }

    [Fact]
    public void Paced_files_take_at_least_their_duration()
    {
        using var tmp = new TempDir();
        string path = WriteVideo(Path.Combine(tmp.Path, "clip.avi"), 10, fps: 25);
        using var capture = new CaptureThread(VideoSource.FromFile(path), new CaptureOptions { Pace = true });
        var clock = Stopwatch.StartNew();
        capture.Start();
        Eventually(() => capture.IsFinished, "the paced video ended");
        // 9 frame intervals of 40 ms; only a lower bound, a busy machine may take longer.
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(340), $"10 frames at 25 fps took only {clock.Elapsed.TotalMilliseconds} ms");
        Assert.Equal(10, capture.Captured);
    }

    [Fact]
    public void Mirror_flips_frames_left_to_right()
    {
        var source = new ScriptedSource();
        using var capture = new CaptureThread(source, new CaptureOptions { Mirror = true });
        capture.Start();
        source.Release(1);
        var frame = Take(capture);
        using var expected = new Mat();
        SyntheticSource.Draw(expected, 0, ScriptedSource.FrameWidth, ScriptedSource.FrameHeight);
        Cv2.Flip(expected, expected, FlipMode.Y);
        using var diff = new Mat();
        Cv2.Absdiff(frame.Image, expected, diff);
        Assert.Equal(0, Cv2.CountNonZero(diff.Reshape(1)));
    }

    [Fact]
    public void The_synthetic_pattern_arrives_in_order_with_drops_counted()
    {
        using var capture = new CaptureThread(new SyntheticSource(new CaptureRequest(160, 120, 0)));
        capture.Start();
        long lastSequence = 0, lastNumber = -1;
        for (int i = 0; i < 40; i++)
        {
            var frame = Take(capture);
            long number = SyntheticSource.ReadFrameNumber(frame.Image);
            Assert.True(frame.Sequence > lastSequence);
            Assert.True(number > lastNumber);
            lastSequence = frame.Sequence;
            lastNumber = number;
        }
        // A reader that looks away: frames keep arriving and all but the newest are dropped.
        long captured = capture.Captured;
        Eventually(() => capture.Captured >= captured + 2, "two more frames");
        long dropped = capture.Dropped;
        Assert.True(SyntheticSource.ReadFrameNumber(Take(capture).Image) > lastNumber);
        capture.Stop();
        Assert.Equal(CaptureState.Ended, capture.Status.State);
        Assert.Equal(capture.Captured, capture.Delivered + capture.Dropped + (capture.TryTakeLatest(out _) ? 1 : 0));
        Assert.True(dropped >= 1, $"dropped {dropped}");
        Assert.True(capture.AverageCaptureFps > 0);
    }

    [Fact]
    public void Capture_and_take_allocate_nothing_per_frame_in_steady_state()
    {
        using var capture = new CaptureThread(new SyntheticSource(new CaptureRequest(160, 120, 0)), new CaptureOptions { Mirror = true });
        capture.Start();
        for (int i = 0; i < 50; i++) Take(capture); // warm-up: ring Mats sized, code jitted
        long writerBefore = capture.AllocatedBytes, capturedBefore = capture.Captured;
        long readerBefore = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 200; i++)
            if (!capture.TakeLatest(TimeSpan.FromSeconds(10), out _)) Assert.Fail("no frame");
        long readerBytes = GC.GetAllocatedBytesForCurrentThread() - readerBefore;
        long writerBytes = capture.AllocatedBytes - writerBefore;
        Assert.True(capture.Captured - capturedBefore >= 200);
        Assert.Equal(0, readerBytes);
        Assert.Equal(0, writerBytes);
    }

    [Fact]
    public void Reading_a_video_allocates_nothing_per_frame()
    {
        using var tmp = new TempDir();
        string path = WriteVideo(Path.Combine(tmp.Path, "long.avi"), 150, 160, 120);
        using var capture = new CaptureThread(VideoSource.FromFile(path), new CaptureOptions { Lossless = true });
        capture.Start();
        for (int i = 0; i < 30; i++) Take(capture);
        long before = capture.AllocatedBytes;
        for (int i = 0; i < 110; i++) Take(capture);
        Assert.Equal(0, capture.AllocatedBytes - before);
    }
}
