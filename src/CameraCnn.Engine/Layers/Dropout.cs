// Dropout: in training, zeroes each element with probability p and scales the rest by 1/(1-p) (inverted
// dropout); at inference it is the identity. The mask comes from a seeded generator, so runs reproduce.
namespace CameraCnn.Engine.Layers;

/// <summary>Inverted dropout with a seeded mask; identity when not training.</summary>
public sealed class Dropout : ElementwiseLayer
{
    public float Ratio { get; }
    private readonly Random _random;
    private float[] _mask = [];

    public Dropout(float ratio = 0.5f, int seed = 0)
    {
        if (!(ratio >= 0 && ratio < 1)) throw new ShapeException($"Dropout: ratio {ratio} must be in [0, 1)");
        Ratio = ratio;
        _random = new Random(seed);
    }

    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output)
    {
        float[] x = inputs[0].Data, y = output.Data;
        if (!Training || Ratio == 0)
        {
            x.AsSpan().CopyTo(y);
            return;
        }
        if (_mask.Length < y.Length) _mask = new float[y.Length];
        float keep = 1f / (1f - Ratio);
        for (int i = 0; i < y.Length; i++)
        {
            _mask[i] = _random.NextSingle() < Ratio ? 0f : keep;
            y[i] = x[i] * _mask[i];
        }
    }

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        if (dInputs[0] is not { } dX) return;
        float[] dy = dOutput.Data, dx = dX.Data;
        bool masked = Training && Ratio > 0;
        for (int i = 0; i < dx.Length; i++) dx[i] += masked ? dy[i] * _mask[i] : dy[i];
    }
}
