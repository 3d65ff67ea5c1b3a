// OptimizerTests: SGD is the lecture's eq. (13) update W <- W - mu * (grad + lambda * W) (decay only where
// Parameter.Decay), SGD momentum, and Adam / AdamW steps against hand computations.
using CameraCnn.Engine.Training;

namespace CameraCnn.Engine.Tests.Layers;

public sealed class OptimizerTests
{
    private static Parameter Param(Random rng, bool decay, bool trainable = true, int length = 9)
    {
        var p = new Parameter("p", new Tensor(length), trainable, decay);
        TestKit.Randomize(p, rng);
        for (int i = 0; i < length; i++) p.Grad.Data[i] = rng.NextSingle() * 2 - 1;
        return p;
    }

    [Fact]
    public void Sgd_no_momentum_is_eq13()
    {
        var rng = new Random(60);
        var decayed = Param(rng, decay: true);
        var plain = Param(rng, decay: false);
        var frozen = Param(rng, decay: true, trainable: false);
        const float mu = 0.05f, lambda = 0.1f;
        float[] w1 = (float[])decayed.Value.Data.Clone(), w2 = (float[])plain.Value.Data.Clone(), w3 = (float[])frozen.Value.Data.Clone();
        float[] g1 = (float[])decayed.Grad.Data.Clone(), g2 = (float[])plain.Grad.Data.Clone();
        var sgd = new Sgd([decayed, plain, frozen], mu, momentum: 0, weightDecay: lambda);
        Assert.Equal(2, sgd.Parameters.Count); // non-trainable state is never stepped
        sgd.Step();
        // eq. (13): W <- W - mu * H Delta^T - mu * lambda * W, here with the gradient in place of H Delta^T.
        Assert.Equal(w1.Select((w, i) => w - mu * (g1[i] + lambda * w)).ToArray(), decayed.Value.Data);
        Assert.Equal(w2.Select((w, i) => w - mu * g2[i]).ToArray(), plain.Value.Data);
        Assert.Equal(w3, frozen.Value.Data);
        // Step does not clear the gradients; ZeroGrad does.
        Assert.Equal(g1, decayed.Grad.Data);
        sgd.ZeroGrad();
        Assert.All(decayed.Grad.Data, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void Sgd_momentum_two_steps()
    {
        var rng = new Random(61);
        var p = Param(rng, decay: true);
        const float mu = 0.1f, m = 0.9f, lambda = 0.01f;
        var sgd = new Sgd([p], mu, m, lambda);
        float[] w = (float[])p.Value.Data.Clone(), v = new float[w.Length];
        for (int step = 0; step < 2; step++)
        {
            float[] g = (float[])p.Grad.Data.Clone();
            for (int i = 0; i < w.Length; i++)
            {
                v[i] = m * v[i] + (g[i] + lambda * w[i]);
                w[i] -= mu * v[i];
            }
            sgd.Step();
            Assert.Equal(w, p.Value.Data);
            for (int i = 0; i < w.Length; i++) p.Grad.Data[i] = rng.NextSingle() - 0.5f;
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Adam_two_steps_match_a_hand_computation(bool decoupled)
    {
        var rng = new Random(62);
        var p = Param(rng, decay: true);
        var noDecay = Param(rng, decay: false);
        const double lr = 0.01, lambda = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8;
        var adam = new Adam([p, noDecay], (float)lr, (float)lambda, decoupled);
        var w = new[] { TestKit.ToDouble(p.Value.Data), TestKit.ToDouble(noDecay.Value.Data) };
        var mState = new[] { new double[9], new double[9] };
        var vState = new[] { new double[9], new double[9] };
        var ps = new[] { p, noDecay };
        for (int t = 1; t <= 2; t++)
        {
            for (int k = 0; k < 2; k++)
            {
                double lam = ps[k].Decay ? lambda : 0;
                for (int i = 0; i < 9; i++)
                {
                    double g = ps[k].Grad.Data[i] + (decoupled ? 0 : lam * w[k][i]);
                    mState[k][i] = b1 * mState[k][i] + (1 - b1) * g;
                    vState[k][i] = b2 * vState[k][i] + (1 - b2) * g * g;
                    double mHat = mState[k][i] / (1 - Math.Pow(b1, t)), vHat = vState[k][i] / (1 - Math.Pow(b2, t));
                    double update = mHat / (Math.Sqrt(vHat) + eps) + (decoupled ? lam * w[k][i] : 0);
                    w[k][i] -= lr * update;
                }
            }
            adam.Step();
            TestKit.AssertClose(w[0], p.Value.Data, 1e-6, 1e-5, $"Adam decoupled={decoupled} step {t} (decay)");
            TestKit.AssertClose(w[1], noDecay.Value.Data, 1e-6, 1e-5, $"Adam decoupled={decoupled} step {t} (no decay)");
            for (int k = 0; k < 2; k++)
                for (int i = 0; i < 9; i++) ps[k].Grad.Data[i] = rng.NextSingle() - 0.5f;
        }
    }

    [Fact]
    public void Adam_first_step_is_learning_rate_times_sign()
    {
        // With bias correction, the first Adam step is lr * g / (|g| + eps) = lr * sign(g) for |g| >> eps.
        var p = new Parameter("w", new Tensor([4], [1, -2, 3, 0.5f]), decay: false);
        float[] g = [0.3f, -0.02f, 5f, -1e-3f];
        g.CopyTo(p.Grad.Data, 0);
        new Adam([p], learningRate: 0.1f).Step();
        TestKit.AssertClose([1 - 0.1, -2 + 0.1, 3 - 0.1, 0.5 + 0.1], p.Value.Data, 1e-5, 1e-6, "first Adam step");
    }
}
