// Initializer: seeded He (for ReLU nets) or Xavier initialisation of conv and dense weights; biases zero.
using CameraCnn.Engine.Layers;

namespace CameraCnn.Engine.Training;

public enum InitScheme { He, Xavier }

/// <summary>Reproducible weight initialisation: the same seed gives the same weights.</summary>
public static class Initializer
{
    public static void Initialize(Graph graph, int seed, InitScheme scheme = InitScheme.He)
    {
        var random = new Random(seed);
        foreach (var node in graph.Nodes)
        {
            switch (node.Layer)
            {
                case Conv2d conv:
                    Fill(conv.Weight.Value, conv.InChannels / conv.Groups * conv.Window.KH * conv.Window.KW,
                        conv.OutChannels / conv.Groups * conv.Window.KH * conv.Window.KW, scheme, random);
                    conv.Bias?.Value.Clear();
                    break;
                case Dense dense:
                    Fill(dense.Weight.Value, dense.InFeatures, dense.OutFeatures, scheme, random);
                    dense.Bias?.Value.Clear();
                    break;
            }
        }
    }

    /// <summary>He: N(0, 2/fanIn). Xavier: U(-a, a) with a = sqrt(6 / (fanIn + fanOut)).</summary>
    public static void Fill(Tensor w, int fanIn, int fanOut, InitScheme scheme, Random random)
    {
        if (scheme == InitScheme.He)
        {
            double std = Math.Sqrt(2.0 / fanIn);
            for (int i = 0; i < w.Length; i++) w.Data[i] = (float)(std * Gaussian(random));
        }
        else
        {
            double a = Math.Sqrt(6.0 / (fanIn + fanOut));
            for (int i = 0; i < w.Length; i++) w.Data[i] = (float)((random.NextDouble() * 2 - 1) * a);
        }
    }

    /// <summary>A standard normal sample (Box-Muller), from the given generator so it is reproducible.</summary>
    public static double Gaussian(Random random)
    {
        double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
