// Optimizers: SGD with momentum and weight decay (the lecture's eq. 13 update), Adam and AdamW (vectorised and split
// over the workers: element-wise, so the same bits as its scalar form).
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using CameraCnn.Engine.Kernels;

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

    /// <summary>Tests and benchmarks: the scalar form on the calling thread only (the update as it was before vectors).</summary>
    internal static bool SerialScalar;

    public override void Step()
    {
        _t++;
        float c1 = 1 - MathF.Pow(Beta1, _t), c2 = 1 - MathF.Pow(Beta2, _t);
        for (int k = 0; k < Parameters.Count; k++)
        {
            var p = Parameters[k];
            var body = new AdamUpdate
            {
                W = p.Value.Data, G = p.Grad.Data, M = _m[k], V = _v[k], Lambda = p.Decay ? WeightDecay : 0f,
                Decoupled = Decoupled, Beta1 = Beta1, Beta2 = Beta2, Epsilon = Epsilon, C1 = c1, C2 = c2, Lr = LearningRate,
            };
            // Element-wise: the split over the workers cannot change a bit.
            int blocks = (body.W.Length + AdamUpdate.Block - 1) / AdamUpdate.Block;
            if (SerialScalar) body.Scalar(0, body.W.Length);
            else if (blocks >= 4) Parallelism.ForChunks(blocks, 1, ref body);
            else body.Run(0, blocks, 0);
        }
    }
}

/// <summary>
/// One Adam/AdamW update over blocks of <see cref="Block"/> elements: g' = g (+ lambda W unless decoupled),
/// m = b1 m + (1 - b1) g', v = b2 v + (1 - b2) g' g', u = m / c1 / (sqrt(v / c2) + eps) (+ lambda W when decoupled),
/// W -= lr u. The vector lanes do exactly <see cref="Scalar"/>'s operations in its order (no fused multiply-adds),
/// so both give the same bits; the scalar form takes the tail and is the tests' truth.
/// </summary>
internal struct AdamUpdate : IParallelBody
{
    public const int Block = 1 << 14;
    public float[] W, G, M, V;
    public float Lambda, Beta1, Beta2, Epsilon, C1, C2, Lr;
    public bool Decoupled;

    public readonly void Run(int start, int end, int worker)
    {
        int from = start * Block, to = (int)Math.Min((long)end * Block, W.Length);
        Vectors(from, to);
    }

    /// <summary>Elements [from, to): whole 8-float vectors, then the scalar form for the rest.</summary>
    internal readonly void Vectors(int from, int to)
    {
        int i = from;
        if (Vector256.IsHardwareAccelerated && to - from >= Vector256<float>.Count)
        {
            var b1 = Vector256.Create(Beta1);
            var b2 = Vector256.Create(Beta2);
            var nb1 = Vector256.Create(1 - Beta1);
            var nb2 = Vector256.Create(1 - Beta2);
            var c1 = Vector256.Create(C1);
            var c2 = Vector256.Create(C2);
            var eps = Vector256.Create(Epsilon);
            var lambda = Vector256.Create(Lambda);
            var lr = Vector256.Create(Lr);
            ref float w = ref MemoryMarshal.GetArrayDataReference(W);
            ref float g = ref MemoryMarshal.GetArrayDataReference(G);
            ref float m = ref MemoryMarshal.GetArrayDataReference(M);
            ref float v = ref MemoryMarshal.GetArrayDataReference(V);
            for (; i <= to - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                nuint o = (nuint)i;
                var wi = Vector256.LoadUnsafe(ref w, o);
                var gi = Vector256.LoadUnsafe(ref g, o);
                if (!Decoupled) gi += lambda * wi;
                var mi = b1 * Vector256.LoadUnsafe(ref m, o) + nb1 * gi;
                var vi = b2 * Vector256.LoadUnsafe(ref v, o) + nb2 * gi * gi;
                mi.StoreUnsafe(ref m, o);
                vi.StoreUnsafe(ref v, o);
                var update = mi / c1 / (Vector256.Sqrt(vi / c2) + eps);
                if (Decoupled) update += lambda * wi;
                (wi - lr * update).StoreUnsafe(ref w, o);
            }
        }
        Scalar(i, to);
    }

    /// <summary>Elements [from, to) one at a time: the update as written above.</summary>
    internal readonly void Scalar(int from, int to)
    {
        float[] w = W, g = G, m = M, v = V;
        for (int i = from; i < to; i++)
        {
            float gi = Decoupled ? g[i] : g[i] + Lambda * w[i];
            m[i] = Beta1 * m[i] + (1 - Beta1) * gi;
            v[i] = Beta2 * v[i] + (1 - Beta2) * gi * gi;
            float update = m[i] / C1 / (MathF.Sqrt(v[i] / C2) + Epsilon);
            if (Decoupled) update += Lambda * w[i];
            w[i] -= Lr * update;
        }
    }
}
