// FineTunerTests: the fine-tuner on a small residual network: gradients of the trained blocks (conv weights, batch-norm
// scale and shift in inference mode) and of the head against central finite differences of the loss; the frozen part,
// the running statistics and the source network bit-identical after training; the same seed giving the same weights,
// with the activations in memory or read from disk; and a run that learns.
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Teach;
using CameraCnn.Engine.Tests.Formats;
using Xunit.Abstractions;

namespace CameraCnn.Engine.Tests.FineTune;

public sealed class FineTunerTests(ITestOutputHelper output)
{
    private static readonly string[] Classes = ["a", "b", "c", "d"];

    /// <summary>Activations at <paramref name="cut"/> of labelled images, from an instance of the network of its own.</summary>
    private static FineTuneData Data(Cut cut, ActivationCache cache, int perClass, int seed)
    {
        var frozen = MiniResNet.Build();
        var prefix = GraphChain.Truncate(frozen, frozen[cut.Node.Name]);
        var (images, labels) = MiniResNet.Images(perClass * Classes.Length, Classes.Length, seed);
        var y = prefix.Forward(images);
        int d = cut.Dimension;
        var data = new FineTuneData(cache, Classes);
        for (int c = 0; c < Classes.Length; c++)
            for (int i = 0; i < labels.Length; i++)
            {
                if (labels[i] != c) continue;
                string key = $"{seed}-{i}";
                cache.Set(key, y.Data.AsSpan(i * d, d));
                data.Add(c, key);
            }
        return data;
    }

    private static ClassifierHead RandomHead(int hidden, int seed)
    {
        var rng = new Random(seed);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => rng.NextSingle() - 0.5f).ToArray();
        int d = MiniResNet.Features, k = Classes.Length;
        return hidden == 0
            ? new ClassifierHead(d, 0, Classes, R(k * d), R(k), null, null)
            : new ClassifierHead(d, hidden, Classes, R(hidden * d), R(hidden), R(k * hidden), R(k));
    }

    [Theory]
    [InlineData(2, 0)]
    [InlineData(3, 5)]
    public void Gradients_of_the_trained_blocks_and_head_match_finite_differences(int blocks, int hidden)
    {
        var network = MiniResNet.Build();
        var cut = ResidualBlocks.CutBefore(network, blocks);
        var model = FineTuner.ChainHead(TrainedPart.Build(network, cut), RandomHead(hidden, 3));
        var g = model.Graph;
        var other = MiniResNet.Build();
        var prefix = GraphChain.Truncate(other, other[cut.Node.Name]);
        var (images, _) = MiniResNet.Images(5, Classes.Length, 9);
        var x = prefix.Forward(images).Clone();
        int[] labels = [0, 1, 2, 3, 1];
        var dLogits = new Tensor(0);

        float loss = FineTuner.LossAndGradients(model, x, labels, dLogits, out _);
        Assert.True(float.IsFinite(loss));
        var parameters = g.NamedParameters.Where(p => p.Parameter.Trainable).ToArray();
        var analytic = parameters.Select(p => (float[])p.Parameter.Grad.Data.Clone()).ToArray();
        var relus = g.Nodes.Where(n => n.Layer is ReLU).Select(n => n.Inputs[0]).ToArray();
        bool[][] Signs() => relus.Select(n => n.Output.Data.Select(v => v > 0).ToArray()).ToArray();
        var signs = Signs();

        double Loss()
        {
            g.Forward(x, training: false);
            return Training.Loss.SoftmaxCrossEntropy(model.Logits.Output, labels, new Tensor(0), out _);
        }

        const float h = 1e-3f;
        int checkedCount = 0, kinks = 0;
        foreach (var ((name, p), k) in parameters.Select((p, k) => (p, k)))
        {
            Assert.DoesNotContain(name, new[] { "mean", "var" }.Select(s => "." + s)); // running statistics never train
            for (int e = 0; e < p.Value.Length; e++)
            {
                float keep = p.Value.Data[e];
                p.Value.Data[e] = keep + h;
                double plus = Loss();
                bool kink = !Signs().Zip(signs).All(s => s.First.AsSpan().SequenceEqual(s.Second));
                p.Value.Data[e] = keep - h;
                double minus = Loss();
                kink |= !Signs().Zip(signs).All(s => s.First.AsSpan().SequenceEqual(s.Second));
                p.Value.Data[e] = keep;
                double fd = (plus - minus) / (2 * h);
                double a = analytic[k][e];
                bool close = Math.Abs(a - fd) <= 5e-4 + 2e-2 * Math.Abs(fd);
                // A ReLU that switched inside the step makes the difference something else than the derivative.
                if (!close && kink) { kinks++; continue; }
                Assert.True(close, $"d loss / d {name}[{e}]: backward {a:E4}, finite difference {fd:E4}");
                checkedCount++;
            }
        }
        output.WriteLine($"{checkedCount} parameter elements checked ({parameters.Length} tensors: {string.Join(", ", parameters.Select(p => p.Name))}); {kinks} skipped (a ReLU switched within the step and the difference disagreed)");
        Assert.True(kinks <= checkedCount / 20, $"{kinks} of {checkedCount + kinks} points sit at ReLU kinks");
        Assert.Contains(parameters, p => p.Name.EndsWith("_bn2.scale", StringComparison.Ordinal));
        Assert.Contains(parameters, p => p.Name.EndsWith("_conv1.W", StringComparison.Ordinal));
    }

    private static Dictionary<string, float[]> Values(Graph g) =>
        g.NamedParameters.ToDictionary(p => p.Name, p => (float[])p.Parameter.Value.Data.Clone());

    [Fact]
    public void Features_through_the_trained_blocks_from_the_cached_activations_equal_a_whole_forward()
    {
        var network = MiniResNet.Build(); // the weights Data's frozen part has
        var cut = ResidualBlocks.CutBefore(network, 2);
        using var cache = ActivationCache.Create(null, "mini", cut.Node.Name, cut.Shape[1..]);
        var data = Data(cut, cache, 5, seed: 3); // activations of another instance's frozen part (the same weights)
        var store = new FeatureCache("mini-tuned", MiniResNet.Features);
        FineTuner.Features(network, cut, network.Output, data, store, batchSize: 3);

        var (images, _) = MiniResNet.Images(5 * Classes.Length, Classes.Length, 3);
        var whole = network.Forward(images);
        var expected = new float[MiniResNet.Features];
        var got = new float[MiniResNet.Features];
        Assert.Equal(data.Count, store.Count);
        for (int i = 0; i < images.N; i++)
        {
            Assert.True(store.TryGet($"3-{i}", got));
            whole.Data.AsSpan(i * MiniResNet.Features, MiniResNet.Features).CopyTo(expected);
            Assert.Equal(expected, got, (a, b) => Math.Abs(a - b) <= 1e-5f * (1 + Math.Abs(a)));
        }
        Assert.Throws<ArgumentException>(() => FineTuner.Features(network, cut, network.Output, data, new FeatureCache("x", 3)));
    }

    [Fact]
    public void Training_changes_only_the_blocks_after_the_cut_and_the_source_network_not_at_all()
    {
        using var dir = new TempDir();
        var network = MiniResNet.Build();
        var before = Values(network);
        var cut = ResidualBlocks.CutBefore(network, 2);
        using var cache = ActivationCache.Create(dir["acts.bin"], "mini", cut.Node.Name, cut.Shape[1..]);
        var data = Data(cut, cache, 12, seed: 1);
        var options = new FineTuneOptions { Blocks = 2, Epochs = 4, BatchSize = 8, Patience = 0, BackboneLearningRate = 1e-2f };
        var result = FineTuner.Train(network, cut, data, options);

        Assert.Equal(before, Values(network)); // only read
        var composed = result.Compose(new Model(MiniResNet.Build()), "mini").Graph;
        var after = Values(composed);
        int changed = 0;
        foreach (var n in network.Nodes.Where(n => n.Layer is { Parameters.Count: > 0 }))
            foreach (var p in n.Layer!.Parameters)
            {
                string name = $"{n.Name}.{p.Name}";
                bool same = before[name].AsSpan().SequenceEqual(after[name]);
                if (n.Index <= cut.Node.Index || !p.Trainable)
                    Assert.True(same, $"{name} ({(p.Trainable ? "frozen" : "running statistic")}) changed");
                else if (!same) changed++;
            }
        output.WriteLine($"{changed} trained tensors changed; validation accuracy {result.ValAccuracy:P1}, head only {result.HeadOnly.ValAccuracy:P1}");
        Assert.True(changed >= 8, $"only {changed} tensors after the cut changed"); // 2 blocks: 4 convs (+ projection), their BN scale/shift
        Assert.Equal(result.CutNode, composed.Nodes.First(n => n.Name == cut.Node.Name).Name);
    }

    [Fact]
    public void The_same_seed_gives_the_same_weights_from_memory_or_from_disk()
    {
        using var dir = new TempDir();
        var network = MiniResNet.Build();
        var cut = ResidualBlocks.CutBefore(network, 2);
        var options = new FineTuneOptions { Blocks = 2, Epochs = 3, BatchSize = 8, Patience = 0 };
        FineTuneResult Run(string file, long budget)
        {
            using var cache = ActivationCache.Create(dir[file], "mini", cut.Node.Name, cut.Shape[1..]);
            var data = Data(cut, cache, 10, seed: 2);
            cache.Commit();
            Assert.Equal(budget > 0, cache.HoldInMemory(data.Keys, budget));
            return FineTuner.Train(network, cut, data, options);
        }
        var a = Run("a.bin", long.MaxValue);
        var b = Run("b.bin", 0);
        Assert.Equal(a.Weights.Keys, b.Weights.Keys);
        foreach (var (name, values) in a.Weights)
            for (int k = 0; k < values.Length; k++)
                Assert.True(values[k].AsSpan().SequenceEqual(b.Weights[name][k]), $"{name}[{k}] differs between the runs");
        var probsA = new float[4];
        var probsB = new float[4];
        var f = Enumerable.Range(0, MiniResNet.Features).Select(i => i * 0.1f).ToArray();
        a.Head.Predict(f, probsA);
        b.Head.Predict(f, probsB);
        Assert.Equal(probsA, probsB);
        Assert.Equal(a.ValAccuracy, b.ValAccuracy);
    }

    [Fact]
    public void Fine_tuning_learns_what_the_frozen_features_do_not_separate()
    {
        // A randomly initialised network is a poor feature extractor: the head alone fits the held-out frames badly, and
        // training the last blocks too does better.
        using var dir = new TempDir();
        var network = MiniResNet.Build();
        var cut = ResidualBlocks.CutBefore(network, 2);
        using var cache = ActivationCache.Create(null, "mini", cut.Node.Name, cut.Shape[1..]);
        var data = Data(cut, cache, 40, seed: 3);
        var options = new FineTuneOptions
        {
            Blocks = 2, Epochs = 30, BatchSize = 16, Patience = 0, LearningRate = 3e-3f, BackboneLearningRate = 3e-3f,
            Head = new HeadOptions { Training = HeadOptions.DefaultTraining with { Epochs = 30 } },
        };
        var result = FineTuner.Train(network, cut, data, options);
        output.WriteLine($"validation accuracy {result.ValAccuracy:P1} (epoch {result.BestEpoch}), head only {result.HeadOnly.ValAccuracy:P1}; " +
                         $"per epoch {string.Join(" ", result.History.Select(h => h.ValAccuracy.ToString("P0")))}");
        Assert.Equal(32, result.ValSamples); // the newest 20 % of each class
        Assert.True(result.ValAccuracy >= result.HeadOnly.ValAccuracy + 0.1f, "fine-tuning did not beat the head alone by 10 points");
    }
}
