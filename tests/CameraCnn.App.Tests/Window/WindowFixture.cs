// WindowFixture: the window tests share one small model, one still image and the two runs most of them compare
// against (no keys, and "F"), made once; the collection keeps the Xvfb runs one after another (2 cores).
namespace CameraCnn.App.Tests.Window;

[CollectionDefinition(Name)]
public sealed class WindowCollection : ICollectionFixture<WindowFixture>
{
    public const string Name = "camcnn window";
}

public sealed class WindowFixture : IDisposable
{
    private readonly Lazy<WindowRun> _plain, _features;

    public WindowFixture()
    {
        Runner = new WindowRunner();
        _plain = new(() => Runner.Run(keys: null));
        _features = new(() => Runner.Run(keys: "F"));
    }

    public WindowRunner Runner { get; }

    /// <summary>The window as it opens: picture and bars.</summary>
    public WindowRun Plain => _plain.Value;

    /// <summary>After F: the first layer's feature maps.</summary>
    public WindowRun Features => _features.Value;

    public void Dispose()
    {
        if (_plain.IsValueCreated) _plain.Value.Dispose();
        if (_features.IsValueCreated) _features.Value.Dispose();
        Runner.Dispose();
    }
}
