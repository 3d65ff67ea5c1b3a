// FrameAugmenter: random variations of a stored frame for teach mode (left-right flip, a crop scaled back to the
// frame's size, brightness / contrast / saturation jitter), drawn from a caller's seeded generator so a given frame
// and seed always give the same copies. Pixels only; it runs no network.
using OpenCvSharp;

namespace CameraCnn.Vision.Teach;

/// <summary>How strong the variations are. Zero turns one off.</summary>
public sealed record AugmentOptions
{
    /// <summary>Flip left-right with probability 1/2.</summary>
    public bool Flip { get; init; } = true;
    /// <summary>The crop keeps between this share and all of each side (then is resized back).</summary>
    public double MinCropScale { get; init; } = 0.8;
    /// <summary>Brightness offset drawn from [-b, b] x 255.</summary>
    public double Brightness { get; init; } = 0.15;
    /// <summary>Contrast gain drawn from [1 - c, 1 + c].</summary>
    public double Contrast { get; init; } = 0.15;
    /// <summary>Colour saturation gain drawn from [1 - s, 1 + s] (blend with the gray image).</summary>
    public double Saturation { get; init; } = 0.2;
}

/// <summary>Makes augmented copies of 8-bit BGR frames.</summary>
public static class FrameAugmenter
{
    /// <summary>
    /// Writes a randomly varied copy of <paramref name="source"/> (8-bit, 1 or 3 channels) to
    /// <paramref name="destination"/>, same size and type.
    /// </summary>
    public static void Apply(Mat source, Mat destination, Random random, AugmentOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentNullException.ThrowIfNull(random);
        if (source.Empty()) throw new ArgumentException("cannot augment an empty frame", nameof(source));
        var o = options ?? new AugmentOptions();
        int w = source.Cols, h = source.Rows;

        double scale = Math.Clamp(o.MinCropScale, 0.1, 1.0);
        double s = scale + (1 - scale) * random.NextDouble();
        int cw = Math.Clamp((int)Math.Round(w * s), 1, w), ch = Math.Clamp((int)Math.Round(h * s), 1, h);
        var roi = new Rect(random.Next(0, w - cw + 1), random.Next(0, h - ch + 1), cw, ch);
        using (var view = new Mat(source, roi))
            Cv2.Resize(view, destination, new Size(w, h), 0, 0, InterpolationFlags.Linear);

        if (o.Flip && random.Next(2) == 1) Cv2.Flip(destination, destination, FlipMode.Y);

        double alpha = 1 + o.Contrast * (2 * random.NextDouble() - 1);
        double beta = 255 * o.Brightness * (2 * random.NextDouble() - 1);
        double saturation = 1 + o.Saturation * (2 * random.NextDouble() - 1);
        if (destination.Channels() == 3 && saturation != 1)
        {
            using var gray = new Mat();
            using var gray3 = new Mat();
            Cv2.CvtColor(destination, gray, ColorConversionCodes.BGR2GRAY);
            Cv2.CvtColor(gray, gray3, ColorConversionCodes.GRAY2BGR);
            Cv2.AddWeighted(destination, saturation, gray3, 1 - saturation, 0, destination);
        }
        destination.ConvertTo(destination, -1, alpha, beta); // saturating: stays in 0..255
    }

    /// <summary>A generator for copy <paramref name="copy"/> of the sample with key <paramref name="key"/>: stable across runs.</summary>
    public static Random RandomFor(string key, int copy, int seed)
    {
        // string.GetHashCode is randomised per process; FNV-1a is not.
        uint h = 2166136261;
        foreach (char c in key) h = (h ^ c) * 16777619;
        h = (h ^ (uint)copy) * 16777619;
        h = (h ^ (uint)seed) * 16777619;
        return new Random((int)(h & 0x7FFFFFFF));
    }
}
