// FineTuner: fine-tunes the last residual blocks of a backbone together with a teach-mode head, on activations at the
// cut read from an ActivationCache, with the engine's own backward pass. First a head is trained on the frozen features
// (HeadTrainer: the head-only result, and the start point), then the copied blocks and the head train together with
// two learning rates; the held-out frames pick the best epoch and stop the run early. Batch norm in the trained blocks
// runs in inference mode: its running statistics stay, its scale and shift train. Computes no activations itself.
using System.Diagnostics;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Training;

namespace CameraCnn.Engine.Teach;

/// <summary>Hyper-parameters of a fine-tuning run (defaults suit a few hundred to a few thousand frames).</summary>
public sealed record FineTuneOptions
{
    /// <summary>Residual blocks trained, counted from the end (the cut is before them).</summary>
    public int Blocks { get; init; } = 2;
    /// <summary>Most passes over the training frames (fewer when validation stops the run).</summary>
    public int Epochs { get; init; } = 10;
    public int BatchSize { get; init; } = 32;
    /// <summary>Learning rate of the head (it starts trained: a rate that shakes it costs the first epochs).</summary>
    public float LearningRate { get; init; } = 1e-3f;
    /// <summary>Learning rate of the backbone's blocks: smaller, so the pretrained filters move a little.</summary>
    public float BackboneLearningRate { get; init; } = 1e-4f;
    /// <summary>Weight decay lambda (the lecture's eq. 13; decoupled for AdamW). Biases and batch norm are exempt.</summary>
    public float WeightDecay { get; init; } = 1e-4f;
    public float Momentum { get; init; } = 0.9f;
    /// <summary>"sgd", "adam" or "adamw".</summary>
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.AdamW;
    /// <summary>
    /// Stop after this many epochs without a better validation accuracy (0: never stop early), but not before half of
    /// <see cref="Epochs"/> ran (<see cref="FirstStop"/>): the first epochs of joint training usually fall below the head
    /// alone before they pass it (Fashion-MNIST, 100 frames per class, --fine-tune 2: validation 84.0 % for the head,
    /// then 76.5, 82.0, 81.5, 88.5 % in epochs 1 to 4), and stopping there kept the head alone.
    /// </summary>
    public int Patience { get; init; } = 3;

    /// <summary>The first epoch after which <see cref="Patience"/> may stop the run: half of <see cref="Epochs"/>, rounded up.</summary>
    public int FirstStop => (Epochs + 1) / 2;
    /// <summary>The head-only stage, and what it shares: hidden units, the validation share and the seed.</summary>
    public HeadOptions Head { get; init; } = new();

    /// <exception cref="ArgumentException">A value is out of range (the message names it).</exception>
    public void Validate()
    {
        Head.Validate();
        if (Blocks < 1) throw new ArgumentException("--fine-tune must be at least 1 block");
        if (Epochs < 1) throw new ArgumentException("epochs must be at least 1");
        if (BatchSize < 1) throw new ArgumentException("the batch size must be at least 1");
        if (!(LearningRate > 0) || !float.IsFinite(LearningRate)) throw new ArgumentException("the learning rate must be a positive number");
        if (!(BackboneLearningRate >= 0) || !float.IsFinite(BackboneLearningRate)) throw new ArgumentException("the backbone learning rate must be 0 or more");
        if (!(WeightDecay >= 0) || !float.IsFinite(WeightDecay)) throw new ArgumentException("weight decay must be 0 or more");
        if (Patience < 0) throw new ArgumentException("patience must be 0 or more");
    }
}

/// <summary>
/// Where a run is: epoch 0 is the head-only stage; a report with <see cref="EpochDone"/> closes an epoch and carries
/// its validation accuracy (NaN without held-out frames), the others are per batch.
/// </summary>
public readonly record struct FineTuneProgress(int Epoch, int Epochs, int Batch, int Batches, float Loss, float TrainAccuracy,
    float ValAccuracy, bool EpochDone, double Seconds);

/// <summary>What a fine-tuning run produced. Immutable: hand it to another thread as it is.</summary>
/// <param name="CutNode">The cut node's name; everything before it was frozen.</param>
/// <param name="Weights">The trained blocks' parameters by node name (values in the layer's parameter order).</param>
/// <param name="Head">The trained head (reads the backbone's raw pooled features).</param>
/// <param name="HeadOnly">The head trained on the frozen features first: the baseline and the start point.</param>
/// <param name="BestEpoch">The epoch whose weights were kept (0: fine-tuning never beat the head alone on validation).</param>
/// <param name="HeadSeconds">Wall time of the first stage (features through the untrained blocks, the head alone).</param>
public sealed record FineTuneResult(
    string CutNode, int Blocks, int TotalBlocks,
    IReadOnlyDictionary<string, float[][]> Weights,
    ClassifierHead Head,
    HeadResult HeadOnly,
    float ValAccuracy, float ValLoss, int[,] Confusion,
    int BestEpoch, int EpochsRun, int TrainSamples, int ValSamples, double HeadSeconds, double Seconds,
    IReadOnlyList<FineTuneProgress> History)
{
    /// <summary>Metadata keys a fine-tuned model carries besides the teach keys.</summary>
    public const string CutKey = "camcnn.teach.cut", BlocksKey = "camcnn.teach.blocks";

    /// <summary>
    /// Writes the trained weights into <paramref name="backbone"/> (a fresh instance of the network the run started
    /// from; nothing else may use it) and returns backbone + head as one teach model (<see cref="TeachModel.Compose"/>)
    /// with the cut and the block count in its metadata.
    /// </summary>
    /// <exception cref="InvalidDataException">The backbone lacks a trained node, or its shapes differ.</exception>
    public Model Compose(Model backbone, string backboneName, float? threshold = null)
    {
        ArgumentNullException.ThrowIfNull(backbone);
        Apply(backbone.Graph);
        var model = TeachModel.Compose(backbone, Head, backboneName, threshold);
        model.Metadata[CutKey] = CutNode;
        model.Metadata[BlocksKey] = Blocks.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return model;
    }

    /// <summary>Copies the trained weights into the same-named nodes of <paramref name="graph"/>.</summary>
    /// <exception cref="InvalidDataException">A node is missing or has other parameter shapes.</exception>
    public void Apply(Graph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        foreach (var (name, values) in Weights)
        {
            if (!graph.TryGetNode(name, out var node) || node.Layer is not { } layer || layer.Parameters.Count != values.Length)
                throw new InvalidDataException($"the network has no layer '{name}' like the one that was fine-tuned");
            for (int k = 0; k < values.Length; k++)
            {
                var p = layer.Parameters[k].Value;
                if (p.Length != values[k].Length) throw new InvalidDataException($"'{name}'.{layer.Parameters[k].Name} has {p.Length} values, the trained one {values[k].Length}");
                values[k].CopyTo(p.Data, 0);
            }
        }
    }
}

/// <summary>Trains the blocks after a <see cref="Cut"/> and a head on cached activations.</summary>
public static class FineTuner
{
    /// <summary>
    /// Fine-tunes copies of the layers of <paramref name="network"/> after <paramref name="cut"/> (up to its first output,
    /// the features) and a head on <paramref name="data"/>. <paramref name="network"/> is only read (its weights are the
    /// start point), so another thread may run it meanwhile. Runs on the calling thread; the kernels use the engine's
    /// worker threads. The same data, options and seed give the same result, bit for bit.
    /// </summary>
    /// <exception cref="InvalidDataException">Fewer than two classes have samples, or activations are missing.</exception>
    /// <exception cref="ArgumentException">Bad options, or a cache of another shape than the cut's.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancel"/> was signalled (checked every batch).</exception>
    /// <exception cref="DivergedException">The loss became NaN or infinite.</exception>
    public static FineTuneResult Train(Graph network, Cut cut, FineTuneData data, FineTuneOptions options,
        IProgress<FineTuneProgress>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(cut);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (data.Cache.Dimension != cut.Dimension)
            throw new ArgumentException($"the cache holds {data.Cache.Dimension} values per sample, the cut '{cut.Node.Name}' has {cut.Dimension}");
        var clock = Stopwatch.StartNew();
        int seed = options.Head.Training.Seed;
        var part = TrainedPart.Build(network, cut);
        string[] blockNodes = part.Nodes.Where(n => n.Layer is { Parameters.Count: > 0 }).Select(n => n.Name).ToArray();
        var batch = new Batch(data, cut.Shape, options.BatchSize);

        // 1. The head alone, on the features of the untouched blocks (the part's output).
        var features = PooledFeatures(part, data, batch, cancel);
        var headOnly = HeadTrainer.Train(features, options.Head, null, cancel);
        var head = headOnly.Head;
        int[] remap = LabelMap(data, head);
        double headSeconds = clock.Elapsed.TotalSeconds;
        progress?.Report(new FineTuneProgress(0, options.Epochs, 0, 0, headOnly.Loss, headOnly.TrainAccuracy, headOnly.ValAccuracy, true, headSeconds));

        // 2. Blocks + head together, from there.
        var model = ChainHead(part, head);
        var graph = model.Graph;
        var isBlock = new HashSet<string>(blockNodes, StringComparer.Ordinal);
        var blockParams = graph.Nodes.Where(n => isBlock.Contains(n.Name)).SelectMany(n => n.Layer!.Parameters).ToArray();
        var headParams = graph.Nodes.Where(n => n.Layer is not null && !isBlock.Contains(n.Name)).SelectMany(n => n.Layer!.Parameters).ToArray();
        var optimizers = new[] { NewOptimizer(options, blockParams, options.BackboneLearningRate), NewOptimizer(options, headParams, options.LearningRate) };
        var trainable = graph.Parameters.Where(p => p.Trainable).ToArray();

        var (trainIdx, valIdx) = HeadTrainer.Split(data.Count, data.Label, data.Group, data.IsAugmented, options.Head.ValFraction);
        trainIdx = trainIdx.Where(i => remap[data.Label(i)] >= 0).ToArray();
        valIdx = valIdx.Where(i => remap[data.Label(i)] >= 0).ToArray();
        int k = head.Classes;
        var best = Evaluate(model, batch, valIdx, remap, k);
        var snapshot = Snapshot(trainable);
        int bestEpoch = 0, stale = 0, epochsRun = 0;
        var history = new List<FineTuneProgress>();
        var shuffle = new Random(seed);
        var dLogits = new Tensor(0);
        for (int epoch = 1; epoch <= options.Epochs; epoch++)
        {
            int[] order = (int[])trainIdx.Clone();
            shuffle.Shuffle(order);
            int batches = (order.Length + options.BatchSize - 1) / options.BatchSize;
            double lossSum = 0;
            int correctSum = 0, seen = 0;
            for (int b = 0; b < batches; b++)
            {
                cancel.ThrowIfCancellationRequested();
                var rows = order.AsSpan(b * options.BatchSize, Math.Min(options.BatchSize, order.Length - b * options.BatchSize));
                float loss = LossAndGradients(model, batch.Fill(rows, remap), batch.Labels(rows.Length), dLogits, out int correct);
                if (!float.IsFinite(loss))
                    throw new DivergedException($"the loss became {loss} at epoch {epoch}, batch {b + 1}/{batches}; lower the learning rates");
                // Warm-up: the rates ramp up over the first epoch. Adam's first steps move every weight by about the full
                // rate whatever its gradient, and from a head that already fits the frames that only shakes what works.
                float ramp = epoch == 1 ? (b + 1f) / batches : 1f;
                optimizers[0].LearningRate = ramp * options.BackboneLearningRate;
                optimizers[1].LearningRate = ramp * options.LearningRate;
                foreach (var o in optimizers) o.Step();
                lossSum += (double)loss * rows.Length;
                correctSum += correct;
                seen += rows.Length;
                progress?.Report(new FineTuneProgress(epoch, options.Epochs, b + 1, batches, (float)(lossSum / seen), (float)correctSum / seen,
                    float.NaN, false, clock.Elapsed.TotalSeconds));
            }
            epochsRun = epoch;
            var eval = Evaluate(model, batch, valIdx, remap, k);
            var done = new FineTuneProgress(epoch, options.Epochs, batches, batches, (float)(lossSum / Math.Max(1, seen)),
                (float)correctSum / Math.Max(1, seen), eval.Accuracy, true, clock.Elapsed.TotalSeconds);
            history.Add(done);
            progress?.Report(done);
            // Without held-out frames the last epoch is kept; with them, the best (ties: the lower validation loss).
            bool better = valIdx.Length == 0 || eval.Accuracy > best.Accuracy || (eval.Accuracy == best.Accuracy && eval.Loss < best.Loss);
            if (better)
            {
                best = eval;
                bestEpoch = epoch;
                stale = 0;
                snapshot = Snapshot(trainable);
            }
            else if (options.Patience > 0 && ++stale >= options.Patience && epoch >= options.FirstStop) break;
        }
        Restore(trainable, snapshot);

        var weights = new Dictionary<string, float[][]>(StringComparer.Ordinal);
        foreach (string name in blockNodes)
            weights[name] = graph[name].Layer!.Parameters.Select(p => (float[])p.Value.Data.Clone()).ToArray();
        var dense = graph.Nodes.Where(n => !isBlock.Contains(n.Name)).Select(n => n.Layer).OfType<Dense>().ToArray();
        var tuned = ClassifierHead.FromDense(dense[0], dense.Length > 1 ? dense[1] : null, head.Labels, head.ClassIndices);
        return new FineTuneResult(cut.Node.Name, cut.Blocks, cut.TotalBlocks, weights, tuned, headOnly,
            valIdx.Length > 0 ? best.Accuracy : float.NaN, valIdx.Length > 0 ? best.Loss : float.NaN, best.Confusion,
            bestEpoch, epochsRun, trainIdx.Length, valIdx.Length, headSeconds, clock.Elapsed.TotalSeconds, history);
    }

    /// <summary>The trained part (input: activations at the cut) followed by <paramref name="head"/>: the graph that trains.</summary>
    internal static Model ChainHead(Graph part, ClassifierHead head)
    {
        int[] featureShape = TeachModel.OutputShape(part);
        featureShape[0] = -1;
        return new Model(GraphChain.Chain(part, head.ToGraph(featureShape)), head.Labels);
    }

    /// <summary>
    /// One step's forward and backward: softmax cross-entropy of the model's logits on a batch of activations, every
    /// parameter gradient set to its derivative (zeroed first). The forward runs in inference mode, so batch norm uses its
    /// running statistics and its backward treats them as constants. Returns the mean loss (NaN or infinite: stop).
    /// </summary>
    internal static float LossAndGradients(Model model, Tensor x, ReadOnlySpan<int> labels, Tensor dLogits, out int correct)
    {
        var graph = model.Graph;
        graph.Forward(x, training: false);
        float loss = Loss.SoftmaxCrossEntropy(model.Logits.Output, labels, dLogits, out correct);
        if (!float.IsFinite(loss)) return loss;
        graph.ZeroGrad();
        graph.Backward(model.Logits, dLogits);
        return loss;
    }

    private static Optimizer NewOptimizer(FineTuneOptions o, IEnumerable<Parameter> parameters, float lr)
        => Optimizer.Create(o.Optimizer, parameters, lr, o.Momentum, o.WeightDecay);

    /// <summary>For each data label, the head's output for it (-1: a class the head left out for lack of samples).</summary>
    private static int[] LabelMap(FineTuneData data, ClassifierHead head)
    {
        int[] counts = data.CountPerClass();
        var remap = new int[data.ClassNames.Count];
        int next = 0;
        for (int c = 0; c < remap.Length; c++) remap[c] = counts[c] > 0 ? next++ : -1;
        if (next != head.Classes) throw new InvalidOperationException($"the head has {head.Classes} classes, the data {next} with samples");
        return remap;
    }

    /// <summary>Every sample's features through the untrained part, as the head trainer's input (same order and groups).</summary>
    private static HeadData PooledFeatures(Graph part, FineTuneData data, Batch batch, CancellationToken cancel)
    {
        int[] shape = TeachModel.OutputShape(part);
        var features = new HeadData((int)(Tensor.CheckedLength(shape) / shape[0]), data.ClassNames, data.ClassIndices);
        var groupOf = new Dictionary<int, int>();
        ForEachOutput(part, data, batch, (i, f) =>
        {
            if (!data.IsAugmented(i)) groupOf[data.Group(i)] = features.Add(data.Label(i), f);
            else features.Add(data.Label(i), f, groupOf[data.Group(i)], augmented: true);
        }, cancel);
        return features;
    }

    /// <summary>
    /// The features of every sample of <paramref name="data"/> (augmented copies too) through the layers of
    /// <paramref name="network"/> after <paramref name="cut"/> up to <paramref name="end"/> (its features node), stored in
    /// <paramref name="into"/> under the sample's key: what a frozen-feature head trained after fine-tuning reads, from
    /// the cached activations instead of a whole forward per frame. <paramref name="network"/> is only read (its layers
    /// are copied), in batches of <paramref name="batchSize"/>.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="into"/> holds vectors of another length than the features.</exception>
    /// <exception cref="InvalidDataException">Activations are missing from the cache.</exception>
    /// <exception cref="OperationCanceledException">Cancelled (checked every batch).</exception>
    public static void Features(Graph network, Cut cut, Node end, FineTuneData data, IFeatureStore into, int batchSize = 32,
        CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(into);
        var part = TrainedPart.Build(network, cut, end);
        int[] shape = TeachModel.OutputShape(part);
        if (Tensor.CheckedLength(shape) / shape[0] != into.Dimension)
            throw new ArgumentException($"the features have {Tensor.CheckedLength(shape) / shape[0]} values, the store holds {into.Dimension}");
        ForEachOutput(part, data, new Batch(data, cut.Shape, Math.Max(1, batchSize)), (i, f) => into.Set(data.Key(i), f), cancel);
    }

    private delegate void OutputSink(int sample, ReadOnlySpan<float> output);

    /// <summary>Runs <paramref name="part"/> over every sample in batches and hands each sample's output row to <paramref name="sink"/>, in order.</summary>
    private static void ForEachOutput(Graph part, FineTuneData data, Batch batch, OutputSink sink, CancellationToken cancel)
    {
        var all = Enumerable.Range(0, data.Count).ToArray();
        for (int start = 0; start < all.Length; start += batch.Size)
        {
            cancel.ThrowIfCancellationRequested();
            var rows = all.AsSpan(start, Math.Min(batch.Size, all.Length - start));
            var y = part.Forward(batch.Fill(rows, null));
            int d = (int)(y.Length / rows.Length);
            for (int r = 0; r < rows.Length; r++) sink(rows[r], y.Data.AsSpan(r * d, d));
        }
    }

    private readonly record struct Eval(float Accuracy, float Loss, int[,] Confusion);

    /// <summary>Accuracy, mean loss and confusion on the held-out samples (inference mode).</summary>
    private static Eval Evaluate(Model model, Batch batch, int[] indices, int[] remap, int k)
    {
        var confusion = new int[k, k];
        if (indices.Length == 0) return new Eval(float.NaN, float.NaN, confusion);
        var dLogits = new Tensor(0);
        double lossSum = 0;
        int correctSum = 0;
        for (int start = 0; start < indices.Length; start += batch.Size)
        {
            var rows = indices.AsSpan(start, Math.Min(batch.Size, indices.Length - start));
            model.Graph.Forward(batch.Fill(rows, remap));
            var logits = model.Logits.Output;
            var labels = batch.Labels(rows.Length);
            lossSum += (double)Loss.SoftmaxCrossEntropy(logits, labels, dLogits, out int correct) * rows.Length;
            correctSum += correct;
            for (int r = 0; r < rows.Length; r++)
                confusion[labels[r], System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits.Data.AsSpan(r * k, k))]++;
        }
        return new Eval((float)correctSum / indices.Length, (float)(lossSum / indices.Length), confusion);
    }

    private static float[][] Snapshot(Parameter[] parameters) => parameters.Select(p => (float[])p.Value.Data.Clone()).ToArray();

    private static void Restore(Parameter[] parameters, float[][] snapshot)
    {
        for (int i = 0; i < parameters.Length; i++) snapshot[i].CopyTo(parameters[i].Value.Data, 0);
    }

    /// <summary>A reused input tensor and label buffer, filled from the cache by sample index.</summary>
    private sealed class Batch(FineTuneData data, int[] cutShape, int size)
    {
        private readonly Tensor _x = new(0);
        private int[] _labels = [];
        public int Size { get; } = size;

        public Tensor Fill(ReadOnlySpan<int> rows, int[]? remap)
        {
            int[] shape = (int[])cutShape.Clone();
            shape[0] = rows.Length;
            _x.EnsureShape(shape);
            if (_labels.Length < rows.Length) _labels = new int[rows.Length];
            int d = data.Cache.Dimension;
            for (int r = 0; r < rows.Length; r++)
            {
                int i = rows[r];
                if (!data.Cache.TryRead(data.Key(i), _x.Data.AsSpan(r * d, d)))
                    throw new InvalidDataException($"the activations of '{data.Key(i)}' are no longer in the cache");
                _labels[r] = remap is null ? data.Label(i) : remap[data.Label(i)];
            }
            return _x;
        }

        public ReadOnlySpan<int> Labels(int count) => _labels.AsSpan(0, count);
    }
}
