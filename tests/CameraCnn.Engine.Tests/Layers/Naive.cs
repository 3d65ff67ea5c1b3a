// Naive: direct double-precision implementations of every layer, written from the definitions (lecture eq. 2, 5, 6
// for convolution) with plain loops and no shared code with the engine. They are the truth for the forward tests
// and the function whose finite differences the gradient tests use.
using CameraCnn.Engine.Kernels;

namespace CameraCnn.Engine.Tests.Layers;

internal static class Naive
{
    /// <summary>Lecture eq. (5): floor((M + p - Mw + s) / s), p the total padding, Mw the (dilated) kernel extent.</summary>
    public static int Eq5(int m, int p, int mw, int s)
    {
        int num = m + p - mw + s;
        return num < 0 ? 0 : num / s; // C# division truncates; num >= 0 so that is the floor
    }

    /// <summary>
    /// Pooling output length: eq. (5), or with ceil mode ceil((M + p - Mw) / s) + 1 minus the last window when it
    /// would start past the input and its begin padding (ONNX / PyTorch ceil_mode rule).
    /// </summary>
    public static int PoolOut(int m, int padBegin, int padEnd, int extent, int s, bool ceil)
    {
        if (!ceil) return Eq5(m, padBegin + padEnd, extent, s);
        int o = (int)Math.Ceiling((double)(m + padBegin + padEnd - extent) / s) + 1;
        if ((o - 1) * s >= m + padBegin) o--;
        return o;
    }

    /// <summary>
    /// Eq. (6) with eq. (2) as cross-correlation: y[n,k,oh,ow] = B[k] + sum_j sum_{p,q} W[k,j,p,q] *
    /// x[n, group(k)*Cg + j, oh*SH + p*DH - PadTop, ow*SW + q*DW - PadLeft], zero outside the image.
    /// Weights are [OC, C/groups, KH, KW].
    /// </summary>
    public static double[] Conv2d(double[] x, int[] xs, double[] w, double[]? b, int oc, int groups, Window2d g, out int[] ys)
    {
        int n = xs[0], c = xs[1], hh = xs[2], ww = xs[3];
        int cg = c / groups, og = oc / groups;
        int oh = Eq5(hh, g.PadTop + g.PadBottom, g.DH * (g.KH - 1) + 1, g.SH);
        int ow = Eq5(ww, g.PadLeft + g.PadRight, g.DW * (g.KW - 1) + 1, g.SW);
        ys = [n, oc, oh, ow];
        var y = new double[n * oc * oh * ow];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < oc; k++)
            {
                int grp = k / og;
                for (int a = 0; a < oh; a++)
                    for (int bcol = 0; bcol < ow; bcol++)
                    {
                        double acc = b is null ? 0 : b[k];
                        for (int j = 0; j < cg; j++)
                            for (int p = 0; p < g.KH; p++)
                                for (int q = 0; q < g.KW; q++)
                                {
                                    int ih = a * g.SH + p * g.DH - g.PadTop, iw = bcol * g.SW + q * g.DW - g.PadLeft;
                                    if (ih < 0 || ih >= hh || iw < 0 || iw >= ww) continue;
                                    acc += w[((k * cg + j) * g.KH + p) * g.KW + q] * x[((i * c + grp * cg + j) * hh + ih) * ww + iw];
                                }
                        y[((i * oc + k) * oh + a) * ow + bcol] = acc;
                    }
            }
        return y;
    }

    /// <summary>Max over the in-image positions of each window (padding never wins); 0 for an all-padding window.</summary>
    public static double[] MaxPool(double[] x, int[] xs, Window2d g, bool ceil, out int[] ys)
    {
        int planes = xs[0] * xs[1], hh = xs[2], ww = xs[3];
        int oh = PoolOut(hh, g.PadTop, g.PadBottom, g.DH * (g.KH - 1) + 1, g.SH, ceil);
        int ow = PoolOut(ww, g.PadLeft, g.PadRight, g.DW * (g.KW - 1) + 1, g.SW, ceil);
        ys = [xs[0], xs[1], oh, ow];
        var y = new double[planes * oh * ow];
        for (int pl = 0; pl < planes; pl++)
            for (int a = 0; a < oh; a++)
                for (int bcol = 0; bcol < ow; bcol++)
                {
                    double m = double.NegativeInfinity;
                    for (int p = 0; p < g.KH; p++)
                        for (int q = 0; q < g.KW; q++)
                        {
                            int ih = a * g.SH + p * g.DH - g.PadTop, iw = bcol * g.SW + q * g.DW - g.PadLeft;
                            if (ih < 0 || ih >= hh || iw < 0 || iw >= ww) continue;
                            m = Math.Max(m, x[(pl * hh + ih) * ww + iw]);
                        }
                    y[(pl * oh + a) * ow + bcol] = double.IsNegativeInfinity(m) ? 0 : m;
                }
        return y;
    }

    /// <summary>
    /// Mean over each window. count_include_pad: the divisor counts every window position that lies inside the
    /// padded image [-padBegin, size + padEnd) (the ceil-mode overhang beyond the padding is not counted);
    /// otherwise only the real pixels.
    /// </summary>
    public static double[] AvgPool(double[] x, int[] xs, Window2d g, bool ceil, bool countIncludePad, out int[] ys)
    {
        int planes = xs[0] * xs[1], hh = xs[2], ww = xs[3];
        int oh = PoolOut(hh, g.PadTop, g.PadBottom, g.KH, g.SH, ceil);
        int ow = PoolOut(ww, g.PadLeft, g.PadRight, g.KW, g.SW, ceil);
        ys = [xs[0], xs[1], oh, ow];
        var y = new double[planes * oh * ow];
        for (int pl = 0; pl < planes; pl++)
            for (int a = 0; a < oh; a++)
                for (int bcol = 0; bcol < ow; bcol++)
                {
                    double s = 0;
                    int real = 0, padded = 0;
                    for (int p = 0; p < g.KH; p++)
                        for (int q = 0; q < g.KW; q++)
                        {
                            int ih = a * g.SH + p - g.PadTop, iw = bcol * g.SW + q - g.PadLeft;
                            bool inPadded = ih >= -g.PadTop && ih < hh + g.PadBottom && iw >= -g.PadLeft && iw < ww + g.PadRight;
                            if (inPadded) padded++;
                            if (ih < 0 || ih >= hh || iw < 0 || iw >= ww) continue;
                            s += x[(pl * hh + ih) * ww + iw];
                            real++;
                        }
                    int d = countIncludePad ? padded : real;
                    y[(pl * oh + a) * ow + bcol] = d == 0 ? 0 : s / d;
                }
        return y;
    }

    public static double[] GlobalAvgPool(double[] x, int[] xs)
    {
        int planes = xs[0] * xs[1], hw = xs[2] * xs[3];
        var y = new double[planes];
        for (int p = 0; p < planes; p++)
        {
            double s = 0;
            for (int i = 0; i < hw; i++) s += x[p * hw + i];
            y[p] = s / hw;
        }
        return y;
    }

    public static double[] Map(double[] x, Func<double, double> f) => Array.ConvertAll(x, v => f(v));

    public static double ReLU(double v) => v > 0 ? v : 0;
    public static double Sigmoid(double v) => 1 / (1 + Math.Exp(-v));

    /// <summary>Per-channel mean and population variance over N and all spatial positions.</summary>
    public static (double[] Mean, double[] Var, double[] Unbiased) ChannelStats(double[] x, int[] xs)
    {
        int n = xs[0], c = xs[1], s = x.Length / (n * c);
        var mean = new double[c];
        var variance = new double[c];
        var unbiased = new double[c];
        for (int ch = 0; ch < c; ch++)
        {
            double sum = 0;
            for (int i = 0; i < n; i++)
                for (int e = 0; e < s; e++) sum += x[(i * c + ch) * s + e];
            double m = sum / (n * s), sq = 0;
            for (int i = 0; i < n; i++)
                for (int e = 0; e < s; e++) sq += (x[(i * c + ch) * s + e] - m) * (x[(i * c + ch) * s + e] - m);
            mean[ch] = m;
            variance[ch] = sq / (n * s);
            unbiased[ch] = sq / (n * s - 1);
        }
        return (mean, variance, unbiased);
    }

    /// <summary>y = gamma * (x - mean) / sqrt(var + eps) + beta per channel, with the given statistics.</summary>
    public static double[] BatchNorm(double[] x, int[] xs, double[] gamma, double[] beta, double[] mean, double[] variance, double eps)
    {
        int n = xs[0], c = xs[1], s = x.Length / (n * c);
        var y = new double[x.Length];
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < c; ch++)
                for (int e = 0; e < s; e++)
                {
                    int o = (i * c + ch) * s + e;
                    y[o] = gamma[ch] * (x[o] - mean[ch]) / Math.Sqrt(variance[ch] + eps) + beta[ch];
                }
        return y;
    }

    /// <summary>Training-mode batch norm: the statistics are those of the batch itself (a function of x).</summary>
    public static double[] BatchNormTraining(double[] x, int[] xs, double[] gamma, double[] beta, double eps)
    {
        var (mean, variance, _) = ChannelStats(x, xs);
        return BatchNorm(x, xs, gamma, beta, mean, variance, eps);
    }

    /// <summary>y [N, Out] = x [N, In] W^T + b, W stored [Out, In].</summary>
    public static double[] Dense(double[] x, int n, int inF, double[] w, double[]? b, int outF)
    {
        var y = new double[n * outF];
        for (int i = 0; i < n; i++)
            for (int o = 0; o < outF; o++)
            {
                double s = b is null ? 0 : b[o];
                for (int k = 0; k < inF; k++) s += x[i * inF + k] * w[o * inF + k];
                y[i * outF + o] = s;
            }
        return y;
    }

    public static double[] Softmax(double[] z, int n, int k)
    {
        var y = new double[z.Length];
        for (int i = 0; i < n; i++)
        {
            double max = double.NegativeInfinity, sum = 0;
            for (int j = 0; j < k; j++) max = Math.Max(max, z[i * k + j]);
            for (int j = 0; j < k; j++) sum += Math.Exp(z[i * k + j] - max);
            for (int j = 0; j < k; j++) y[i * k + j] = Math.Exp(z[i * k + j] - max) / sum;
        }
        return y;
    }

    /// <summary>Mean over rows of -log softmax(z)[label].</summary>
    public static double SoftmaxCrossEntropy(double[] z, int n, int k, ReadOnlySpan<int> labels)
    {
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            // log p computed stably: z_l - max - log sum exp(z - max)
            double max = double.NegativeInfinity, sum = 0;
            for (int j = 0; j < k; j++) max = Math.Max(max, z[i * k + j]);
            for (int j = 0; j < k; j++) sum += Math.Exp(z[i * k + j] - max);
            total += Math.Log(sum) - (z[i * k + labels[i]] - max);
        }
        return total / n;
    }

    public static double[] Add(double[] a, double[] b)
    {
        var y = new double[a.Length];
        for (int i = 0; i < a.Length; i++) y[i] = a[i] + b[i];
        return y;
    }
}
