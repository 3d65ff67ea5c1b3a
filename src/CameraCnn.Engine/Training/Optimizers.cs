// Optimizers: SGD with momentum and weight decay (the lecture's eq. 13 update), Adam and AdamW.
namespace CameraCnn.Engine.Training;

/// <summary>Updates parameters from their gradients. Step does not clear the gradients.</summary>
public abstract class Optimizer
{
    protected Optimizer(IEnumerable<Parameter> parameters)
        => Parameters = parameters.Where(p => p.Trainable).ToArray();

    public IReadOnlyList<Parameter> Parameters { get; }
    public float LearningRate { get; set; }

    public abstract void Step();

    /// <summary>The optimiser of a kind: SGD (with momentum), Adam (decay added to the gradient) or AdamW (decoupled).</summary>
    public static Optimizer Create(OptimizerKind kind, IEnumerable<Parameter> parameters, float lr, float momentum, float weightDecay) => kind switch
    {
        OptimizerKind.Sgd => new Sgd(parameters, lr, momentum, weightDecay),
        OptimizerKind.Adam => new Adam(parameters, lr, weightDecay, decoupled: false),
        OptimizerKind.AdamW => new Adam(parameters, lr, weightDecay, decoupled: true),
        _ => throw new ArgumentException($"unknown optimizer {kind}"),
    };

    public void ZeroGrad()
    {
        foreach (var p in Parameters) p.Grad.Clear();
    }
}

/// <summary>
/// SGD: W &lt;- W - mu * (grad + lambda * W) (eq. 13, with mu the learning rate and lambda the weight decay);
/// with momentum m the bracket is accumulated first: v &lt;- m v + (grad + lambda W), W &lt;- W - mu v.
/// </summary>
public sealed class Sgd : Optimizer
{
    private readonly float[][] _velocity;

    public Sgd(IEnumerable<Parameter> parameters, float learningRate, float momentum = 0, float weightDecay = 0) : base(parameters)
    {
        LearningRate = learningRate;
        Momentum = momentum;
        WeightDecay = weightDecay;
        _velocity = Parameters.Select(p => new float[p.Value.Length]).ToArray();
    }

    public float Momentum { get; }
    public float WeightDecay { get; }

    public override void Step()
    {
        for (int k = 0; k < Parameters.Count; k++)
        {
            var p = Parameters[k];
            float[] w = p.Value.Data, g = p.Grad.Data, v = _velocity[k];
            float lambda = p.Decay ? WeightDecay : 0f;
            for (int i = 0; i < w.Length; i++)
            {
                float step = g[i] + lambda * w[i];
                if (Momentum != 0) step = v[i] = Momentum * v[i] + step;
                w[i] -= LearningRate * step;
            }
        }
    }
}

/// <summary>
/// Adam (Kingma and Ba) with bias correction. Decoupled = true gives AdamW: decay applied to W directly
/// (W -= lr * lambda * W); false adds lambda * W to the gradient as L2 regularisation.
/// </summary>
public sealed class Adam : Optimizer
{
    private readonly float[][] _m, _v;
    private int _t;

    public Adam(IEnumerable<Parameter> parameters, float learningRate = 1e-3f, float weightDecay = 0, bool decoupled = true,
        float beta1 = 0.9f, float beta2 = 0.999f, float epsilon = 1e-8f) : base(parameters)
    {
        LearningRate = learningRate;
        WeightDecay = weightDecay;
        Decoupled = decoupled;
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
        _m = Parameters.Select(p => new float[p.Value.Length]).ToArray();
        _v = Parameters.Select(p => new float[p.Value.Length]).ToArray();
    }

    public float WeightDecay { get; }
    public bool Decoupled { get; }
    public float Beta1 { get; }
    public float Beta2 { get; }
    public float Epsilon { get; }

    public override void Step()
    {
        _t++;
        float c1 = 1 - MathF.Pow(Beta1, _t), c2 = 1 - MathF.Pow(Beta2, _t);
        for (int k = 0; k < Parameters.Count; k++)
        {
            var p = Parameters[k];
            float[] w = p.Value.Data, g = p.Grad.Data, m = _m[k], v = _v[k];
            float lambda = p.Decay ? WeightDecay : 0f;
            for (int i = 0; i < w.Length; i++)
            {
                float gi = Decoupled ? g[i] : g[i] + lambda * w[i];
                m[i] = Beta1 * m[i] + (1 - Beta1) * gi;
                v[i] = Beta2 * v[i] + (1 - Beta2) * gi * gi;
                float update = m[i] / c1 / (MathF.Sqrt(v[i] / c2) + Epsilon);
                if (Decoupled) update += lambda * w[i];
                w[i] -= LearningRate * update;
            }
        }
    }
}
