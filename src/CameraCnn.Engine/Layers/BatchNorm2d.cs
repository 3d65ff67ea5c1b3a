// BatchNorm2d: per-channel normalisation with batch statistics when training (and running averages updated),
// running statistics at inference. y = scale * (x - mean) / sqrt(var + eps) + bias.
using CameraCnn.Engine.Kernels;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

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

    /// <summary>
    /// Channels are independent, so workers take whole channels: each channel's sums run in one fixed order whatever
    /// the thread count (results are bit-identical from 1 to N threads). Small tensors stay on the calling thread.
    /// </summary>
    private static int MinChannelsPerWorker(int n, int spatial) => Math.Max(1, 32768 / Math.Max(1, n * spatial));

    public override void Forward(IReadOnlyList<Tensor> inputs, Tensor output)
    {
        Tensor x = inputs[0];
        int N = x.N, C = Channels, S = Spatial(x);
        if (_mean.Length != C) { _mean = new float[C]; _invStd = new float[C]; }
        float[] xd = x.Data, y = output.Data;
        var job = new ChannelJob { Layer = this, N = N, S = S, X = xd, Y = y, Training = Training, Backward = false };
        Parallelism.For(C, MinChannelsPerWorker(N, S), ref job); // a struct body: the inference forward allocates nothing
    }

    /// <summary>Whole channels of a forward or backward, as one worker's slice.</summary>
    private struct ChannelJob : IParallelBody
    {
        public BatchNorm2d Layer;
        public int N, S;
        public float[] X, Y, Dy;
        public float[]? Dx;
        public bool Training, Backward, Parameters;

        public readonly void Run(int start, int end, int worker)
        {
            for (int c = start; c < end; c++)
                if (Backward) Layer.BackwardChannel(c, N, S, X, Dy, Dx, Training, Parameters);
                else Layer.ForwardChannel(c, N, S, X, Y, Training);
        }
    }

    private void ForwardChannel(int c, int N, int S, float[] xd, float[] y, bool training)
    {
        int C = Channels;
        float mean, variance;
        if (training)
        {
            double sum = 0, sq = 0;
            for (int n = 0; n < N; n++) sum += TensorPrimitives.Sum(xd.AsSpan((n * C + c) * S, S));
            long count = (long)N * S;
            mean = (float)(sum / count);
            for (int n = 0; n < N; n++) sq += TrainingMath.SumSquaredDeviation(xd.AsSpan((n * C + c) * S, S), mean);
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
            TrainingMath.ScaleShift(xd.AsSpan(o, S), a, b, y.AsSpan(o, S));
        }
    }

    public override void Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
        => Backward(inputs, dOutput, dInputs, parameters: true);

    /// <summary>dX only; the scale and shift gradients are left as they are.</summary>
    public override void BackwardInputs(IReadOnlyList<Tensor> inputs, Tensor output, Tensor dOutput, IReadOnlyList<Tensor?> dInputs)
    {
        if (dInputs[0] is not null) Backward(inputs, dOutput, dInputs, parameters: false);
    }

    private void Backward(IReadOnlyList<Tensor> inputs, Tensor dOutput, IReadOnlyList<Tensor?> dInputs, bool parameters)
    {
        Tensor x = inputs[0];
        int N = x.N, C = Channels, S = Spatial(x);
        float[] xd = x.Data, dy = dOutput.Data;
        float[]? dx = dInputs[0]?.Data;
        var job = new ChannelJob { Layer = this, N = N, S = S, X = xd, Dy = dy, Dx = dx, Training = Training, Backward = true, Parameters = parameters };
        Parallelism.For(C, MinChannelsPerWorker(N, S), ref job);
    }

    private void BackwardChannel(int c, int N, int S, float[] xd, float[] dy, float[]? dx, bool training, bool parameters)
    {
        int C = Channels;
        long count = (long)N * S;
        float mean = _mean[c], invStd = _invStd[c], gamma = Scale.Value.Data[c];
        double sumDy = 0, sumDyDeviation = 0;
        for (int n = 0; (parameters || training) && n < N; n++) // the inference dx needs no sums
        {
            int o = (n * C + c) * S;
            var (s, p) = TrainingMath.SumDyAndDyDeviation(dy.AsSpan(o, S), xd.AsSpan(o, S), mean);
            sumDy += s;
            sumDyDeviation += p;
        }
        double sumDyXhat = sumDyDeviation * invStd;
        if (parameters)
        {
            Scale.Grad.Data[c] += (float)sumDyXhat;
            Shift.Grad.Data[c] += (float)sumDy;
        }
        if (dx is null) return;
        if (training)
        {
            // Batch statistics depend on x: dx = gamma*invStd/m * (m*dy - sum(dy) - xhat*sum(dy*xhat)), xhat = (x - mean)*invStd.
            float k = gamma * invStd / count;
            float a = k * count, b = -(float)(k * sumDyXhat * invStd), constant = -(float)(k * sumDy);
            for (int n = 0; n < N; n++)
            {
                int o = (n * C + c) * S;
                TrainingMath.AddAffineDeviation(dx.AsSpan(o, S), dy.AsSpan(o, S), xd.AsSpan(o, S), mean, a, b, constant);
            }
        }
        else
        {
            float k = gamma * invStd;
            for (int n = 0; n < N; n++)
            {
                int o = (n * C + c) * S;
                TensorPrimitives.MultiplyAdd(dy.AsSpan(o, S), k, dx.AsSpan(o, S), dx.AsSpan(o, S));
            }
        }
    }
}
