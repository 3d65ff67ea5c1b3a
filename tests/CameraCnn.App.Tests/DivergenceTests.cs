// A diverging run (loss NaN/inf) stops with exit code 3 and one line naming the loss, and never leaves a broken model:
// an earlier file survives byte for byte, or the last good epoch's model is kept.
using CameraCnn.App.Tests.Infrastructure;
using CameraCnn.Engine.Data;
using CameraCnn.Engine.Models;
using Xunit.Abstractions;

namespace CameraCnn.App.Tests;

[Collection(TrainingCollection.Name)]
public sealed class DivergenceTests(ITestOutputHelper output)
{
    private const int DivergedExitCode = 3;

    [Fact]
    public void Huge_learning_rate_diverges_in_epoch_1_and_leaves_an_existing_out_file_untouched()
    {
        using var dir = new TempDir();
        byte[] before = TestData.RandomBytes(1234, 77);
        File.WriteAllBytes(dir["m.onnx"], before);

        // Measured: --lr 1e30 gives a NaN loss at epoch 1, batch 2 (the first step already blows the weights up).
        var r = Camcnn.Run(["train", "--data", "fashion-mnist", "--limit", "1000", "--epochs", "2", "--lr", "1e30", "--out", "m.onnx"], dir.Path);
        output.WriteLine(r.ToString());
        string error = CliAssert.FailedCleanly(r, DivergedExitCode, progressNotesAllowed: true, "loss", "epoch 1", "--lr", "no model was written");
        Assert.Matches(@"loss became (NaN|-?∞|-?Infinity)", error);
        Assert.Equal(before, File.ReadAllBytes(dir["m.onnx"]));
        Assert.Empty(r.StdoutLines);
        // Nothing but progress notes before the error.
        Assert.All(r.StderrLines[..^1], l => Assert.Matches(@"^(data|epoch \d+/\d+): ", l));
    }

    [Fact]
    public void Divergence_in_epoch_2_keeps_the_epoch_1_model()
    {
        using var dir = new TempDir();
        // A learning-rate decay of 1e30 leaves epoch 1 at the default rate and multiplies it by 1e30 for epoch 2.
        var r = Camcnn.Run(["train", "--data", "fashion-mnist", "--limit", "600", "--epochs", "3", "--lr-decay", "1e30", "--out", "m.onnx", "--json"], dir.Path);
        output.WriteLine(r.ToString());
        CliAssert.FailedCleanly(r, DivergedExitCode, progressNotesAllowed: true, "loss", "epoch 2", "kept the model from epoch 1", "m.onnx");
        Assert.Contains(r.StderrLines, l => l.StartsWith("epoch 1/3: loss ", StringComparison.Ordinal));
        Assert.DoesNotContain(r.StderrLines, l => l.StartsWith("epoch 2/3: ", StringComparison.Ordinal));
        Assert.Empty(r.StdoutLines); // no summary and no JSON for a failed run

        // The kept file is the complete epoch-1 model, usable as is.
        var model = Model.Load(dir["m.onnx"]);
        Assert.Equal(FashionMnist.ClassNames, model.Labels);
        var eval = Camcnn.Run(["eval", "--model", "m.onnx", "--data", "fashion-mnist", "--limit", "200", "--json"], dir.Path);
        CliAssert.Succeeded(eval);
        Assert.InRange(CliAssert.Number(CliAssert.LastLineJson(eval), "accuracy", eval), 0.2, 1.0);
    }
}
