// AdamVectorTests: the vectorised, worker-split Adam/AdamW update gives the same bits as its scalar form (the update as
// written, one element at a time): a slice of any length with any vector tail, and whole optimiser steps on 1-3 threads
// over parameters short enough to stay on one thread and long enough to be split, with and without decoupled decay.
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Training;

namespace CameraCnn.Engine.Tests.Layers;

[Collection("Parallelism")]
public sealed class AdamVectorTests
{
    private static float[] Random(Random rng, int n, float scale) => Enumerable.Range(0, n).Select(_ => scale * (rng.NextSingle() * 2 - 1)).ToArray();

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Vector_lanes_equal_the_scalar_form_for_every_tail(bool decoupled)
    {
        var rng = new Random(17);
        foreach (int n in new[] { 1, 7, 8, 9, 15, 16, 17, 31, 100, AdamUpdate.Block + 5 })
            foreach (int from in new[] { 0, 1, 3 })
            {
                if (from >= n) continue;
                float[] w = Random(rng, n, 1), g = Random(rng, n, 0.1f), m = Random(rng, n, 0.01f);
                float[] v = Random(rng, n, 0.001f).Select(MathF.Abs).ToArray();
                AdamUpdate Update(float[] w, float[] m, float[] v) => new()
                {
                    W = w, G = g, M = m, V = v, Lambda = 0.05f, Decoupled = decoupled, Beta1 = 0.9f, Beta2 = 0.999f,
                    Epsilon = 1e-8f, C1 = 1 - MathF.Pow(0.9f, 3), C2 = 1 - MathF.Pow(0.999f, 3), Lr = 1e-3f,
                };
                float[] w0 = (float[])w.Clone(), w2 = (float[])w.Clone(), m2 = (float[])m.Clone(), v2 = (float[])v.Clone();
                Update(w, m, v).Vectors(from, n);
                Update(w2, m2, v2).Scalar(from, n);
                string what = $"n={n} from={from} decoupled={decoupled}";
                Assert.True(w.AsSpan().SequenceEqual(w2), $"W, {what}");
                Assert.True(m.AsSpan().SequenceEqual(m2), $"m, {what}");
                Assert.True(v.AsSpan().SequenceEqual(v2), $"v, {what}");
                Assert.NotEqual(w0[n - 1], w[n - 1]); // the slice was updated, its last element too
                if (from > 0) Assert.Equal(w0[from - 1], w[from - 1]); // and nothing before it
            }
    }

    [Theory]
    [InlineData(1, true)]
    [InlineData(2, true)]
    [InlineData(3, true)]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(3, false)]
    public void Steps_on_any_thread_count_equal_the_serial_scalar_steps(int threads, bool decoupled)
    {
        int saved = Parallelism.Threads;
        try
        {
            Parallelism.Threads = threads;
            var rng = new Random(23 + threads);
            // 5 and 3 blocks + 3 stay on one thread; 4 blocks + 3 and 9 blocks are split over the workers.
            int[] lengths = [5, 3 * AdamUpdate.Block + 3, 4 * AdamUpdate.Block + 3, 9 * AdamUpdate.Block];
            Parameter[] Make(Random r) => lengths.Select((n, i) =>
            {
                var p = new Parameter($"p{i}", new Tensor(n), decay: i % 2 == 0);
                Random(r, n, 1).CopyTo(p.Value.Data, 0);
                return p;
            }).ToArray();
            var fast = Make(new Random(5));
            var slow = Make(new Random(5));
            var adamFast = new Adam(fast, 1e-3f, 0.01f, decoupled);
            var adamSlow = new Adam(slow, 1e-3f, 0.01f, decoupled);
            for (int step = 0; step < 3; step++)
            {
                for (int k = 0; k < lengths.Length; k++)
                {
                    float[] g = Random(rng, lengths[k], 0.1f);
                    g.CopyTo(fast[k].Grad.Data, 0);
                    g.CopyTo(slow[k].Grad.Data, 0);
                }
                float[] before = (float[])fast[3].Value.Data.Clone();
                adamFast.Step();
                try
                {
                    Adam.SerialScalar = true;
                    adamSlow.Step();
                }
                finally
                {
                    Adam.SerialScalar = false;
                }
                for (int k = 0; k < lengths.Length; k++)
                    Assert.True(fast[k].Value.Data.AsSpan().SequenceEqual(slow[k].Value.Data), $"parameter {k} step {step} threads={threads} decoupled={decoupled}");
                Assert.False(before.AsSpan().SequenceEqual(fast[3].Value.Data), "the step moved the weights");
            }
        }
        finally
        {
            Parallelism.Threads = saved;
        }
    }
}
