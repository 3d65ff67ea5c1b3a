// TeachKit (App part): what the App's teach tests need on top of the shared scenes and tiny backbone
// (tests/Shared/TeachKit.cs): the tiny backbone as a TeachSession's BackboneSource, a training run waited for, accuracy.
using CameraCnn.App.Teach;
using Xunit.Sdk;

namespace CameraCnn.Tests;

internal static partial class TeachKit
{
    public static BackboneSource Tiny => new("tiny", TinyBackbone);
    /// <summary>The tiny residual backbone (three blocks) as a BackboneSource, for fine-tuning.</summary>
    public static BackboneSource TinyRes => new("tinyres", TinyResNet);

    /// <summary>Starts a training and waits for it; fails with the session's status when it does not finish.</summary>
    public static TeachTrainingResult Train(TeachSession session, TimeSpan timeout, Engine.Teach.HeadOptions? options = null)
    {
        Assert.True(session.Flush(timeout), "the recorder did not finish writing");
        Assert.True(session.WaitUntilReady(timeout), "the backbone did not load");
        long version = session.HeadVersion;
        session.StartTraining(options);
        Assert.True(session.WaitForTraining(timeout), $"training did not finish: {session.Status}");
        Assert.False(session.Status.IsError, session.Status.Message);
        Assert.True(session.HeadVersion > version, $"no new head was published: {session.Status}");
        return session.LastTraining ?? throw new XunitException("no training result");
    }

    /// <summary>Share of equal entries.</summary>
    public static float Accuracy(int[] predicted, int[] truth) =>
        (float)predicted.Zip(truth).Count(p => p.First == p.Second) / Math.Max(1, truth.Length);
}
