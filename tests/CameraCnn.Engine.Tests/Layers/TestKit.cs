// TestKit: random tensors, running a layer standalone, tolerance asserts, and the finite-difference gradient
// checker used by the layer tests (analytic float Backward vs central differences of a double-precision reference).
using CameraCnn.Engine.Layers;

namespace CameraCnn.Engine.Tests.Layers;

/// <summary>A double-precision reference forward: (inputs, all layer parameters in Parameters order) -> output.</summary>
internal delegate double[] ReferenceForward(double[][] inputs, double[][] parameters);

internal static class TestKit
{
    /// <summary>A deterministic seed from a case name (string.GetHashCode is randomized per process).</summary>
    public static int Seed(string name)
    {
        uint h = 2166136261;
        foreach (char ch in name) h = (h ^ ch) * 16777619;
        return (int)(h & 0x7fffffff);
    }

    public static float[] RandomFloats(Random rng, int length, float lo = -1f, float hi = 1f)
    {
        var a = new float[length];
        for (int i = 0; i < a.Length; i++) a[i] = lo + (hi - lo) * rng.NextSingle();
        return a;
    }

    public static Tensor RandomTensor(Random rng, float lo, float hi, params int[] shape)
    {
        var t = new Tensor(shape);
        for (int i = 0; i < t.Length; i++) t.Data[i] = lo + (hi - lo) * rng.NextSingle();
        return t;
    }

    /// <summary>Fills every parameter of a layer with uniform values in [lo, hi].</summary>
    public static void Randomize(Parameter p, Random rng, float lo = -1f, float hi = 1f)
    {
        for (int i = 0; i < p.Value.Length; i++) p.Value.Data[i] = lo + (hi - lo) * rng.NextSingle();
    }

    public static double[] ToDouble(float[] a) => Array.ConvertAll(a, v => (double)v);

    /// <summary>Runs a layer outside a graph: output shape from OutputShape, Training set, Forward.</summary>
    public static Tensor Run(Layer layer, bool training, params Tensor[] inputs)
    {
        var output = new Tensor(layer.OutputShape(inputs.Select(t => t.Shape).ToList()));
        layer.Training = training;
        layer.Forward(inputs, output);
        return output;
    }

    /// <summary>|actual - expected| &lt;= atol + rtol * |expected| for every element, with the first failure named.</summary>
    public static void AssertClose(ReadOnlySpan<double> expected, ReadOnlySpan<float> actual, double atol, double rtol, string what)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: length {actual.Length}, expected {expected.Length}");
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            if (!(Math.Abs(a - e) <= atol + rtol * Math.Abs(e)))
                Assert.Fail($"{what}: element {i} is {a:R}, expected {e:R} (diff {Math.Abs(a - e):E3}, tol {atol + rtol * Math.Abs(e):E3})");
        }
    }

    public static void AssertShape(int[] expected, Tensor t, string what)
        => Assert.True(expected.SequenceEqual(t.Shape), $"{what}: shape {t.ShapeString}, expected {Tensor.Format(expected)}");

    /// <summary>
    /// The gradient check. Loss L = sum(output * R) for a fixed random R. The layer's analytic Backward (float) is
    /// compared with central differences of the double-precision <paramref name="reference"/> forward for every
    /// input element and every trainable parameter element. dInputs and parameter Grads are pre-filled with a
    /// constant before Backward, so the test also checks that Backward ADDS rather than overwrites.
    /// </summary>
    /// <param name="skip">(input index, element) pairs to skip (kinks, ties).</param>
    /// <param name="onForward">Called with the forward output before the reference is used (dropout reads its mask).</param>
    /// <param name="inputsOnly">Check <see cref="Layer.BackwardInputs"/> instead: the input gradients against finite
    /// differences, and every parameter's Grad left exactly as it was.</param>
    public static void CheckGradients(Layer layer, Tensor[] inputs, bool training, ReferenceForward reference,
        Func<int, int, bool>? skip = null, Action<Tensor>? onForward = null,
        double h = 1e-4, double atol = 1e-4, double rtol = 1e-3, int seed = 99, bool inputsOnly = false)
    {
        var rng = new Random(seed);
        Tensor output = Run(layer, training, inputs);
        onForward?.Invoke(output);
        var parameters = layer.Parameters;
        double[][] xs = inputs.Select(t => ToDouble(t.Data)).ToArray();
        double[][] ps = parameters.Select(p => ToDouble(p.Value.Data)).ToArray();

        // The reference must be the function the layer computes, or the finite differences prove nothing.
        AssertClose(reference(xs, ps), output.Data, 1e-5, 1e-5, $"{layer} forward vs reference");

        var r = RandomTensor(rng, -1f, 1f, output.Shape);
        double[] rd = ToDouble(r.Data);
        const float prefill = 0.5f, gradPrefill = 0.25f;
        var dInputs = inputs.Select(t => { var d = new Tensor(t.Shape); d.Data.AsSpan().Fill(prefill); return d; }).ToArray();
        foreach (var p in parameters) p.Grad.Data.AsSpan().Fill(gradPrefill);
        if (inputsOnly)
        {
            layer.BackwardInputs(inputs, output, r, dInputs);
            foreach (var p in parameters)
                Assert.True(p.Grad.Data.All(v => v == gradPrefill), $"{layer}: BackwardInputs changed the gradient of {p.Name}");
        }
        else layer.Backward(inputs, output, r, dInputs);

        double Loss()
        {
            double[] y = reference(xs, ps);
            double s = 0;
            for (int i = 0; i < y.Length; i++) s += y[i] * rd[i];
            return s;
        }

        double Central(double[] target, int e)
        {
            double keep = target[e];
            target[e] = keep + h;
            double lp = Loss();
            target[e] = keep - h;
            double lm = Loss();
            target[e] = keep;
            return (lp - lm) / (2 * h);
        }

        int checkedCount = 0, skipped = 0;
        for (int i = 0; i < inputs.Length; i++)
        {
            var expected = new double[xs[i].Length];
            var actual = new float[xs[i].Length];
            for (int e = 0; e < expected.Length; e++)
            {
                if (skip?.Invoke(i, e) == true) { skipped++; continue; }
                expected[e] = Central(xs[i], e);
                actual[e] = dInputs[i].Data[e] - prefill;
                checkedCount++;
            }
            AssertClose(expected, actual, atol, rtol, $"{layer} d(input {i})");
        }
        for (int k = 0; k < parameters.Count; k++)
        {
            var p = parameters[k];
            if (!p.Trainable || inputsOnly) continue;
            var expected = new double[ps[k].Length];
            var actual = new float[ps[k].Length];
            for (int e = 0; e < expected.Length; e++)
            {
                expected[e] = Central(ps[k], e);
                actual[e] = p.Grad.Data[e] - gradPrefill;
                checkedCount++;
            }
            AssertClose(expected, actual, atol, rtol, $"{layer} d({p.Name})");
        }
        Assert.True(checkedCount > 0, "nothing was checked");
        Assert.True(skipped <= checkedCount / 5, $"{skipped} of {checkedCount + skipped} points skipped: the test data is too close to kinks");
    }
}
