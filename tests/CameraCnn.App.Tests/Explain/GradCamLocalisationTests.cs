// GradCamLocalisationTests: does Grad-CAM point at the object? A teach head (ResNet18 features through the teach
// pipeline's FeatureExtractor, HeadTrainer) learns "object" (darknet's dog pasted into photos) against "background" (the
// same photos without it); then, on new placements, Grad-CAM of "object" at ResNet18's last stage (512 x 7 x 7, fused
// graph, through the head) must peak inside the pasted box in >= 85 % of them (the pointing game), and the share of the
// map's mass inside the box is reported against the box's share of the picture. The same head saved as one teach model
// is then explained by `camcnn explain`, which must report the same peak in the picture's own coordinates; and on
// ResNet18 the fused graph's map equals the unfused graph's at three depths.
//
// About 85 ResNet18 forwards (~10 s in Release). CAMCNN_EXPLAIN_KEEP=DIR keeps every placement's overlay there.
using System.Text;
using CameraCnn.App.Cli;
using CameraCnn.App.Tests.Infrastructure;
using CameraCnn.Engine;
using CameraCnn.Engine.Data;
using CameraCnn.Engine.Explain;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Optimization;
using CameraCnn.Engine.Teach;
using CameraCnn.Vision;
using CameraCnn.Vision.Teach;
using OpenCvSharp;
using Xunit.Abstractions;

namespace CameraCnn.App.Tests.Explain;

/// <summary>The trained head and the placements it was scored on, shared by the tests below.</summary>
public sealed class LocalisationFixture : IDisposable
{
    public const int TrainPerClass = 30, Placements = 24;
    private readonly TempDir _dir = new("camcnn-gradcam");
    private readonly Lazy<Run> _run;

    public LocalisationFixture() => _run = new(Measure);

    public sealed record Placement(Rect Box, GradCamResult Cam, double PeakX, double PeakY, double CentroidX, double CentroidY,
        float ObjectProbability, double MassInBox, double BoxShare, float[] Map)
    {
        public bool Hit => PeakX * PastedScenes.Width >= Box.X && PeakX * PastedScenes.Width < Box.Right
                        && PeakY * PastedScenes.Height >= Box.Y && PeakY * PastedScenes.Height < Box.Bottom;
    }

    public sealed record Run(Model Backbone, Graph Fused, ClassifierHead Head, int ObjectOutput, HeadResult Training,
        IReadOnlyList<Placement> Placements, float BackgroundAccuracy, string ScenePath, string Log);

    public Run Result => _run.Value;
    public string Path(string name) => _dir[name];

    private Run Measure()
    {
        var log = new StringBuilder();
        using var scenes = new PastedScenes();
        var backbone = ModelCatalog.Load(ModelCatalog.ResNet18);
        string? keep = Environment.GetEnvironmentVariable("CAMCNN_EXPLAIN_KEEP");

        // The teach pipeline: features of each picture from the fused backbone, a head trained on them.
        var data = new HeadData(512, ["background", "object"]);
        var features = new float[512];
        using (var extractor = new FeatureExtractor(backbone))
        {
            var rng = new Random(2024);
            for (int i = 0; i < TrainPerClass; i++)
            {
                using (var bg = scenes.Background(rng)) extractor.Extract(bg, features);
                data.Add(0, features);
                var (scene, _) = scenes.WithDog(rng);
                using (scene) extractor.Extract(scene, features);
                data.Add(1, features);
            }
        }
        var training = HeadTrainer.Train(data, new HeadOptions());
        var head = training.Head;
        int objectOutput = head.Labels.ToList().IndexOf("object");
        log.AppendLine($"head: {head}, trained on {TrainPerClass} + {TrainPerClass} pictures, validation accuracy {training.ValAccuracy:P1}");

        // New placements: forward of the fused graph, the head's probability, Grad-CAM of "object" through the head.
        var fused = InferenceFusion.Fuse(backbone.Graph);
        var cam = new GradCam(fused, fused.Output);
        using var prep = new FramePreprocessor(backbone.Preprocessing!);
        var x = prep.CreateInput();
        var geometry = prep.GeometryFor(PastedScenes.Width, PastedScenes.Height);
        var probabilities = new float[2];
        var placements = new List<Placement>();
        var test = new Random(77);
        string scenePath = _dir["scene0.png"];
        for (int i = 0; i < Placements; i++)
        {
            var (scene, box) = scenes.WithDog(test);
            using (scene)
            {
                if (i == 0) Cv2.ImWrite(scenePath, scene);
                prep.Process(scene, x);
                fused.Forward(x);
                head.Predict(fused.Output.Output.Data, probabilities);
                var r = cam.Compute(head, objectOutput);
                var (px, py) = r.IsEmpty ? (double.NaN, double.NaN)
                    : HeatmapOverlay.InputToFrame(geometry, 224, 224, PastedScenes.Width, PastedScenes.Height, r.PeakFractionX, r.PeakFractionY);
                var (cx, cy) = r.IsEmpty ? (double.NaN, double.NaN)
                    : HeatmapOverlay.InputToFrame(geometry, 224, 224, PastedScenes.Width, PastedScenes.Height, r.CentroidX, r.CentroidY);
                using var heat = HeatmapOverlay.Upsample(cam.Map, r.Height, r.Width, geometry, 224, 224, PastedScenes.Width, PastedScenes.Height);
                double total = Cv2.Sum(heat).Val0;
                double inBox;
                using (var inside = new Mat(heat, box)) inBox = Cv2.Sum(inside).Val0;
                var p = new Placement(box, r, px, py, cx, cy, probabilities[objectOutput], total > 0 ? inBox / total : 0,
                    (double)box.Width * box.Height / (PastedScenes.Seen.Width * PastedScenes.Seen.Height), cam.Map.ToArray());
                placements.Add(p);
                log.AppendLine($"  placement {i,2}: box {box.X},{box.Y} {box.Width}x{box.Height}; P(object) {p.ObjectProbability:P1}; " +
                               $"peak ({px * PastedScenes.Width:F0}, {py * PastedScenes.Height:F0}) {(p.Hit ? "inside" : "OUTSIDE")}; " +
                               $"map mass in the box {p.MassInBox:P0} (box {p.BoxShare:P0} of the seen picture)");
                if (!string.IsNullOrEmpty(keep))
                {
                    using var overlay = HeatmapOverlay.Blend(scene, heat, geometry.Source);
                    Cv2.Rectangle(overlay, box, Scalar.White);
                    Cv2.ImWrite(System.IO.Path.Combine(Directory.CreateDirectory(keep).FullName, $"placement{i:D2}.png"), overlay);
                }
            }
        }
        int right = 0;
        for (int i = 0; i < 10; i++)
        {
            using var bg = scenes.Background(test);
            prep.Process(bg, x);
            fused.Forward(x);
            if (head.Predict(fused.Output.Output.Data, probabilities) != objectOutput) right++;
        }
        return new Run(backbone, fused, head, objectOutput, training, placements, right / 10f, scenePath, log.ToString());
    }

    public void Dispose() => _dir.Dispose();
}

[Collection(TrainingCollection.Name)]
public sealed class GradCamLocalisationTests(LocalisationFixture fx, ITestOutputHelper output) : IClassFixture<LocalisationFixture>
{
    private LocalisationFixture.Run Result
    {
        get
        {
            var r = fx.Result;
            output.WriteLine(r.Log);
            return r;
        }
    }

    [Fact]
    public void The_map_of_the_object_class_peaks_inside_the_pasted_object()
    {
        var r = Result;
        var p = r.Placements;
        int hits = p.Count(q => q.Hit), recognised = p.Count(q => q.ObjectProbability > 0.5f);
        double mass = p.Average(q => q.MassInBox), share = p.Average(q => q.BoxShare);
        output.WriteLine($"pointing game: the peak lies inside the pasted box in {hits} of {p.Count} placements ({(double)hits / p.Count:P0}); " +
                         $"mean share of the map's mass inside the box {mass:P1} against the box's mean share of the seen picture {share:P1} " +
                         $"({mass / share:F1}x); the head calls {recognised} of {p.Count} placements 'object' and {r.BackgroundAccuracy:P0} of 10 backgrounds 'background'");
        Assert.True(p.Count >= 20);
        Assert.True(recognised >= p.Count * 8 / 10, $"the head recognises the object in only {recognised} of {p.Count} placements");
        Assert.True(hits >= Math.Ceiling(0.85 * p.Count), $"the peak is inside the box in {hits} of {p.Count} placements (bar: 85 %)");
        Assert.True(mass > 2 * share, $"the map's mass in the box ({mass:P1}) is not well above the box's share ({share:P1})");
    }

    /// <summary>
    /// The fused graph's backward (folded weights, the ReLU mask from the output) against the unfused graph's, at three
    /// depths. With every conv on the GEMM the two forwards agree to rounding, so the maps must agree within 1e-4; with
    /// Winograd (the default fusion, what the window runs) the forward differs by ~1e-6 relative, which the backward
    /// through several convs and ReLU masks amplifies: the peak must be the same cell and the maps within 1e-2.
    /// </summary>
    [Theory]
    [InlineData(false, 1e-4)]
    [InlineData(true, 1e-2)]
    public void On_ResNet18_the_fused_graphs_map_equals_the_unfused_graphs(bool winograd, double tolerance)
    {
        var r = Result;
        using var scene = Cv2.ImRead(r.ScenePath);
        using var prep = new FramePreprocessor(r.Backbone.Preprocessing!);
        var x = prep.CreateInput();
        prep.Process(scene, x);
        var unfused = r.Backbone.Graph;
        var fused = winograd ? r.Fused : InferenceFusion.Fuse(unfused, new FusionOptions { Winograd = false });
        fused.Forward(x); // sizes every node's output
        var layers = GradCam.SpatialLayers(fused, fused.Output);
        Assert.Equal("ReLU393_Output_0", layers[^1].Name);
        var chosen = new[] { 7, 14, 28 }.Select(size => layers.Last(n => n.Output.H == size)).ToList();
        foreach (var layer in chosen)
        {
            fused.Forward(x);
            var fusedCam = new GradCam(fused, fused.Output, layer);
            var a = fusedCam.Compute(r.Head, r.ObjectOutput);
            float[] fusedMap = fusedCam.Map.ToArray();
            unfused.Forward(x);
            var plainCam = new GradCam(unfused, unfused.Output, unfused[layer.Name]);
            var b = plainCam.Compute(r.Head, r.ObjectOutput);
            double diff = fusedMap.Zip(plainCam.Map.ToArray(), (p, q) => Math.Abs(p - q)).Max();
            output.WriteLine($"{layer.Name} ({a.Height}x{a.Width}), Winograd {(winograd ? "on" : "off")}: fused peak ({a.PeakX}, {a.PeakY}), " +
                             $"unfused ({b.PeakX}, {b.PeakY}); max |fused - unfused| {diff:g3} on maps normalised to 1; raw max {a.RawMax:g5} vs {b.RawMax:g5}");
            Assert.True(diff <= tolerance, $"{layer.Name}: the maps differ by {diff:g3} (tolerance {tolerance:g})");
            Assert.Equal((a.PeakX, a.PeakY), (b.PeakX, b.PeakY));
        }
    }

    [Fact]
    public void Explain_on_the_saved_teach_model_reports_the_same_peak_in_the_pictures_coordinates()
    {
        var r = Result;
        string model = fx.Path("teach.onnx");
        TeachModel.Compose(ModelCatalog.Load(ModelCatalog.ResNet18), r.Head, ModelCatalog.ResNet18).Save(model);
        string overlay = fx.Path("overlay.png"), heat = fx.Path("heat.npy");
        var run = Camcnn.Run(["explain", "--model", model, "--image", r.ScenePath, "--class", "object", "--out", overlay, "--heatmap", heat, "--json"],
            workingDirectory: null);
        output.WriteLine(run.ToString());
        CliAssert.Succeeded(run);
        var json = CliAssert.LastLineJson(run);
        var p0 = r.Placements[0];
        Assert.Equal("object", json.GetProperty("class").GetString());
        Assert.Equal("ReLU393_Output_0", json.GetProperty("layer").GetString());
        Assert.Equal(7, json.GetProperty("map_height").GetInt32());
        Assert.Equal(7, json.GetProperty("map_width").GetInt32());
        Assert.Equal(p0.ObjectProbability, CliAssert.Number(json, "probability", run), 3);
        // The command runs the unfused graph, the fixture the fused one: the same map within 1e-4, the same peak cell.
        Assert.Equal(p0.PeakX, CliAssert.Number(json, "peak_x", run), 4);
        Assert.Equal(p0.PeakY, CliAssert.Number(json, "peak_y", run), 4);
        Assert.Equal(p0.CentroidX, CliAssert.Number(json, "centroid_x", run), 3);
        Assert.Equal(p0.CentroidY, CliAssert.Number(json, "centroid_y", run), 3);
        Assert.True(p0.Hit, "placement 0's peak is outside the box (see the pointing-game test)");
        var map = Npy.Read(heat);
        Assert.Equal([7, 7], map.Shape);
        Assert.True(map.Data.Zip(p0.Map, (a, b) => Math.Abs(a - b)).Max() <= 1e-4, "the .npy map is not the map");

        // The overlay: the picture's size, blended where the network looked, untouched in the bands the crop cut off.
        using var picture = Cv2.ImRead(r.ScenePath);
        using var blended = Cv2.ImRead(overlay);
        Assert.Equal(picture.Size(), blended.Size());
        var seen = PastedScenes.Seen;
        int changedInside = 0, changedOutside = 0;
        int rows = picture.Rows, cols = picture.Cols;
        for (int y = 0; y < rows; y++)
            for (int x = 0; x < cols; x++)
            {
                bool changed = picture.At<Vec3b>(y, x) != blended.At<Vec3b>(y, x);
                if (seen.Contains(x, y)) changedInside += changed ? 1 : 0;
                else changedOutside += changed ? 1 : 0;
            }
        Assert.Equal(0, changedOutside);
        Assert.True(changedInside > seen.Width * seen.Height * 9 / 10, $"only {changedInside} pixels of the seen square were blended");
    }
}
