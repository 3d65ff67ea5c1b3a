// Trainer: mini-batch training of a model's logits with softmax cross-entropy, seeded shuffling, evaluation
// with per-class accuracy and a confusion matrix. Stops on a non-finite loss instead of training on garbage.
using CameraCnn.Engine.Data;
using CameraCnn.Engine.Models;

namespace CameraCnn.Engine.Training;

/// <summary>The parameter update a <see cref="Trainer"/> steps with.</summary>
public enum OptimizerKind
{
    /// <summary>SGD with momentum and weight decay (the lecture's eq. 13).</summary>
    Sgd,
    /// <summary>Adam with L2 weight decay added to the gradient.</summary>
    Adam,
    /// <summary>Adam with decoupled weight decay.</summary>
    AdamW,
}

/// <summary>Hyper-parameters of a training run (a network from scratch, or a teach head: <see cref="Teach.HeadOptions"/>).</summary>
public sealed record TrainOptions
{
    public int Epochs { get; init; } = 10;
    public int BatchSize { get; init; } = 64;
    public float LearningRate { get; init; } = 0.01f;
    public float Momentum { get; init; } = 0.9f;
    public float WeightDecay { get; init; } = 5e-4f;
    public int Seed { get; init; } = 1;
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Sgd;
    /// <summary>Multiply the learning rate by this at the start of every epoch after the first.</summary>
    public float LearningRateDecay { get; init; } = 1f;

    /// <exception cref="ArgumentException">A value is out of range (the message names it).</exception>
    public void Validate()
    {
        if (Epochs < 1) throw new ArgumentException("epochs must be at least 1");
        if (BatchSize < 1) throw new ArgumentException("the batch size must be at least 1");
        if (!(LearningRate > 0) || !float.IsFinite(LearningRate)) throw new ArgumentException("the learning rate must be a positive number");
        if (!(WeightDecay >= 0) || !float.IsFinite(WeightDecay)) throw new ArgumentException("weight decay must be 0 or more");
        if (!Enum.IsDefined(Optimizer)) throw new ArgumentException($"unknown optimizer {Optimizer}");
    }
}

/// <summary>One batch's numbers, reported for progress bars.</summary>
public readonly record struct BatchProgress(int Epoch, int Batch, int Batches, int Samples, float Loss, float Accuracy, double SamplesPerSecond);

public sealed record EpochResult(int Epoch, float Loss, float TrainAccuracy, double Seconds, double SamplesPerSecond);

/// <summary>Thrown when the loss becomes NaN or infinite; the parameters are left as they were before that step.</summary>
public sealed class DivergedException(string message) : Exception(message);

/// <summary>Accuracy, per-class accuracy and confusion matrix (rows = true class, columns = predicted).</summary>
public sealed record Evaluation(float Accuracy, float Loss, float[] PerClassAccuracy, int[,] Confusion, int Count);

public sealed class Trainer
{
    private readonly Model _model;
    private readonly Optimizer _optimizer;
    private readonly TrainOptions _options;
    private readonly Random _shuffle;
    private readonly Tensor _batch = new(0), _dLogits = new(0);
    private int[] _labels = [];

    public Trainer(Model model, TrainOptions options)
    {
        _model = model;
        _options = options;
        _shuffle = new Random(options.Seed);
        var parameters = model.Graph.Parameters;
        _optimizer = Optimizer.Create(options.Optimizer, parameters, options.LearningRate, options.Momentum, options.WeightDecay);
    }

    public Optimizer Optimizer => _optimizer;

    /// <summary>One pass over the data in a seeded random order.</summary>
    public EpochResult RunEpoch(Dataset data, int epoch, IProgress<BatchProgress>? progress = null, CancellationToken cancel = default)
    {
        if (epoch > 1) _optimizer.LearningRate *= _options.LearningRateDecay;
        int n = data.Count, bs = Math.Max(1, _options.BatchSize), batches = (n + bs - 1) / bs;
        int[] order = Enumerable.Range(0, n).ToArray();
        _shuffle.Shuffle(order);
        var graph = _model.Graph;
        var logits = _model.Logits;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        double lossSum = 0;
        int correctSum = 0, seen = 0;
        for (int b = 0; b < batches; b++)
        {
            cancel.ThrowIfCancellationRequested();
            int start = b * bs, count = Math.Min(bs, n - start);
            FillBatch(data, order.AsSpan(start, count));
            graph.Forward(_batch, training: true);
            float loss = Loss.SoftmaxCrossEntropy(logits.Output, _labels.AsSpan(0, count), _dLogits, out int correct);
            if (!float.IsFinite(loss))
                throw new DivergedException($"the loss became {loss} at epoch {epoch}, batch {b + 1}/{batches}; lower --lr");
            _optimizer.ZeroGrad();
            graph.Backward(logits, _dLogits);
            _optimizer.Step();
            lossSum += (double)loss * count;
            correctSum += correct;
            seen += count;
            progress?.Report(new BatchProgress(epoch, b + 1, batches, seen, (float)(lossSum / seen), (float)correctSum / seen,
                seen / clock.Elapsed.TotalSeconds));
        }
        double seconds = clock.Elapsed.TotalSeconds;
        return new EpochResult(epoch, (float)(lossSum / Math.Max(1, seen)), (float)correctSum / Math.Max(1, seen), seconds, seen / seconds);
    }

    private void FillBatch(Dataset data, ReadOnlySpan<int> indices)
    {
        int[] shape = data.Images.Shape.ToArray();
        shape[0] = indices.Length;
        _batch.EnsureShape(shape);
        if (_labels.Length < indices.Length) _labels = new int[indices.Length];
        int s = data.Images.SampleLength;
        for (int i = 0; i < indices.Length; i++)
        {
            data.Images.Data.AsSpan(indices[i] * s, s).CopyTo(_batch.Data.AsSpan(i * s, s));
            _labels[i] = data.Labels[indices[i]];
        }
        _model.Preprocessing?.NormalizeUnit(_batch);
    }

    /// <summary>Evaluates a model in inference mode on a data set whose classes are the model's labels.</summary>
    public static Evaluation Evaluate(Model model, Dataset data, int batchSize = 256, IProgress<int>? progress = null)
    {
        int k = model.Logits.Layer is Layers.Dense d ? d.OutFeatures : Math.Max(model.Labels.Count, data.ClassNames.Length);
        var confusion = new int[k, k];
        var batch = new Tensor(0);
        var dLogits = new Tensor(0);
        int n = data.Count, s = data.Images.SampleLength, correctSum = 0;
        double lossSum = 0;
        for (int start = 0; start < n; start += batchSize)
        {
            int count = Math.Min(batchSize, n - start);
            int[] shape = data.Images.Shape.ToArray();
            shape[0] = count;
            batch.EnsureShape(shape);
            data.Images.Data.AsSpan(start * s, count * s).CopyTo(batch.Data);
            model.Preprocessing?.NormalizeUnit(batch);
            model.Graph.Forward(batch, training: false);
            var logits = model.Logits.Output;
            if (logits.Rank != 2 || logits.Shape[1] != k)
                throw new ShapeException($"the model outputs {logits.ShapeString}, expected [N, {k}] class scores");
            var labels = data.Labels.AsSpan(start, count);
            lossSum += Loss.SoftmaxCrossEntropy(logits, labels, dLogits, out int correct) * count;
            correctSum += correct;
            for (int i = 0; i < count; i++)
            {
                int predicted = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits.Data.AsSpan(i * k, k));
                confusion[labels[i], predicted]++;
            }
            progress?.Report(start + count);
        }
        var perClass = new float[k];
        for (int c = 0; c < k; c++)
        {
            int total = 0;
            for (int p = 0; p < k; p++) total += confusion[c, p];
            perClass[c] = total == 0 ? float.NaN : (float)confusion[c, c] / total;
        }
        return new Evaluation(n == 0 ? 0 : (float)correctSum / n, n == 0 ? 0 : (float)(lossSum / n), perClass, confusion, n);
    }

    /// <summary>A copy of every parameter's values, to roll back to after a diverged epoch.</summary>
    public static float[][] Snapshot(Graph graph) => graph.Parameters.Select(p => (float[])p.Value.Data.Clone()).ToArray();

    public static void Restore(Graph graph, float[][] snapshot)
    {
        int i = 0;
        foreach (var p in graph.Parameters) snapshot[i++].CopyTo(p.Value.Data, 0);
    }
}
