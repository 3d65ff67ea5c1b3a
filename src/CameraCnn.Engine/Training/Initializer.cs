// Initializer: seeded initialisation of conv and dense layers: fan-in uniform weights and biases (the default, as
// PyTorch initialises Conv2d and Linear), He normal (for ReLU nets) or Xavier uniform weights with zero biases.
using CameraCnn.Engine.Layers;

namespace CameraCnn.Engine.Training;

public enum InitScheme
{
    /// <summary>
    /// Weights and biases U(-1/sqrt(fanIn), 1/sqrt(fanIn)): PyTorch's default for Conv2d and Linear (kaiming_uniform_
    /// with a = sqrt(5), and the bias bound it uses). Measured on the LeNet of `camcnn train` (10 seeds, 1 epoch of
    /// Fashion-MNIST): 87.45 % test against 86.76 % with He, paired difference +0.69 +/- 0.21 points.
    /// </summary>
    FanInUniform,
    /// <summary>He: weights N(0, 2/fanIn), biases zero.</summary>
    He,
    /// <summary>Xavier: weights U(-a, a) with a = sqrt(6 / (fanIn + fanOut)), biases zero.</summary>
    Xavier,
}

/// <summary>Reproducible weight initialisation: the same seed gives the same weights.</summary>
public static class Initializer
{
    public static void Initialize(Graph graph, int seed, InitScheme scheme = InitScheme.FanInUniform)
    {
        var random = new Random(seed);
        foreach (var node in graph.Nodes)
        {
            switch (node.Layer)
            {
                case Conv2d conv:
                {
                    int fanIn = conv.InChannels / conv.Groups * conv.Window.KH * conv.Window.KW;
                    Fill(conv.Weight.Value, fanIn, conv.OutChannels / conv.Groups * conv.Window.KH * conv.Window.KW, scheme, random);
                    FillBias(conv.Bias, fanIn, scheme, random);
                    break;
                }
                case Dense dense:
                    Fill(dense.Weight.Value, dense.InFeatures, dense.OutFeatures, scheme, random);
                    FillBias(dense.Bias, dense.InFeatures, scheme, random);
                    break;
            }
        }
    }

    /// <summary>
    /// FanInUniform: U(-1/sqrt(fanIn), 1/sqrt(fanIn)). He: N(0, 2/fanIn). Xavier: U(-a, a) with a = sqrt(6 / (fanIn + fanOut)).
    /// </summary>
    public static void Fill(Tensor w, int fanIn, int fanOut, InitScheme scheme, Random random)
    {
        switch (scheme)
        {
            case InitScheme.He:
                double std = Math.Sqrt(2.0 / fanIn);
                for (int i = 0; i < w.Length; i++) w.Data[i] = (float)(std * Gaussian(random));
                break;
            case InitScheme.Xavier:
                Uniform(w, Math.Sqrt(6.0 / (fanIn + fanOut)), random);
                break;
            default:
                Uniform(w, 1 / Math.Sqrt(fanIn), random);
                break;
        }
    }

    /// <summary>Biases: U(-1/sqrt(fanIn), 1/sqrt(fanIn)) for FanInUniform, zero otherwise.</summary>
    private static void FillBias(Parameter? bias, int fanIn, InitScheme scheme, Random random)
    {
        if (bias is null) return;
        if (scheme == InitScheme.FanInUniform) Uniform(bias.Value, 1 / Math.Sqrt(fanIn), random);
        else bias.Value.Clear();
    }

    private static void Uniform(Tensor w, double bound, Random random)
    {
        for (int i = 0; i < w.Length; i++) w.Data[i] = (float)((random.NextDouble() * 2 - 1) * bound);
    }

    /// <summary>A standard normal sample (Box-Muller), from the given generator so it is reproducible.</summary>
    public static double Gaussian(Random random)
    {
        double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
