// BenchSupport: what `camcnn bench` needs besides the runs themselves: the warm-up that waits for the JIT to finish
// tiering up, medians, the machine's description (CPU model, family, AVX-512 width, FMA peaks) and the per-layer
// algorithm names. Not a timer of anything by itself.
using System.Diagnostics;
using System.Runtime;
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Optimization;

namespace CameraCnn.App.Commands;

/// <summary>How the warm-up ended: steps and seconds spent, and whether the step time settled before the time cap.</summary>
internal sealed record WarmUp(int Steps, double Seconds, bool Settled, double LastMedianMs)
{
    /// <summary>The sentence the bench prints about it.</summary>
    public string Describe(string unit) => Settled
        ? $"warm-up: {Steps} {unit}s ({Seconds:F1} s) until the JIT stopped compiling and the median {unit} time held within " +
          $"{100 * BenchSupport.SettleTolerance:F0} % for two windows (the runtime recompiles hot methods at tier 1 after 30 calls, " +
          "on a background thread that takes a core meanwhile)"
        : $"warm-up: {Steps} {unit}s ({Seconds:F1} s) and the {unit} time had not settled (JIT still compiling or timings " +
          "moving by more than " + $"{100 * BenchSupport.SettleTolerance:F0} %: a busy machine?); timing anyway";
}

/// <summary>The machine the figures were measured on.</summary>
internal sealed record MachineReport(CpuInfo Cpu, Avx512Width Avx512, double Gflops512, double Gflops256, double PeakGflops, double PeakGflops1)
{
    public string Avx512Text => Avx512 switch
    {
        Avx512Width.Full => $"AVX-512 full width (measured: 512-bit FMAs {Gflops512:F0} GFLOP/s = {Gflops512 / Gflops256:F2}x the 256-bit rate)",
        Avx512Width.Half => $"AVX-512 half width (measured: 512-bit FMAs {Gflops512:F0} GFLOP/s = {Gflops512 / Gflops256:F2}x the 256-bit rate, " +
                            "each executed as two 256-bit halves)",
        _ => "no AVX-512",
    };

    public object Json => new
    {
        vendor = Cpu.Vendor,
        model_name = Cpu.ModelName,
        family = Cpu.Family,
        model = Cpu.Model,
        stepping = Cpu.Stepping,
        logical_processors = Environment.ProcessorCount,
        avx512 = Avx512.ToString().ToLowerInvariant(),
        fma512_gflops_1thread = Math.Round(Gflops512, 1),
        fma256_gflops_1thread = Math.Round(Gflops256, 1),
    };
}

internal static class BenchSupport
{
    /// <summary>Two consecutive warm-up windows whose medians differ by at most this share count as settled.</summary>
    public const double SettleTolerance = 0.05;

    /// <summary>
    /// Runs <paramref name="step"/> (which returns its time in ms) in windows of at least 10 calls and 250 ms until the
    /// runtime has compiled nothing during a window, at least 40 calls have run (past the 30-call tier-up threshold)
    /// and the window's median is within <see cref="SettleTolerance"/> of the previous window's; gives up after
    /// <paramref name="maxSeconds"/>.
    /// </summary>
    public static WarmUp WarmUpUntilSettled(Func<double> step, double maxSeconds = 20)
    {
        var clock = Stopwatch.StartNew();
        var window = new List<double>();
        int steps = 0;
        double previous = double.NaN;
        while (true)
        {
            long compiled = JitInfo.GetCompiledMethodCount();
            window.Clear();
            var windowClock = Stopwatch.StartNew();
            while (window.Count < 10 || windowClock.Elapsed.TotalMilliseconds < 250)
            {
                window.Add(step());
                steps++;
            }
            double median = Median(window);
            bool quiet = JitInfo.GetCompiledMethodCount() == compiled;
            bool steady = Math.Abs(median - previous) <= SettleTolerance * previous;
            if (steps >= 40 && quiet && steady) return new WarmUp(steps, clock.Elapsed.TotalSeconds, true, median);
            if (clock.Elapsed.TotalSeconds > maxSeconds) return new WarmUp(steps, clock.Elapsed.TotalSeconds, false, median);
            previous = median;
        }
    }

    public static double Median(IReadOnlyList<double> values)
    {
        var s = values.ToArray();
        Array.Sort(s);
        return s.Length == 0 ? double.NaN : s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    /// <summary>CPU identity, the measured AVX-512 width, and the FMA peak on <paramref name="threads"/> threads and on one.</summary>
    public static MachineReport MeasureMachine(int threads)
    {
        var (width, g512, g256) = FmaPeak.MeasureAvx512Width();
        double peak = FmaPeak.MeasureGflops(threads), peak1 = threads == 1 ? peak : FmaPeak.MeasureGflops(1);
        return new MachineReport(CpuInfo.Current, width, g512, g256, peak, peak1);
    }

    /// <summary>
    /// The per-layer "algorithm" of the JSON: a convolution's own (FusedConv2d.Algorithm: "gemm" = im2col + packed GEMM,
    /// "winograd", "direct"; a training Conv2d is "gemm"); "gemm" for the other layers that run the packed GEMM
    /// (Dense, MatMul, Gemm); "direct" for everything computed by plain loops over its elements or windows (pooling,
    /// batch norm, activations, adds, reshapes).
    /// </summary>
    public static string Algorithm(Layer layer) => layer switch
    {
        FusedConv2d conv => conv.Algorithm,
        Conv2d or Dense or MatMul or GemmOp => "gemm",
        _ => "direct",
    };
}
