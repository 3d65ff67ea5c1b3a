// InstalledFashionMnistFact: a [Fact] for the Fashion-MNIST files Debian's dataset-fashion-mnist installs. Where the
// package is absent the test is reported as skipped (with the reason), not as passed: xunit reads Skip when it
// discovers the test, so the check runs then.
using CameraCnn.Engine.Data;

namespace CameraCnn.Engine.Tests.Formats;

/// <summary>A fact that is skipped, saying why, when the installed Fashion-MNIST files are missing.</summary>
public sealed class InstalledFashionMnistFactAttribute : FactAttribute
{
    public InstalledFashionMnistFactAttribute()
    {
        if (!FashionMnist.HasFiles(FashionMnist.DefaultDirectory))
            Skip = $"dataset-fashion-mnist is not installed: no Fashion-MNIST files in {FashionMnist.DefaultDirectory}";
    }
}
