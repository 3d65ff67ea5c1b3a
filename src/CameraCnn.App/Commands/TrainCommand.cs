// camcnn train: trains a network from scratch on a data set, saving the model (ONNX) after every epoch.
using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using CameraCnn.App.Cli;
using CameraCnn.App.Teach;
using CameraCnn.Engine.Data;
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Training;

namespace CameraCnn.App.Commands;

public static class TrainCommand
{
    public static Command Create()
    {
        var data = new Option<string>("--data") { Description = "fashion-mnist, an IDX directory, or an image folder (one sub-folder per class)", Required = true };
        var arch = new Option<string>("--arch") { Description = "network to build", DefaultValueFactory = _ => "lenet" };
        arch.AcceptOnlyFromAmong(Architectures.Names);
        var epochs = new Option<int>("--epochs") { Description = "passes over the training set", DefaultValueFactory = _ => 10 };
        var batch = new Option<int>("--batch") { Description = "mini-batch size", DefaultValueFactory = _ => 64 };
        var lr = new Option<float>("--lr") { Description = "learning rate mu (eq. 13)", DefaultValueFactory = _ => 0.05f };
        var decay = new Option<float>("--weight-decay") { Description = "weight decay lambda (eq. 13)", DefaultValueFactory = _ => 5e-4f };
        var momentum = new Option<float>("--momentum") { Description = "SGD momentum", DefaultValueFactory = _ => 0.9f };
        var lrDecay = new Option<float>("--lr-decay") { Description = "multiply the learning rate by this each epoch", DefaultValueFactory = _ => 0.8f };
        // Parsed once, here: the names are checked, then the token becomes an OptimizerKind (case-insensitive).
        var optimizer = new Option<OptimizerKind>("--optimizer") { Description = "sgd, adam or adamw", DefaultValueFactory = _ => OptimizerKind.Sgd };
        optimizer.AcceptOnlyFromAmong("sgd", "adam", "adamw");
        var seed = new Option<int>("--seed") { Description = "seed for initialisation, shuffling and splits", DefaultValueFactory = _ => 1 };
        var output = new Option<string>("--out") { Description = "model file to write (ONNX)", Required = true };
        var json = new Option<bool>("--json") { Description = "print a JSON summary as the last line" };
        var limit = new Option<int?>("--limit") { Description = "use at most this many training (and test) samples" };
        var inputSize = new Option<int?>("--input-size") { Description = "resize image-folder images to SIZE x SIZE (default 64)" };
        var gray = new Option<bool>("--grayscale") { Description = "load image-folder images as one grey channel" };
        var valFraction = new Option<double>("--val-fraction") { Description = "share of the training set held out for validation", DefaultValueFactory = _ => 0.1 };
        var threads = new Option<int?>("--threads") { Description = "worker threads (default: all cores)" };
        // Teach mode's trainer (src/CameraCnn.App/Teach): a head on a pretrained backbone's features instead of a network from scratch.
        var backbone = new Option<string?>("--backbone") { Description = "train only a head (dense + softmax) on this pretrained backbone's features (resnet18 or an .onnx path); --data is an image folder; the model written is backbone + head. Features are cached in DATA/.camcnn-features-*.bin. Defaults then: 30 epochs, batch 32, adamw, lr 0.003, newest 20% of each class held out" };
        var hidden = new Option<int>("--hidden") { Description = "with --backbone: hidden ReLU units before the output layer (0: none)", DefaultValueFactory = _ => 0 };
        var augment = new Option<int>("--augment") { Description = "with --backbone: augmented copies (flip, crop, colour jitter) per training image, one backbone forward each", DefaultValueFactory = _ => 0 };
        var noCache = new Option<bool>("--no-cache") { Description = "with --backbone: neither read nor write the feature cache" };
        var fineTune = new Option<int>("--fine-tune") { Description = FineTuneHelp, DefaultValueFactory = _ => 0 };
        var patience = new Option<int?>("--patience") { Description = "with --fine-tune: stop after this many epochs without a better validation accuracy, once half of --epochs ran (default 3; 0: run every epoch)" };
        var backboneLr = new Option<float?>("--backbone-lr") { Description = "with --fine-tune: learning rate of the backbone's blocks (default 1e-4; --lr is the head's, default 1e-3 then)" };

        var cmd = new Command("train", "Train a CNN from scratch (or, with --backbone, a head on a pretrained backbone) and save it as ONNX (labels and preprocessing in its metadata).")
        {
            data, arch, epochs, batch, lr, decay, momentum, lrDecay, optimizer, seed, output, json, limit, inputSize, gray, valFraction, threads,
            backbone, hidden, augment, noCache, fineTune, backboneLr, patience,
        };
        cmd.SetAction(r => CliRunner.Run(() =>
        {
            CheckRanges(r);
            if (r.GetValue(backbone) is { } b) return RunTeach(r, b);
            RequireBackboneForFineTuning(r);
            foreach (Option o in new Option[] { hidden, augment, noCache })
                if (r.GetResult(o) is { Implicit: false }) throw new CliException($"{o.Name} applies only with --backbone");
            return Run(new Args(
                r.GetValue(data)!, r.GetValue(arch)!, r.GetValue(epochs), r.GetValue(batch), r.GetValue(lr), r.GetValue(decay),
                r.GetValue(momentum), r.GetValue(lrDecay), r.GetValue(optimizer), r.GetValue(seed), r.GetValue(output)!, r.GetValue(json),
                r.GetValue(limit), r.GetValue(inputSize), r.GetValue(gray), r.GetValue(valFraction), r.GetValue(threads)));
        }));
        return cmd;

        // Every numeric option, given or default, before anything is loaded (the same ranges with and without --backbone).
        void CheckRanges(ParseResult r)
        {
            OptionRanges.Whole(r.GetValue(epochs), "--epochs", 1, OptionRanges.MaxEpochs);
            OptionRanges.Whole(r.GetValue(batch), "--batch", 1, OptionRanges.MaxBatch);
            // No top for the rates: a rate that is too high ends in a clean divergence (exit code 3), not in a refusal.
            OptionRanges.Number(r.GetValue(lr), "--lr", 0, double.MaxValue, minOpen: true);
            OptionRanges.Number(r.GetValue(decay), "--weight-decay", 0, double.MaxValue);
            OptionRanges.Number(r.GetValue(momentum), "--momentum", 0, 1, maxOpen: true);
            OptionRanges.Number(r.GetValue(lrDecay), "--lr-decay", 0, double.MaxValue, minOpen: true);
            OptionRanges.Number(r.GetValue(valFraction), "--val-fraction", 0, 1, maxOpen: true);
            OptionRanges.Whole(r.GetValue(limit), "--limit", 1);
            OptionRanges.Whole(r.GetValue(inputSize), "--input-size", OptionRanges.MinInputSize, OptionRanges.MaxInputSize);
            OptionRanges.Threads(r.GetValue(threads));
            OptionRanges.Whole(r.GetValue(hidden), "--hidden", 0, OptionRanges.MaxHidden);
            OptionRanges.Whole(r.GetValue(augment), "--augment", 0, OptionRanges.MaxAugment);
            OptionRanges.Number(r.GetValue(backboneLr), "--backbone-lr", 0, double.MaxValue, minOpen: true);
            OptionRanges.Whole(r.GetValue(patience), "--patience", 0, OptionRanges.MaxEpochs);
        }

        int RunTeach(ParseResult r, string backboneName)
        {
            T? Given<T>(Option<T> o) where T : struct => r.GetResult(o) is { Implicit: false } ? r.GetValue(o) : null;
            foreach (Option o in new Option[] { arch, momentum, lrDecay, limit, inputSize, gray })
                if (r.GetResult(o) is { Implicit: false }) throw new CliException($"{o.Name} does not apply with --backbone");
            if (r.GetValue(threads) is { } t) Parallelism.Threads = t;
            if (r.GetValue(fineTune) is var blocks and not 0)
            {
                if (blocks < 0) throw new CliException($"--fine-tune must be 0 (head only) or a number of residual blocks, not {blocks}", Program.UsageError);
                return FineTuneCommand.Run(new FineTuneArgs(r.GetValue(data)!, backboneName, r.GetValue(output)!, r.GetValue(json), blocks,
                    Given(epochs), Given(batch), Given(lr), r.GetValue(backboneLr), Given(decay),
                    r.GetResult(optimizer) is { Implicit: false } ? r.GetValue(optimizer) : null,
                    Given(valFraction), r.GetValue(seed), r.GetValue(hidden), r.GetValue(augment), r.GetValue(noCache), r.GetValue(patience)));
            }
            foreach (Option o in new Option[] { backboneLr, patience })
                if (r.GetResult(o) is { Implicit: false }) throw new CliException($"{o.Name} applies only with --fine-tune", Program.UsageError);
            return TeachTrainCommand.Run(new TeachTrainArgs(r.GetValue(data)!, backboneName, r.GetValue(output)!, r.GetValue(json),
                Given(epochs), Given(batch), Given(lr), Given(decay), Given(optimizer),
                Given(valFraction), r.GetValue(seed), r.GetValue(hidden), r.GetValue(augment), r.GetValue(noCache)));
        }
    }

    private const string FineTuneHelp =
        "with --backbone: also train the backbone's last N residual blocks (resnet18 has 9), not only the head: their " +
        "input (the cut) is computed once per image and cached in DATA/.camcnn-activations-*.bin; a head is trained on the " +
        "frozen features first, then the blocks (--backbone-lr) and the head (--lr) together for up to --epochs (default 10, " +
        "stopping after 3 without a better validation accuracy once half of them ran; the best epoch is kept). Batch norm in those blocks keeps " +
        "its running statistics (inference mode); its scale and shift train. 0: head only";

    /// <summary>--fine-tune and --backbone-lr without --backbone: a usage error (null when neither is given).</summary>
    private static void RequireBackboneForFineTuning(ParseResult r)
    {
        foreach (var name in new[] { "--fine-tune", "--backbone-lr", "--patience" })
            if (r.GetResult(name) is System.CommandLine.Parsing.OptionResult { Implicit: false })
                throw new CliException($"{name} needs --backbone (it fine-tunes a pretrained backbone)", Program.UsageError);
    }

    private sealed record Args(string Data, string Arch, int Epochs, int Batch, float Lr, float WeightDecay, float Momentum, float LrDecay,
        OptimizerKind Optimizer, int Seed, string Out, bool Json, int? Limit, int? InputSize, bool Grayscale, double ValFraction, int? Threads);

    private static int Run(Args a)
    {
        if (a.Threads is { } t) Parallelism.Threads = t;
        string outPath = OutputPath.EnsureWritable(a.Out, "--out");

        var loaded = DataSets.Load(a.Data, a.InputSize, a.Grayscale, a.Limit, a.Seed);
        var (train, val) = a.ValFraction > 0 ? DataSets.Split(loaded.Train, a.ValFraction, a.Seed) : (loaded.Train, loaded.Test);
        if (train.ClassNames.Length < 2) throw new CliException($"need at least 2 classes to train, found {train.ClassNames.Length}");
        Report.Note($"data: {loaded.Description}: {train.Count} train, {val.Count} validation, {loaded.Test.Count} test, " +
                    $"{train.ClassNames.Length} classes, input {string.Join("x", train.SampleShape)}");

        var pre = MeasurePreprocessing(train, loaded.Grayscale);
        var model = Model.Create(a.Arch, pre, train.ClassNames);
        Initializer.Initialize(model.Graph, a.Seed);
        var trainer = new Trainer(model, new TrainOptions
        {
            Epochs = a.Epochs, BatchSize = a.Batch, LearningRate = a.Lr, Momentum = a.Momentum, WeightDecay = a.WeightDecay,
            Seed = a.Seed, Optimizer = a.Optimizer, LearningRateDecay = a.LrDecay,
        });

        var clock = Stopwatch.StartNew();
        int goodEpochs = 0, trainedSamples = 0;
        float valAccuracy = float.NaN;
        double trainSeconds = 0;
        for (int epoch = 1; epoch <= a.Epochs; epoch++)
        {
            EpochResult result;
            try
            {
                result = Report.WithProgress($"epoch {epoch}/{a.Epochs}", update => trainer.RunEpoch(train, epoch, new InlineProgress<BatchProgress>(p =>
                {
                    if (p.Batch % 10 == 0 || p.Batch == p.Batches)
                        update((double)p.Batch / p.Batches, $"loss {p.Loss:F4} acc {p.Accuracy:P1} {p.SamplesPerSecond:F0} samples/s");
                })));
            }
            catch (DivergedException e)
            {
                // The last good parameters are already on disk from the previous epoch.
                string kept = goodEpochs > 0 ? $"kept the model from epoch {goodEpochs} in {a.Out}" : $"no model was written to {a.Out}";
                throw new CliException($"training stopped: {e.Message}; {kept}", CliRunner.Diverged);
            }
            trainSeconds += result.Seconds;
            trainedSamples += train.Count;
            valAccuracy = val.Count > 0 ? Trainer.Evaluate(model, val).Accuracy : float.NaN;
            model.Save(outPath);
            goodEpochs = epoch;
            Report.Note($"epoch {epoch}/{a.Epochs}: loss {result.Loss:F4}, train accuracy {result.TrainAccuracy:P2}, " +
                        $"validation accuracy {valAccuracy:P2}, {result.SamplesPerSecond:F0} samples/s, {result.Seconds:F1} s");
        }

        var test = Trainer.Evaluate(model, loaded.Test);
        double seconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"test accuracy {test.Accuracy:P2} on {test.Count} samples after {a.Epochs} epoch(s), {seconds:F1} s; model saved to {a.Out}");
        if (a.Json)
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["test_accuracy"] = Math.Round(test.Accuracy, 5),
                ["val_accuracy"] = float.IsNaN(valAccuracy) ? -1 : Math.Round(valAccuracy, 5),
                ["epochs"] = a.Epochs,
                ["seconds"] = Math.Round(seconds, 2),
                ["samples_per_second"] = Math.Round(trainedSamples / Math.Max(trainSeconds, 1e-9), 1),
                ["train_samples"] = train.Count,
                ["test_samples"] = test.Count,
                ["arch"] = a.Arch,
                ["model"] = a.Out,
            }));
        return CliRunner.Ok;
    }

    /// <summary>Per-channel mean and standard deviation of the training images, stored as the model's normalisation.</summary>
    private static Preprocessing MeasurePreprocessing(Dataset train, bool grayscale)
    {
        int c = train.Images.C, s = train.Images.H * train.Images.W;
        var mean = new float[c];
        var std = new float[c];
        for (int ch = 0; ch < c; ch++)
        {
            double sum = 0, sq = 0;
            for (int n = 0; n < train.Count; n++)
                foreach (float v in train.Images.Data.AsSpan((n * c + ch) * s, s)) { sum += v; sq += v * (double)v; }
            double count = (double)train.Count * s, m = sum / count;
            mean[ch] = (float)m;
            std[ch] = (float)Math.Max(Math.Sqrt(Math.Max(sq / count - m * m, 0)), 1e-3);
        }
        return new Preprocessing
        {
            Channels = c, Height = train.Images.H, Width = train.Images.W,
            ColorOrder = c == 1 ? "gray" : "rgb", Scale = 1f / 255f, Mean = mean, Std = std, Resize = "stretch",
        };
    }
}
