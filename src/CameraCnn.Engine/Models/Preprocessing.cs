// Preprocessing: how raw pixels become the network's input, stored in the model file's metadata so every
// consumer (train, eval, predict, the live app) prepares frames the same way.
using System.Text.Json;
using System.Text.Json.Serialization;

namespace CameraCnn.Engine.Models;

/// <summary>
/// Input recipe: resize to Height x Width, channel order ("gray", "rgb" or "bgr"), then per channel
/// (pixel * Scale - Mean[c]) / Std[c]. Pixels are bytes 0..255; datasets in memory already hold pixel/255,
/// see <see cref="NormalizeUnit"/>.
/// </summary>
public sealed record Preprocessing
{
    public int Channels { get; init; } = 3;
    public int Height { get; init; } = 224;
    public int Width { get; init; } = 224;
    public string ColorOrder { get; init; } = "rgb";
    public float Scale { get; init; } = 1f / 255f;
    public float[] Mean { get; init; } = [0f];
    public float[] Std { get; init; } = [1f];
    /// <summary>"stretch" (resize to exactly HxW), "crop" (shorter side then centre crop) or "letterbox".</summary>
    public string Resize { get; init; } = "stretch";

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static Preprocessing FromJson(string json)
    {
        try
        {
            var p = JsonSerializer.Deserialize<Preprocessing>(json, Json) ?? throw new InvalidDataException("empty preprocessing metadata");
            p.Validate();
            return p;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"bad preprocessing metadata: {e.Message}");
        }
    }

    public void Validate()
    {
        if (Channels is not (1 or 3)) throw new InvalidDataException($"preprocessing: {Channels} channels (1 or 3 supported)");
        if (Height <= 0 || Width <= 0 || Height > 8192 || Width > 8192) throw new InvalidDataException($"preprocessing: bad size {Height}x{Width}");
        if (ColorOrder is not ("gray" or "rgb" or "bgr") || Resize is not ("stretch" or "crop" or "letterbox")) throw new InvalidDataException($"preprocessing: color order '{ColorOrder}' / resize '{Resize}'");
        if (Mean is null || Std is null) throw new InvalidDataException("preprocessing: mean and std are required");
        if (Mean.Length is not 1 && Mean.Length != Channels || Std.Length is not 1 && Std.Length != Channels)
            throw new InvalidDataException("preprocessing: mean/std must have 1 or Channels values");
        if (Std.Any(s => !(s > 0))) throw new InvalidDataException("preprocessing: std must be positive");
    }

    private float MeanOf(int c) => Mean.Length == 1 ? Mean[0] : Mean[c];
    private float StdOf(int c) => Std.Length == 1 ? Std[0] : Std[c];

    /// <summary>Normalises in place a batch whose values are pixel/255 (as datasets hold them).</summary>
    public void NormalizeUnit(Tensor batch)
    {
        int n = batch.N, c = batch.C, s = batch.H * batch.W;
        float unit = Scale * 255f; // data holds pixel/255; the recipe is pixel*Scale
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < c; ch++)
            {
                float a = unit / StdOf(ch), b = -MeanOf(ch) / StdOf(ch);
                Span<float> plane = batch.Data.AsSpan((i * c + ch) * s, s);
                for (int k = 0; k < plane.Length; k++) plane[k] = plane[k] * a + b;
            }
    }
}
