// LossTests: Loss.SoftmaxCrossEntropy value, gradient (vs finite differences of a double-precision reference
// and vs the closed form (softmax - onehot) / N) and accuracy count.
using CameraCnn.Engine.Training;

namespace CameraCnn.Engine.Tests.Layers;

public sealed class LossTests
{
    [Fact]
    public void Value_and_gradient_match_finite_differences()
    {
        const int n = 5, k = 7;
        var rng = new Random(50);
        var z = TestKit.RandomTensor(rng, -3, 3, n, k);
        int[] labels = [0, 6, 3, 3, 1];
        var dz = new Tensor(0); // resized by the loss
        float loss = Loss.SoftmaxCrossEntropy(z, labels, dz, out int correct);
        TestKit.AssertShape([n, k], dz, "dLogits");

        double[] zd = TestKit.ToDouble(z.Data);
        double want = Naive.SoftmaxCrossEntropy(zd, n, k, labels);
        Assert.True(Math.Abs(loss - want) <= 1e-6 * Math.Max(1, want), $"loss {loss}, expected {want}");

        var fd = new double[zd.Length];
        const double h = 1e-4;
        for (int e = 0; e < zd.Length; e++)
        {
            double keep = zd[e];
            zd[e] = keep + h;
            double lp = Naive.SoftmaxCrossEntropy(zd, n, k, labels);
            zd[e] = keep - h;
            double lm = Naive.SoftmaxCrossEntropy(zd, n, k, labels);
            zd[e] = keep;
            fd[e] = (lp - lm) / (2 * h);
        }
        TestKit.AssertClose(fd, dz.Data, 1e-6, 1e-4, "dLogits vs finite differences");

        double[] p = Naive.Softmax(zd, n, k);
        for (int i = 0; i < n; i++) p[i * k + labels[i]] -= 1;
        TestKit.AssertClose(p.Select(v => v / n).ToArray(), dz.Data, 1e-7, 1e-5, "dLogits vs (p - onehot) / N");

        int wantCorrect = 0;
        for (int i = 0; i < n; i++)
        {
            int arg = 0;
            for (int j = 1; j < k; j++) if (z.Data[i * k + j] > z.Data[i * k + arg]) arg = j;
            if (arg == labels[i]) wantCorrect++;
        }
        Assert.Equal(wantCorrect, correct);
    }

    [Fact]
    public void Large_logits_are_stable()
    {
        var z = new Tensor([2, 3], [1000, 0, -1000, 1000, 0, -1000]);
        var dz = new Tensor(2, 3);
        float loss = Loss.SoftmaxCrossEntropy(z, [0, 1], dz, out int correct);
        Assert.Equal(1, correct);
        Assert.True(Math.Abs(loss - 500) < 1e-3, $"loss {loss}, expected (0 + 1000) / 2");
        TestKit.AssertClose([0, 0, 0, 0.5, -0.5, 0], dz.Data, 1e-7, 0, "dLogits");
    }

    [Fact]
    public void Rejects_bad_labels()
    {
        var z = new Tensor(2, 3);
        Assert.Throws<ArgumentOutOfRangeException>(() => Loss.SoftmaxCrossEntropy(z, [0, 3], new Tensor(2, 3), out _));
        Assert.Throws<ShapeException>(() => Loss.SoftmaxCrossEntropy(z, [0], new Tensor(2, 3), out _));
    }
}
