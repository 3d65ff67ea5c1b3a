// OptionRanges: the ranges of the numeric options and the one check every command runs on them before it loads or
// writes anything: a value outside its range (NaN and infinity included) is one line naming the option and the range,
// exit code 2 like a command line that does not parse. Commands call these first; nothing here knows a command.
using System.Globalization;

namespace CameraCnn.App.Cli;

public static class OptionRanges
{
    /// <summary>Largest mini-batch: far above what fits a useful step, small enough that batch arithmetic never overflows.</summary>
    public const int MaxBatch = 65536;
    public const int MaxEpochs = 10000;
    /// <summary>Image-folder images are resized to SIZE x SIZE: LeNet pools twice (SIZE / 4 >= 1); 1024 keeps a data set in memory.</summary>
    public const int MinInputSize = 4, MaxInputSize = 1024;
    /// <summary>Teach heads: hidden ReLU units (the head's own limit) and augmented copies per frame.</summary>
    public const int MaxHidden = Engine.Teach.ClassifierHead.MaxHidden, MaxAugment = 64;

    /// <summary>Worker threads: a few per core at most (more only adds switching), capped by the engine's pool.</summary>
    public static int MaxThreads => Math.Min(256, 4 * Environment.ProcessorCount);

    /// <summary><paramref name="value"/> when it is in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    /// <exception cref="CliException">Out of range (exit code 2).</exception>
    public static int Whole(int value, string option, int min, int max = int.MaxValue)
    {
        if (value < min || value > max) throw OutOfRange(option, Range(min, max), value.ToString(CultureInfo.InvariantCulture));
        return value;
    }

    /// <summary>As <see cref="Whole(int, string, int, int)"/>; null (not given) passes.</summary>
    public static int? Whole(int? value, string option, int min, int max = int.MaxValue) =>
        value is { } v ? Whole(v, option, min, max) : null;

    /// <summary>
    /// <paramref name="value"/> when it is a finite number in the interval from <paramref name="min"/> to
    /// <paramref name="max"/>; <paramref name="minOpen"/> / <paramref name="maxOpen"/> exclude the end itself.
    /// </summary>
    /// <exception cref="CliException">NaN, infinite or out of range (exit code 2).</exception>
    public static double Number(double value, string option, double min, double max, bool minOpen = false, bool maxOpen = false)
    {
        bool inside = double.IsFinite(value) && (minOpen ? value > min : value >= min) && (maxOpen ? value < max : value <= max);
        if (!inside)
        {
            // An open top (max = double.MaxValue) reads as a bound below only: "a finite number > 0".
            string range = max >= double.MaxValue ? $"a finite number {(minOpen ? ">" : ">=")} {Show(min)}"
                : $"a number in {(minOpen ? "(" : "[")}{Show(min)}, {Show(max)}{(maxOpen ? ")" : "]")}";
            throw OutOfRange(option, range, Show(value));
        }
        return value;
    }

    /// <summary>As <see cref="Number(double, string, double, double, bool, bool)"/>; null (not given) passes.</summary>
    public static double? Number(double? value, string option, double min, double max, bool minOpen = false, bool maxOpen = false) =>
        value is { } v ? Number(v, option, min, max, minOpen, maxOpen) : null;

    /// <summary>--threads: 1 to <see cref="MaxThreads"/>; null (not given: all cores) passes.</summary>
    public static int? Threads(int? value, string option = "--threads") => Whole(value, option, 1, MaxThreads);

    private static string Range(int min, int max) => max == int.MaxValue ? $"at least {min}" : $"a whole number in [{min}, {max}]";

    private static string Show(double v) => double.IsNaN(v) ? "NaN" : double.IsPositiveInfinity(v) ? "infinity"
        : double.IsNegativeInfinity(v) ? "-infinity" : v.ToString("G6", CultureInfo.InvariantCulture);

    private static CliException OutOfRange(string option, string range, string got) =>
        new($"{option} must be {range} (got {got})", CliRunner.UsageError);
}
