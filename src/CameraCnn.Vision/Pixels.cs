// Pixels: conversion of interleaved 8-bit image rows (OpenCV's HWC layout) into planar float CHW tensors.
namespace CameraCnn.Vision;

/// <summary>Pixel layout conversions between OpenCV buffers and engine tensors.</summary>
public static class Pixels
{
    // A table instead of a multiply keeps results bit-identical to b / 255f, so tests and other code paths agree exactly.
    private static readonly float[] ByteToUnit = BuildByteToUnit();

    private static float[] BuildByteToUnit()
    {
        var table = new float[256];
        for (int i = 0; i < table.Length; i++) table[i] = i / 255f;
        return table;
    }

    /// <summary>
    /// Converts interleaved bytes [H, W, C] to planar floats [C, H, W] scaled to [0, 1].
    /// With <paramref name="swapRb"/> channels 0 and 2 trade places (OpenCV's BGR becomes RGB).
    /// </summary>
    public static void HwcBytesToChw(ReadOnlySpan<byte> hwc, int height, int width, int channels, bool swapRb, Span<float> chw)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(height);
        ArgumentOutOfRangeException.ThrowIfNegative(width);
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        if (swapRb && channels < 3)
            throw new ArgumentException($"swapping red and blue needs at least 3 channels, got {channels}", nameof(swapRb));
        long n = (long)height * width * channels;
        if (hwc.Length != n)
            throw new ArgumentException($"source has {hwc.Length} bytes but {height}x{width}x{channels} needs {n}", nameof(hwc));
        if (chw.Length != n)
            throw new ArgumentException($"destination has {chw.Length} floats but {channels}x{height}x{width} needs {n}", nameof(chw));

        int plane = height * width;
        float[] table = ByteToUnit;
        for (int c = 0; c < channels; c++)
        {
            int src = swapRb && c == 0 ? 2 : swapRb && c == 2 ? 0 : c;
            Span<float> dst = chw.Slice(c * plane, plane);
            for (int p = 0, s = src; p < plane; p++, s += channels)
                dst[p] = table[hwc[s]];
        }
    }
}
