// CaptureKit: test sources and helpers for the capture tests: a FrameSource the test drives frame by frame (and makes
// fail), videos written with OpenCV's VideoWriter, and polling with a timeout instead of sleeps.
using System.Diagnostics;
using OpenCvSharp;
using Xunit.Sdk;

namespace CameraCnn.Vision.Tests;

/// <summary>
/// A live source that delivers a frame only when the test <see cref="Release"/>s one, each drawn as synthetic pattern frame
/// number <see cref="Next"/> (so pixels carry the number). It can lose the device at chosen frames, fail chosen Open
/// calls, throw, or end (then rewind) like a file.
/// </summary>
public sealed class ScriptedSource : FrameSource
{
    private readonly SemaphoreSlim _allowed = new(0);
    private int _opens;

    public const int FrameWidth = 64, FrameHeight = 48;

    /// <summary>Frame numbers at which Read reports the device lost (once each) instead of delivering.</summary>
    public HashSet<long> LoseAt { get; } = [];

    /// <summary>1-based Open calls that throw (1 is the initial open).</summary>
    public Func<int, bool> OpenFails { get; set; } = _ => false;

    /// <summary>Read throws this (not a FrameSourceException) at this frame number.</summary>
    public long ThrowAt { get; set; } = -1;

    /// <summary>When set, the source is a file of this many frames: End after them, rewindable.</summary>
    public long? Length { get; init; }

    public long Next { get; private set; }
    public int Opens => Volatile.Read(ref _opens);
    public int Closes;

    public override string Description => "scripted source";
    public override bool IsLive => Length is null;
    public override bool CanRewind => Length is not null;

    public void Release(int frames) => _allowed.Release(frames);

    public override void Open()
    {
        int n = Interlocked.Increment(ref _opens);
        if (OpenFails(n)) throw new FrameSourceException($"scripted open failure #{n}");
        Width = FrameWidth;
        Height = FrameHeight;
        Fps = 25;
    }

    public override FrameRead Read(Mat frame, CancellationToken cancel)
    {
        if (Length is { } len && Next >= len) return FrameRead.End;
        if (Next == ThrowAt) throw new InvalidOperationException("scripted driver crash");
        if (LoseAt.Remove(Next)) return FrameRead.Lost;
        try
        {
            _allowed.Wait(cancel);
        }
        catch (OperationCanceledException)
        {
            return FrameRead.Lost;
        }
        SyntheticSource.Draw(frame, Next, FrameWidth, FrameHeight);
        Position = Next++;
        return FrameRead.Frame;
    }

    public override void Rewind() => Next = 0;

    public override void Close() => Interlocked.Increment(ref Closes);
}

public static class CaptureKit
{
    /// <summary>Grey level that frame <paramref name="i"/> of a <see cref="WriteVideo"/> video is painted with.</summary>
    public static int Level(int i) => 8 + 12 * (i % 20);

    /// <summary>The frame number a <see cref="WriteVideo"/> frame shows (robust to JPEG error: levels are 12 apart).</summary>
    public static int FrameNumberOf(Mat frame) => (int)Math.Round((Cv2.Mean(frame).Val1 - 8) / 12);

    /// <summary>
    /// Writes an MJPG .avi (the fourcc this OpenCvSharp runtime writes and reads back through FFmpeg) whose frame i is a
    /// flat grey of <see cref="Level"/>(i) with a white bar whose position also moves.
    /// </summary>
    public static string WriteVideo(string path, int frames, int width = 64, int height = 48, double fps = 25)
    {
        using (var writer = new VideoWriter(path, FourCC.MJPG, fps, new Size(width, height)))
        {
            if (!writer.IsOpened()) throw new XunitException($"VideoWriter cannot write MJPG to {path}");
            for (int i = 0; i < frames; i++)
            {
                using var mat = new Mat(height, width, MatType.CV_8UC3, Scalar.All(Level(i)));
                writer.Write(mat);
            }
        }
        if (new FileInfo(path).Length == 0) throw new XunitException($"VideoWriter wrote nothing to {path}");
        return path;
    }

    /// <summary>Polls <paramref name="condition"/> until true; fails the test after <paramref name="seconds"/>.</summary>
    public static void Eventually(Func<bool> condition, string what, double seconds = 10)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed.TotalSeconds > seconds) throw new XunitException($"timed out after {seconds} s waiting for: {what}");
            Thread.Sleep(2);
        }
    }

    /// <summary>Takes the next frame or fails the test.</summary>
    public static CapturedFrame Take(CaptureThread capture, double seconds = 10)
    {
        if (!capture.TakeLatest(TimeSpan.FromSeconds(seconds), out var frame))
            throw new XunitException($"no frame within {seconds} s; status {capture.Status}");
        return frame;
    }
}
