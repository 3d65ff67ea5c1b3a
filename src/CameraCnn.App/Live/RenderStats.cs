// RenderStats: what the window measures about itself on the render thread: drawn frames per second, latency (capture
// timestamp to the swap that first shows its result), draw + swap time, and the bytes the render thread allocates per
// frame in the steady state (the zero-allocation check). Preallocated rings; recording a frame allocates nothing.
using System.Diagnostics;

namespace CameraCnn.App.Live;

/// <summary>The render loop's figures for the overlay and --stats-json. Render thread only.</summary>
/// <param name="steadyStart">the first frame from which allocations may be counted (after warm-up and scripted keys).</param>
internal sealed class RenderStats(long steadyStart)
{
    private readonly SampleRing _latencies = new(16384), _drawTimes = new(16384);
    private long _allocStart, _allocEnd, _steadyFrom = -1, _steadyFrames, _pendingLatencyFrom;

    /// <summary>Frames drawn per second.</summary>
    public RateMeter Rate { get; } = new();
    /// <summary>Latency smoothed over the last ten or so results, for the overlay (NaN before the first).</summary>
    public double LatencyMs { get; private set; } = double.NaN;

    /// <summary>
    /// The top of each pass of the loop, with the number of frames drawn so far. The steady state starts at the first
    /// pass from <c>steadyStart</c> on that is <paramref name="quiet"/> (no key still to play, nothing still to record
    /// or train): from then on the window only shows new frames and results.
    /// </summary>
    public void LoopStarting(long frame, bool quiet)
    {
        if (_steadyFrom >= 0 || frame < steadyStart || !quiet) return;
        _steadyFrom = frame;
        _allocStart = GC.GetAllocatedBytesForCurrentThread();
    }

    /// <summary>The steady state has begun.</summary>
    public bool Steady => _steadyFrom >= 0;

    /// <summary>A result of a new frame arrived: the next swap shows it.</summary>
    public void ResultArrived(long frameTimestamp) => _pendingLatencyFrom = frameTimestamp;

    /// <summary>The last frame is drawn (before its screenshot and swap): the steady state ends here.</summary>
    public void LastFrameDrawn(long frame)
    {
        if (_steadyFrom < 0) return;
        _allocEnd = GC.GetAllocatedBytesForCurrentThread();
        _steadyFrames = frame - _steadyFrom + 1;
    }

    /// <summary>A frame was swapped to the screen.</summary>
    public void Swapped(long drawStart, long swapped, bool last)
    {
        Rate.Tick(swapped);
        if (!last) _drawTimes.Add(Ms(swapped - drawStart));
        if (_pendingLatencyFrom == 0) return;
        double ms = Ms(swapped - _pendingLatencyFrom);
        _latencies.Add(ms);
        LatencyMs = double.IsNaN(LatencyMs) ? ms : LatencyMs * 0.9 + ms * 0.1;
        _pendingLatencyFrom = 0;
    }

    /// <summary>The loop ended after <paramref name="frames"/> frames (closes the steady state if the last frame did not).</summary>
    public void Ended(long frames)
    {
        if (_steadyFrom < 0 || _allocEnd != 0 || frames <= _steadyFrom) return;
        _allocEnd = GC.GetAllocatedBytesForCurrentThread();
        _steadyFrames = frames - _steadyFrom;
    }

    /// <summary>The window's fields of --stats-json.</summary>
    public void AddTo(Dictionary<string, object?> stats)
    {
        long bytes = _steadyFrames > 0 ? _allocEnd - _allocStart : 0;
        stats["latencyMs"] = RunStats.Percentiles(_latencies.ToArray());
        stats["drawMs"] = RunStats.Percentiles(_drawTimes.ToArray());
        stats["allocatedBytesPerFrame"] = _steadyFrames > 0 ? RunStats.Round(bytes / (double)_steadyFrames) : null;
        stats["steadyFrames"] = _steadyFrames;
        stats["steadyAllocatedBytes"] = bytes;
    }

    private static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
}
