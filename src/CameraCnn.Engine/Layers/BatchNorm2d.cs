// BatchNorm2d: per-channel normalisation with batch statistics when training (and running averages updated),
// running statistics at inference. y = scale * (x - mean) / sqrt(var + eps) + bias.
namespace CameraCnn.Engine.Layers;

/// <summary>
/// Batch normalisation over N, H, W for each channel of [N, C, H, W] (ONNX BatchNormalization). Running averages
/// use ONNX's momentum convention, running = momentum * running + (1 - momentum) * batch, but with the unbiased
/// batch variance (as PyTorch does; ONNX's training mode uses the population variance). Normalisation itself
/// uses the population variance either way.
/// </summary>
public sealed class BatchNorm2d : Layer
{
    public int Channels { get; }
    public float Epsilon { get; }
    public float Momentum { get; }
    public Parameter Scale { get; }
    public Parameter Shift { get; }
    public Parameter RunningMean { get; }
    public Parameter RunningVar { get; }

    private float[] _mean = [], _invStd = [];

    public BatchNorm2d(int channels, float epsilon = 1e-5f, float momentum = 0.9f)
    {
        if (channels <= 0) throw new ShapeException($"BatchNorm2d: {channels} channels");
        Channels = channels;
        Epsilon = epsilon;
        Momentum = momentum;
        Scale = new Parameter("scale", new Tensor(channels), decay: false);
        Shift = new Parameter("B", new Tensor(channels), decay: false);
        RunningMean = new Parameter("mean", new Tensor(channels), trainable: false, decay: false);
        RunningVar = new Parameter("var", new Tensor(channels), trainable: false, decay: false);
        Scale.Value.Data.AsSpan().Fill(1f);
        RunningVar.Value.Data.AsSpan().Fill(1f);
    }

    public override IReadOnlyList<Parameter> Parameters => [Scale, Shift, RunningMean, RunningVar];

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs, 1);
        var x = inputs[0];
        if (x.Length < 2 || x[1] != Channels) throw ShapeError($"expects [N, {Channels}, ...], got {Tensor.Format(x)}");
        return (int[])x.Clone();
    }

    private static int Spatial(Tensor x)
    {
        int s = 1;
        for (int i = 2; i < x.Rank; i++) s *= x.Shape[i];
        return s;
    }

    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output)
    {
        Tensor x = inputs[0];
        int N = x.N, C = Channels, S = Spatial(x);
        if (_mean.Length != C) { _mean = new float[C]; _invStd = new float[C]; }
        float[] xd = x.Data, y = output.Data;
        for (int c = 0; c < C; c++)
        {
            float mean, variance;
            if (Training)
            {
                double sum = 0, sq = 0;
                for (int n = 0; n < N; n++)
                    foreach (float v in xd.AsSpan((n * C + c) * S, S)) sum += v;
                long count = (long)N * S;
                mean = (float)(sum / count);
                for (int n = 0; n < N; n++)
                    foreach (float v in xd.AsSpan((n * C + c) * S, S)) sq += (v - mean) * (double)(v - mean);
                variance = (float)(sq / count);
                float unbiased = count > 1 ? (float)(sq / (count - 1)) : variance;
                RunningMean.Value.Data[c] = Momentum * RunningMean.Value.Data[c] + (1 - Momentum) * mean;
                RunningVar.Value.Data[c] = Momentum * RunningVar.Value.Data[c] + (1 - Momentum) * unbiased;
            }
            else
            {
                mean = RunningMean.Value.Data[c];
                variance = RunningVar.Value.Data[c];
            }
            float invStd = 1f / MathF.Sqrt(variance + Epsilon);
            _mean[c] = mean;
            _invStd[c] = invStd;
            float a = Scale.Value.Data[c] * invStd, b = Shift.Value.Data[c] - mean * a;
            for (int n = 0; n < N; n++)
            {
                int o = (n * C + c) * S;
                for (int i = 0; i < S; i++) y[o + i] = xd[o + i] * a + b;
            }
        }
    }

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        Tensor x = inputs[0];
        int N = x.N, C = Channels, S = Spatial(x);
        float[] xd = x.Data, dy = dOutput.Data;
        float[]? dx = dInputs[0]?.Data;
        long count = (long)N * S;
        for (int c = 0; c < C; c++)
        {
            float mean = _mean[c], invStd = _invStd[c], gamma = Scale.Value.Data[c];
            double sumDy = 0, sumDyXhat = 0;
            for (int n = 0; n < N; n++)
            {
                int o = (n * C + c) * S;
                for (int i = 0; i < S; i++)
                {
                    sumDy += dy[o + i];
                    sumDyXhat += dy[o + i] * (xd[o + i] - mean) * invStd;
                }
            }
            Scale.Grad.Data[c] += (float)sumDyXhat;
            Shift.Grad.Data[c] += (float)sumDy;
            if (dx is null) continue;
            if (Training)
            {
                // Batch statistics depend on x: dx = gamma*invStd/m * (m*dy - sum(dy) - xhat*sum(dy*xhat)).
                float k = gamma * invStd / count, mDy = (float)(sumDy), mXh = (float)(sumDyXhat);
                for (int n = 0; n < N; n++)
                {
                    int o = (n * C + c) * S;
                    for (int i = 0; i < S; i++)
                    {
                        float xhat = (xd[o + i] - mean) * invStd;
                        dx[o + i] += k * (count * dy[o + i] - mDy - xhat * mXh);
                    }
                }
            }
            else
            {
                float k = gamma * invStd;
                for (int n = 0; n < N; n++)
                {
                    int o = (n * C + c) * S;
                    for (int i = 0; i < S; i++) dx[o + i] += k * dy[o + i];
                }
            }
        }
    }
}
