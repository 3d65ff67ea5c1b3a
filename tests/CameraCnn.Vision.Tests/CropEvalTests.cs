// CropEvalTests: `camcnn eval` reads image folders with the model's own resize: for a centre-crop model (ResNet18 and the
// teach models built on it) an image folder sample equals what FramePreprocessor makes of the same picture live, not a
// stretched copy.
using CameraCnn.Engine.Models;
using CameraCnn.Vision;
using OpenCvSharp;

namespace CameraCnn.Vision.Tests;

public sealed class CropEvalTests : IDisposable
{
    private readonly TempDir _dir = new("camcnn-crop-eval");

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("crop")]
    [InlineData("letterbox")]
    public void Image_folders_load_with_the_models_resize_exactly_as_frames_are_preprocessed(string resize)
    {
        // 160 x 120 with coloured bars at the left and right edges: a centre crop cuts them off, a stretch keeps them.
        using var image = TeachKit.RenderFrame(1, 3, seed: 1);
        Cv2.Rectangle(image, new Rect(0, 0, 20, 120), new Scalar(0, 0, 255), -1);
        Cv2.Rectangle(image, new Rect(140, 0, 20, 120), new Scalar(255, 0, 0), -1);
        string root = _dir["data"];
        Directory.CreateDirectory(Path.Combine(root, "a"));
        Assert.True(Cv2.ImWrite(Path.Combine(root, "a", "x.png"), image));

        var pre = new Preprocessing { Channels = 3, Height = 48, Width = 48, ColorOrder = "rgb", Scale = 1f / 255f, Mean = [0f], Std = [1f], Resize = resize };
        using var prep = new FramePreprocessor(pre);
        var live = prep.CreateInput();
        prep.Process(image, live);
        var folder = ImageFolder.Load(root, 48, 48, grayscale: false, resize: resize).Dataset.Images;
        var stretched = ImageFolder.Load(root, 48, 48, grayscale: false).Dataset.Images;
        Assert.Equal(live.Shape, folder.Shape);
        for (int i = 0; i < live.Length; i++) Assert.Equal(live.Data[i], folder.Data[i], 5);
        Assert.True(live.Data.Zip(stretched.Data).Max(p => Math.Abs(p.First - p.Second)) > 0.2, "the stretch should differ");
        Assert.Throws<ArgumentException>(() => ImageFolder.Load(root, 48, 48, grayscale: false, resize: "squash"));
    }
}
