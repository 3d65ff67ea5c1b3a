// RunStats: the figures of one `camcnn run` (frames, frame rates, latency percentiles, bytes allocated per rendered
// frame), collected into preallocated buffers while running and written as JSON (--stats-json) at the end.
using System.Text.Json;

namespace CameraCnn.App.Live;

/// <summary>A fixed-size ring of samples with percentiles computed at the end.</summary>
internal sealed class SampleRing(int capacity)
{
    private readonly double[] _samples = new double[capacity];
    private long _count;

    public long Count => _count;

    public void Add(double value) => _samples[_count++ % _samples.Length] = value;

    /// <summary>The kept samples (the last <c>capacity</c>).</summary>
    public double[] ToArray() => _samples.AsSpan(0, (int)Math.Min(_count, _samples.Length)).ToArray();

    public static double Percentile(double[] values, double p)
    {
        if (values.Length == 0) return double.NaN;
        var sorted = (double[])values.Clone();
        Array.Sort(sorted);
        int rank = (int)Math.Ceiling(p / 100 * sorted.Length) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Length - 1)];
    }
}

/// <summary>Writes the stats file.</summary>
internal static class RunStats
{
    public static void Write(string path, Dictionary<string, object?> stats)
    {
        string json = JsonSerializer.Serialize(stats, new JsonSerializerOptions { WriteIndented = true });
        Engine.IO.AtomicFile.Write(path, s => s.Write(System.Text.Encoding.UTF8.GetBytes(json + "\n")));
    }

    public static object? Round(double v, int digits = 2) => double.IsFinite(v) ? Math.Round(v, digits) : null;

    public static Dictionary<string, object?> Percentiles(double[] values, int digits = 2) => new()
    {
        ["p50"] = Round(SampleRing.Percentile(values, 50), digits),
        ["p95"] = Round(SampleRing.Percentile(values, 95), digits),
        ["p99"] = Round(SampleRing.Percentile(values, 99), digits),
        ["samples"] = values.Length,
    };

    /// <summary>The last training's fine-tuning figures (validation accuracy against the head alone, epochs, time), or null.</summary>
    public static Dictionary<string, object?>? FineTune(Teach.TeachTrainingResult? last) => last?.FineTune is not { } f ? null : new()
    {
        ["blocks"] = f.Blocks,
        ["cut"] = f.CutNode,
        ["valAccuracy"] = Round(f.ValAccuracy, 4),
        ["headOnlyValAccuracy"] = Round(f.HeadOnly.ValAccuracy, 4),
        ["epochs"] = f.EpochsRun,
        ["bestEpoch"] = f.BestEpoch,
        ["seconds"] = Round(f.Seconds, 2),
        ["activationSeconds"] = Round(last.Features.Seconds, 2),
        ["backbone"] = last.Backbone,
    };
}
