// HeadTrainer: trains a teach-mode head (dense + softmax, optionally one ReLU hidden layer) on cached backbone features
// with the engine's own backprop (Graph.Backward, the Trainer's SGD/Adam loop and softmax cross-entropy), holding out
// the newest frames of every class for validation. Features are standardised while training and the standardisation
// is folded into the first dense layer afterwards, so the head reads raw features. It computes no features itself.
using System.Diagnostics;
using CameraCnn.Engine.Data;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Training;

namespace CameraCnn.Engine.Teach;

/// <summary>
/// A head training run: the optimisation (<see cref="Training"/>, with defaults that suit a few hundred frames of 512
/// features), the head's shape and the held-out split.
/// </summary>
public sealed record HeadOptions
{
    /// <summary>The head's defaults: 30 epochs of AdamW, batch 32, learning rate 3e-3, weight decay 1e-4.</summary>
    public static readonly TrainOptions DefaultTraining = new()
    {
        Epochs = 30, BatchSize = 32, LearningRate = 3e-3f, WeightDecay = 1e-4f, Momentum = 0.9f, Optimizer = OptimizerKind.AdamW, Seed = 1,
    };

    /// <summary>Epochs, batch, learning rate, weight decay (the lecture's eq. 13; decoupled for AdamW), optimiser, seed
    /// (initialisation and shuffling: the same data and seed give the same head).</summary>
    public TrainOptions Training { get; init; } = DefaultTraining;
    /// <summary>Hidden ReLU units between the features and the output layer; 0 for dense + softmax only.</summary>
    public int Hidden { get; init; }
    /// <summary>Share of each class's recorded frames held out for validation: the newest ones. 0 for none.</summary>
    public double ValFraction { get; init; } = 0.2;

    /// <exception cref="ArgumentException">A value is out of range (the message names it).</exception>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Training);
        Training.Validate();
        if (Hidden < 0 || Hidden > ClassifierHead.MaxHidden) throw new ArgumentException($"hidden units must be in [0, {ClassifierHead.MaxHidden}]");
        if (!(ValFraction >= 0 && ValFraction < 1)) throw new ArgumentException("the validation fraction must be in [0, 1)");
    }
}

/// <summary>One finished epoch: mean training loss and accuracy, validation accuracy (NaN without a held-out set).</summary>
public readonly record struct HeadProgress(int Epoch, int Epochs, float Loss, float TrainAccuracy, float ValAccuracy, double Seconds);

/// <summary>What a head training run produced.</summary>
/// <param name="Head">The trained head (reads raw features; the standardisation is folded in).</param>
/// <param name="ValAccuracy">Accuracy of <paramref name="Head"/> on the held-out frames; NaN when none were held out.</param>
/// <param name="Confusion">Held-out confusion matrix over the head's classes (rows: true, columns: predicted).</param>
/// <param name="Seconds">Wall time of the whole run (split, standardisation, every epoch, the final evaluation).</param>
/// <param name="EmptyClasses">Classes of the data that had no samples and were left out of the head.</param>
public sealed record HeadResult(
    ClassifierHead Head,
    float ValAccuracy,
    float ValLoss,
    int[,] Confusion,
    float[] PerClassAccuracy,
    float TrainAccuracy,
    float Loss,
    int TrainSamples,
    int ValSamples,
    int Epochs,
    double Seconds,
    IReadOnlyList<HeadProgress> History,
    IReadOnlyList<string> EmptyClasses);

/// <summary>Trains <see cref="ClassifierHead"/>s on <see cref="HeadData"/>.</summary>
public static class HeadTrainer
{
    /// <summary>
    /// Trains a head. Split: for each class, the frames (groups) in recording order; the newest
    /// round(<see cref="HeadOptions.ValFraction"/> x frames) of them (at least one, never all) are held out when the
    /// class has two or more frames; augmented copies follow their frame into training and are never validated on.
    /// Classes without samples are left out of the head (listed in <see cref="HeadResult.EmptyClasses"/>).
    /// Runs on the calling thread; <paramref name="progress"/> is told after every epoch.
    /// </summary>
    /// <exception cref="InvalidDataException">Fewer than two classes have samples.</exception>
    /// <exception cref="ArgumentException">Bad options.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancel"/> was signalled (checked every batch).</exception>
    /// <exception cref="DivergedException">The loss became NaN or infinite (lower the learning rate).</exception>
    public static HeadResult Train(HeadData data, HeadOptions options, IProgress<HeadProgress>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var clock = Stopwatch.StartNew();

        // Classes with samples, in the data's order; labels are remapped onto them.
        int[] counts = data.CountPerClass();
        var kept = Enumerable.Range(0, counts.Length).Where(c => counts[c] > 0).ToArray();
        string[] empty = Enumerable.Range(0, counts.Length).Where(c => counts[c] == 0).Select(c => data.ClassNames[c]).ToArray();
        if (kept.Length < 2)
        {
            string have = kept.Length == 0 ? "no samples at all" : $"only '{data.ClassNames[kept[0]]}' has samples ({counts[kept[0]]})";
            throw new InvalidDataException($"need samples of at least two classes to train a head; {have}");
        }
        var remap = new int[counts.Length];
        Array.Fill(remap, -1);
        for (int i = 0; i < kept.Length; i++) remap[kept[i]] = i;
        string[] labels = kept.Select(c => data.ClassNames[c]).ToArray();
        int[] classIndices = kept.Select(c => data.ClassIndices[c]).ToArray();

        var (trainIdx, valIdx) = Split(data, options.ValFraction);
        int d = data.Dimension, k = kept.Length;
        var (mean, std) = Standardisation(data, trainIdx);
        var train = ToDataset(data, trainIdx, remap, labels, mean, std);
        var valStd = ToDataset(data, valIdx, remap, labels, mean, std);

        var model = BuildModel(d, options.Hidden, labels);
        var training = options.Training;
        Initializer.Initialize(model.Graph, training.Seed, options.Hidden > 0 ? InitScheme.He : InitScheme.Xavier);
        var trainer = new Trainer(model, training);

        var history = new List<HeadProgress>(training.Epochs);
        EpochResult last = new(0, float.NaN, float.NaN, 0, 0);
        for (int epoch = 1; epoch <= training.Epochs; epoch++)
        {
            cancel.ThrowIfCancellationRequested();
            last = trainer.RunEpoch(train, epoch, null, cancel);
            float valAcc = valStd.Count > 0 ? Trainer.Evaluate(model, valStd).Accuracy : float.NaN;
            var p = new HeadProgress(epoch, training.Epochs, last.Loss, last.TrainAccuracy, valAcc, clock.Elapsed.TotalSeconds);
            history.Add(p);
            progress?.Report(p);
        }

        var (first, second) = DenseLayers(model);
        Fold(first, mean, std);
        var valRaw = ToDataset(data, valIdx, remap, labels, null, null);
        var eval = valRaw.Count > 0 ? Trainer.Evaluate(model, valRaw) : null;
        var head = ClassifierHead.FromDense(first, second, labels, classIndices);
        return new HeadResult(head,
            eval?.Accuracy ?? float.NaN, eval?.Loss ?? float.NaN, eval?.Confusion ?? new int[k, k],
            eval?.PerClassAccuracy ?? Enumerable.Repeat(float.NaN, k).ToArray(),
            last.TrainAccuracy, last.Loss, train.Count, valRaw.Count, training.Epochs, clock.Elapsed.TotalSeconds, history, empty);
    }

    /// <summary>
    /// The held-out split <see cref="Train"/> uses, as sample indices into <paramref name="data"/>: by recorded frame, the
    /// newest of each class held out; augmented copies of held-out frames are in neither list.
    /// </summary>
    public static (int[] Train, int[] Val) Split(HeadData data, double fraction) =>
        Split(data.Count, data.Label, data.Group, data.IsAugmented, fraction);

    /// <summary>The same split over any samples given by their label, frame (group) and augmented flag.</summary>
    public static (int[] Train, int[] Val) Split(int count, Func<int, int> label, Func<int, int> group, Func<int, bool> augmented, double fraction)
    {
        // Frames (groups) per class in order of first appearance, i.e. recording order.
        var framesOf = new Dictionary<int, List<int>>();
        var seen = new HashSet<int>();
        for (int i = 0; i < count; i++)
        {
            if (augmented(i) || !seen.Add(group(i))) continue;
            if (!framesOf.TryGetValue(label(i), out var list)) framesOf[label(i)] = list = [];
            list.Add(group(i));
        }
        var held = new HashSet<int>();
        foreach (var frames in framesOf.Values)
        {
            if (fraction <= 0 || frames.Count < 2) continue;
            int n = Math.Clamp((int)Math.Round(frames.Count * fraction, MidpointRounding.AwayFromZero), 1, frames.Count - 1);
            for (int j = frames.Count - n; j < frames.Count; j++) held.Add(frames[j]);
        }
        var train = new List<int>();
        var val = new List<int>();
        for (int i = 0; i < count; i++)
        {
            if (!held.Contains(group(i))) train.Add(i);
            else if (!augmented(i)) val.Add(i);
        }
        return (train.ToArray(), val.ToArray());
    }

    /// <summary>
    /// Per-feature mean and standard deviation over the training samples. The variance gets 1% of the mean variance
    /// added, so a feature that never varied in training is not blown up when it does vary later.
    /// </summary>
    private static (float[] Mean, float[] Std) Standardisation(HeadData data, int[] indices)
    {
        int d = data.Dimension;
        var sum = new double[d];
        var sq = new double[d];
        foreach (int i in indices)
        {
            float[] x = data.Features(i);
            for (int j = 0; j < d; j++) { sum[j] += x[j]; sq[j] += (double)x[j] * x[j]; }
        }
        int n = Math.Max(1, indices.Length);
        var mean = new float[d];
        var variance = new double[d];
        for (int j = 0; j < d; j++)
        {
            double m = sum[j] / n;
            mean[j] = (float)m;
            variance[j] = Math.Max(sq[j] / n - m * m, 0);
        }
        double floor = 0.01 * variance.Average() + 1e-12;
        var std = new float[d];
        for (int j = 0; j < d; j++) std[j] = (float)Math.Sqrt(variance[j] + floor);
        return (mean, std);
    }

    /// <summary>The samples as a [N, D, 1, 1] data set (the backbone's pooled-output shape), standardised when mean/std are given.</summary>
    private static Dataset ToDataset(HeadData data, int[] indices, int[] remap, string[] labels, float[]? mean, float[]? std)
    {
        int d = data.Dimension;
        var images = new Tensor(indices.Length, d, 1, 1);
        var y = new int[indices.Length];
        for (int r = 0; r < indices.Length; r++)
        {
            int i = indices[r];
            Span<float> row = images.Data.AsSpan(r * d, d);
            data.Features(i).CopyTo(row);
            if (mean is not null)
                for (int j = 0; j < d; j++) row[j] = (row[j] - mean[j]) / std![j];
            y[r] = remap[data.Label(i)];
        }
        return new Dataset(images, y, labels);
    }

    /// <summary>features [N, D, 1, 1] -> Flatten -> Dense [-> ReLU -> Dense] -> Softmax, the graph the Trainer steps.</summary>
    private static Model BuildModel(int d, int hidden, string[] labels)
    {
        var g = new Graph();
        var x = g.AddInput("features", -1, d, 1, 1);
        var flat = g.Add(new Flatten { Name = "teach_flatten" }, x);
        Node logits;
        if (hidden == 0) logits = g.Add(new Dense(d, labels.Length) { Name = "teach_fc" }, flat);
        else
        {
            var h = g.Add(new Dense(d, hidden) { Name = "teach_hidden" }, flat);
            var r = g.Add(new ReLU { Name = "teach_relu" }, h);
            logits = g.Add(new Dense(hidden, labels.Length) { Name = "teach_fc" }, r);
        }
        g.MarkOutputOnly(g.Add(new Softmax { Name = "probabilities" }, logits));
        return new Model(g, labels);
    }

    private static (Dense First, Dense? Second) DenseLayers(Model model)
    {
        var dense = model.Graph.Nodes.Select(n => n.Layer).OfType<Dense>().ToArray();
        return (dense[0], dense.Length > 1 ? dense[1] : null);
    }

    /// <summary>
    /// W (x - m) / s + b = (W / s) x + (b - (W / s) m): the first layer takes raw features afterwards, exactly.
    /// </summary>
    private static void Fold(Dense first, float[] mean, float[] std)
    {
        int d = first.InFeatures;
        float[] w = first.Weight.Value.Data, b = first.Bias!.Value.Data;
        for (int o = 0; o < first.OutFeatures; o++)
        {
            double shift = 0;
            for (int j = 0; j < d; j++)
            {
                float wj = w[o * d + j] / std[j];
                w[o * d + j] = wj;
                shift += (double)wj * mean[j];
            }
            b[o] = (float)(b[o] - shift);
        }
    }
}
