// PastedScenes: real-photo scenes for the Grad-CAM localisation test: the dog of darknet's dog.jpg, cut out with its
// bounding box, pasted at a random place and size into a random crop of other photos (the street half of dog.jpg,
// kite.jpg's beach, scream.jpg's painting); and the same backgrounds without it. 4:3 pictures, so the model's centre
// crop cuts a band off each side: the dog is always placed inside the part the network sees.
using CameraCnn.App.Tests.Backbone;
using OpenCvSharp;
using Xunit.Sdk;

namespace CameraCnn.App.Tests.Explain;

internal sealed class PastedScenes : IDisposable
{
    public const int Width = 320, Height = 240;

    /// <summary>The dog's bounding box in dog.jpg (768 x 576).</summary>
    public static readonly Rect DogBox = new(124, 212, 188, 330);

    /// <summary>What ResNet18's centre crop keeps of a 320 x 240 picture.</summary>
    public static readonly Rect Seen = new((Width - Height) / 2, 0, Height, Height);

    private readonly Mat _dog;
    private readonly List<Mat> _backgrounds = [];

    public PastedScenes()
    {
        using var dogPhoto = Read("dog.jpg");
        _dog = new Mat(dogPhoto, DogBox).Clone();
        _backgrounds.Add(new Mat(dogPhoto, new Rect(330, 0, 438, 576)).Clone()); // bicycle, street, truck, porch: no dog
        _backgrounds.Add(Read("kite.jpg"));
        _backgrounds.Add(Read("scream.jpg"));
    }

    private static Mat Read(string name)
    {
        var m = Cv2.ImRead(BackboneKit.Photo(name), ImreadModes.Color);
        return m.Empty() ? throw new XunitException($"OpenCV cannot decode {name}") : m;
    }

    /// <summary>A random 4:3 crop (half to all of the photo's extent) of a random background photo, resized to 320 x 240.</summary>
    public Mat Background(Random rng)
    {
        var photo = _backgrounds[rng.Next(_backgrounds.Count)];
        int maxW = Math.Min(photo.Cols, photo.Rows * 4 / 3);
        int w = (int)(maxW * (0.5 + 0.5 * rng.NextDouble())), h = w * 3 / 4;
        var crop = new Rect(rng.Next(photo.Cols - w + 1), rng.Next(photo.Rows - h + 1), w, h);
        using var region = new Mat(photo, crop);
        var scene = new Mat();
        Cv2.Resize(region, scene, new Size(Width, Height), 0, 0, InterpolationFlags.Area);
        return scene;
    }

    /// <summary>A background with the dog pasted in: 40-60 % of the picture's height, anywhere inside <see cref="Seen"/>.</summary>
    public (Mat Scene, Rect Box) WithDog(Random rng)
    {
        var scene = Background(rng);
        int h = (int)(Height * (0.4 + 0.2 * rng.NextDouble())), w = h * DogBox.Width / DogBox.Height;
        var box = new Rect(Seen.X + rng.Next(Seen.Width - w + 1), rng.Next(Height - h + 1), w, h);
        using var dog = new Mat();
        Cv2.Resize(_dog, dog, box.Size, 0, 0, InterpolationFlags.Area);
        using (var target = new Mat(scene, box)) dog.CopyTo(target);
        return (scene, box);
    }

    public void Dispose()
    {
        _dog.Dispose();
        foreach (var b in _backgrounds) b.Dispose();
    }
}
