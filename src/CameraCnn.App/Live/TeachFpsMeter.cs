// TeachFpsMeter: does the camera keep running while teach mode trains? The render loop reports every frame it draws
// with the trainer's phase; this adds up drawn frames, captured frames, inferences, time and the longest gap
// between two drawn frames, separately for "idle" and "training" (computing features or training the head), so
// --stats-json can compare the rates during training with those before and after.
using System.Diagnostics;

namespace CameraCnn.App.Live;

/// <summary>Render, capture and inference rates while the teach trainer is idle vs while it trains. Render thread only.</summary>
internal sealed class TeachFpsMeter
{
    private sealed class Bucket
    {
        public double Seconds, LongestGapMs;
        public long Drawn, Captured, Inferred;
    }

    private readonly Bucket _idle = new(), _training = new();
    private long _lastAt, _lastCaptured, _lastInferred;
    private bool _wasTraining;
    private int _trainings;

    /// <summary>
    /// One drawn frame at <paramref name="now"/>; <paramref name="training"/> is null while the phase counts as neither
    /// (the backbone loading, a model being saved). The interval since the previous frame goes to the phase both share.
    /// </summary>
    public void Frame(long now, bool? training, long captured, long inferred)
    {
        if (_lastAt != 0 && training is { } t && (_wasTraining == t))
        {
            var b = t ? _training : _idle;
            double dt = (now - _lastAt) / (double)Stopwatch.Frequency;
            b.Seconds += dt;
            b.LongestGapMs = Math.Max(b.LongestGapMs, dt * 1000);
            b.Drawn++;
            b.Captured += captured - _lastCaptured;
            b.Inferred += inferred - _lastInferred;
        }
        if (training == true && !_wasTraining) _trainings++;
        _wasTraining = training == true;
        _lastAt = now;
        _lastCaptured = captured;
        _lastInferred = inferred;
    }

    /// <summary>The figures for --stats-json: per phase seconds, rates and the longest frame gap; the training/idle ratios.</summary>
    public Dictionary<string, object?> ToStats()
    {
        static Dictionary<string, object?> Of(Bucket b) => new()
        {
            ["seconds"] = RunStats.Round(b.Seconds, 3),
            ["renderFps"] = b.Seconds > 0 ? RunStats.Round(b.Drawn / b.Seconds) : null,
            ["captureFps"] = b.Seconds > 0 ? RunStats.Round(b.Captured / b.Seconds) : null,
            ["inferenceFps"] = b.Seconds > 0 ? RunStats.Round(b.Inferred / b.Seconds) : null,
            ["longestFrameGapMs"] = RunStats.Round(b.LongestGapMs, 1),
        };
        static object? Ratio(long a, double sa, long b, double sb) => sa > 0 && sb > 0 && b > 0 ? RunStats.Round(a / sa / (b / sb), 3) : null;
        return new()
        {
            ["trainings"] = _trainings,
            ["idle"] = Of(_idle),
            ["training"] = Of(_training),
            ["renderRatio"] = Ratio(_training.Drawn, _training.Seconds, _idle.Drawn, _idle.Seconds),
            ["captureRatio"] = Ratio(_training.Captured, _training.Seconds, _idle.Captured, _idle.Seconds),
        };
    }
}
