// TeachKit (App part): what the App's teach tests need on top of the shared scenes and tiny backbone
// (tests/Shared/TeachKit.cs): the tiny backbone as a TeachSession's BackboneSource, a training run waited for, a
// session with two trained classes, accuracy.
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

    /// <summary>
    /// A session on the tiny backbone over <paramref name="dataDirectory"/> with 20 frames of scenes 0 and 1 recorded
    /// ("class1", "class2") and a head trained on them.
    /// </summary>
    public static TeachSession TwoClassSession(string dataDirectory, TimeSpan timeout)
    {
        var teach = TeachSession.Open(new TeachOptions { DataDirectory = dataDirectory, Backbone = Tiny });
        for (int k = 0; k < 2; k++)
            for (int t = 0; t < 20; t++)
            {
                using var frame = RenderFrame(k, t, seed: 1);
                WaitUntil(() => teach.Record(k, frame), timeout, () => "room in the record queue");
            }
        Train(teach, timeout);
        return teach;
    }

    /// <summary>Share of equal entries.</summary>
    public static float Accuracy(int[] predicted, int[] truth) =>
        (float)predicted.Zip(truth).Count(p => p.First == p.Second) / Math.Max(1, truth.Length);
}
