// RateMeter: events per second over the last second or so, written by one thread and read by any (render HUD,
// stats), without locks or allocation.
using System.Diagnostics;

namespace CameraCnn.App.Live;

/// <summary>Counts events and reports their recent rate (per second) and the running total.</summary>
internal sealed class RateMeter
{
    private static readonly long Window = Stopwatch.Frequency; // 1 s
    private long _windowStart = Stopwatch.GetTimestamp(), _windowCount, _lastTick;
    private long _rateBits, _total;

    public long Total => Interlocked.Read(ref _total);

    /// <summary>
    /// Events per second over the last completed window (0 until one has completed, and 0 once no event came for two
    /// windows, also when the writer has stopped rolling).
    /// </summary>
    public double Rate => Stopwatch.GetTimestamp() - Interlocked.Read(ref _lastTick) > 2 * Window
        ? 0 : BitConverter.Int64BitsToDouble(Interlocked.Read(ref _rateBits));

    public void Tick(long now)
    {
        Interlocked.Increment(ref _total);
        Interlocked.Exchange(ref _lastTick, now);
        _windowCount++;
        Roll(now);
    }

    /// <summary>Closes the window when it has run long enough (call from the writer, also when idle, so the rate decays).</summary>
    public void Roll(long now)
    {
        long elapsed = now - _windowStart;
        if (elapsed < Window / 2) return;
        Interlocked.Exchange(ref _rateBits, BitConverter.DoubleToInt64Bits(_windowCount * (double)Stopwatch.Frequency / elapsed));
        _windowStart = now;
        _windowCount = 0;
    }
}
