// InitializerTests: the default fan-in uniform scheme (PyTorch's Conv2d / Linear default) puts weights and biases in
// [-1/sqrt(fanIn), 1/sqrt(fanIn)] with the uniform's spread, He and Xavier keep their distributions and zero biases,
// and the same seed gives the same parameters.
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Training;

namespace CameraCnn.Engine.Tests.Layers;

public sealed class InitializerTests
{
    private static (Conv2d Conv, Dense Dense, Graph Graph) Net()
    {
        var g = new Graph();
        var x = g.AddInput("x", -1, 8, 10, 10);
        var conv = new Conv2d(8, 32, 3, 1, 1, groups: 2, bias: true); // fan-in 4 * 3 * 3 = 36
        var dense = new Dense(32 * 10 * 10, 300);                      // fan-in 3200
        x = g.Add(conv, x);
        x = g.Add(new Flatten(), x);
        g.MarkOutput(g.Add(dense, x));
        return (conv, dense, g);
    }

    private static (double Mean, double Std, double MaxAbs) Stats(float[] v)
    {
        double mean = v.Average(f => (double)f);
        return (mean, Math.Sqrt(v.Average(f => (f - mean) * (f - mean))), v.Max(f => Math.Abs((double)f)));
    }

    [Fact]
    public void FanInUniform_IsTheDefault_WeightsAndBiasesWithinOneOverSqrtFanIn()
    {
        var (conv, dense, g) = Net();
        Initializer.Initialize(g, 7);
        foreach (var (values, fanIn, what) in new[]
        {
            (conv.Weight.Value.Data, 36, "conv W"), (conv.Bias!.Value.Data, 36, "conv B"),
            (dense.Weight.Value.Data, 3200, "dense W"), (dense.Bias!.Value.Data, 3200, "dense B"),
        })
        {
            double bound = 1 / Math.Sqrt(fanIn);
            var (mean, std, maxAbs) = Stats(values);
            Assert.True(maxAbs <= bound, $"{what}: |w| up to {maxAbs}, bound {bound}");
            Assert.True(maxAbs > 0.9 * bound, $"{what}: |w| only up to {maxAbs} of {bound}: not spread over the interval");
            // U(-b, b) has standard deviation b / sqrt(3); the biases are few (32 and 300), so a looser band for them.
            double tolerance = values.Length > 1000 ? 0.05 : 0.25;
            Assert.True(Math.Abs(std / (bound / Math.Sqrt(3)) - 1) < tolerance, $"{what}: std {std}, expected {bound / Math.Sqrt(3)}");
            Assert.True(Math.Abs(mean) < 4 * bound / Math.Sqrt(3 * values.Length), $"{what}: mean {mean}");
        }
    }

    [Theory]
    [InlineData(InitScheme.He)]
    [InlineData(InitScheme.Xavier)]
    public void HeAndXavier_KeepTheirSpreadAndZeroBiases(InitScheme scheme)
    {
        var (conv, dense, g) = Net();
        Initializer.Initialize(g, 8, scheme);
        double want = scheme == InitScheme.He ? Math.Sqrt(2.0 / 3200) : Math.Sqrt(6.0 / (3200 + 300)) / Math.Sqrt(3);
        var (_, std, _) = Stats(dense.Weight.Value.Data);
        Assert.True(Math.Abs(std / want - 1) < 0.05, $"{scheme}: dense std {std}, expected {want}");
        Assert.All(conv.Bias!.Value.Data, b => Assert.Equal(0f, b));
        Assert.All(dense.Bias!.Value.Data, b => Assert.Equal(0f, b));
    }

    [Fact]
    public void TheSameSeedGivesTheSameParameters()
    {
        var a = Architectures.LeNet(1, 28, 28, 10);
        var b = Architectures.LeNet(1, 28, 28, 10);
        var c = Architectures.LeNet(1, 28, 28, 10);
        Initializer.Initialize(a, 3);
        Initializer.Initialize(b, 3);
        Initializer.Initialize(c, 4);
        var pa = a.Parameters.ToList();
        var pb = b.Parameters.ToList();
        var pc = c.Parameters.ToList();
        for (int i = 0; i < pa.Count; i++) Assert.Equal(pa[i].Value.Data, pb[i].Value.Data);
        Assert.Contains(Enumerable.Range(0, pa.Count), i => pa[i].Trainable && pa[i].Value.Length > 1 && !pa[i].Value.Data.SequenceEqual(pc[i].Value.Data));
    }
}
