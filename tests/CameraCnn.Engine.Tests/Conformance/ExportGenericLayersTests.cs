// ExportGenericLayersTests: a graph built from the generic layers (split/concat BGR swap, constant mean, reflect
// pad, transpose, reshape family, MatMul, GemmOp, Clip/Exp/Neg/Max, axis Softmax, GlobalMaxPool, 1-D conv) is
// written as ONNX, run by ONNX Runtime, and read back by our importer: all three agree.
using CameraCnn.Engine.Kernels;
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Onnx;
using CameraCnn.Engine.Tests.OnnxInterop;

namespace CameraCnn.Engine.Tests.Conformance;

public sealed class ExportGenericLayersTests
{
    private static Tensor Random(Random rng, params int[] shape) => OnnxTestKit.RandomTensor(rng, -1f, 1f, shape);

    /// <summary>Every generic layer in one graph with seeded values; input [N, 3, 8, 8], three outputs.</summary>
    internal static Model BuildModel()
    {
        var rng = new Random(1234);
        var g = new Graph();
        var x = g.AddInput("x", -1, 3, 8, 8);
        var parts = Enumerable.Range(0, 3).Select(k => g.Add(new SplitPart(1, k, 3), x)).ToArray();
        var bgr = g.Add(new Concat(1), parts[2], parts[1], parts[0]);
        var centred = g.Add(new Elementwise(ElementwiseOp.Sub), bgr, g.Add(new Constant(Random(rng, 1, 3, 1, 1))));
        var padded = g.Add(new Pad([0, 0, 1, 2, 0, 0, 1, 0], PadMode.Reflect), centred);
        var conv = new Conv2d(3, 4, Window2d.Square(3));
        foreach (var p in conv.Parameters) for (int i = 0; i < p.Value.Length; i++) p.Value.Data[i] = rng.NextSingle() - 0.5f;
        var features = g.Add(conv, padded); // [N, 4, 8, 8]
        var nhwc = g.Add(new Transpose([0, 2, 3, 1]), features); // [N, 8, 8, 4]
        var rows = g.Add(new Reshape([0, -1, 4]), nhwc); // [N, 64, 4]
        var mixed = g.Add(new MatMul(), rows, g.Add(new Constant(Random(rng, 4, 5)))); // [N, 64, 5]
        var squeezed = g.Add(new Squeeze([1]), g.Add(new Unsqueeze([1]), mixed));
        var bounded = g.Add(new Exp(), g.Add(new Neg(), g.Add(new Clip(-0.8f, 0.9f), squeezed)));
        var floor = g.Add(new Elementwise(ElementwiseOp.Max), bounded, g.Add(new Constant(new Tensor([], [0.7f]))));
        var probs = g.Add(new Softmax(1), floor);
        var half = g.Add(new SplitPart(1, 1, 2), probs); // [N, 32, 5]; the other half is never used
        var pooled = g.Add(new Flatten(1), g.Add(new GlobalMaxPool(), features)); // [N, 4]
        var head = g.Add(new GemmOp(0.5f, 2f, transB: true), pooled, g.Add(new Constant(Random(rng, 3, 4))), g.Add(new Constant(Random(rng, 3))));
        var signal = new Conv2d(32, 6, new Window2d(1, 3, 1, 2, 0, 1, 0, 1), groups: 2);
        foreach (var p in signal.Parameters) for (int i = 0; i < p.Value.Length; i++) p.Value.Data[i] = rng.NextSingle() - 0.5f;
        var oneD = g.Add(new Spatial1d(signal), half); // [N, 6, 3]
        var sum = g.Add(new Elementwise(ElementwiseOp.Add), oneD, oneD, g.Add(new Constant(Random(rng, 3))));
        g.MarkOutput(head);
        g.MarkOutput(sum);
        g.MarkOutput(probs);
        return new Model(g);
    }

    [Fact]
    public void Exported_generic_layers_match_onnx_runtime_and_reimport()
    {
        var model = BuildModel();
        var input = Random(new Random(9), 2, 3, 8, 8);
        double worst = OnnxTestKit.AssertOrtParity(model, input, tolerance: 1e-5);

        var ours = model.Graph.Outputs.Select(o => (float[])o.Output.Data.Clone()).ToArray();
        var back = OnnxImporter.FromBytes(OnnxExporter.ToBytes(model)).Graph;
        back.Forward([input]);
        Assert.Equal(model.Graph.Outputs.Select(o => o.Name), back.Outputs.Select(o => o.Name));
        for (int k = 0; k < ours.Length; k++)
            Assert.True(OnnxTestKit.MaxAbsDiff(ours[k], back.Outputs[k].Output.Data, out _) <= 1e-5, $"output {k} after a round trip");
        Assert.True(worst <= 1e-5);
    }

    [Fact]
    public void Steady_state_forward_allocates_nothing()
    {
        var g = BuildModel().Graph;
        var input = Random(new Random(10), 2, 3, 8, 8);
        Tensor[] inputs = [input];
        for (int i = 0; i < 3; i++) g.Forward(inputs); // the first frames size buffers and plans
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 5; i++) g.Forward(inputs);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Split_parts_of_one_input_become_one_split_node()
    {
        var proto = OnnxExporter.ToProto(BuildModel());
        var splits = proto.Graph.Node.Where(n => n.OpType == "Split").ToArray();
        Assert.Equal(2, splits.Length); // the three BGR parts, and the half of which one part is used
        Assert.Equal(3, splits[0].Output.Count);
        Assert.DoesNotContain(splits[0].Output, o => o.Contains("unused"));
        Assert.Contains(splits[1].Output, o => o.Contains("unused"));
    }

    [Fact]
    public void Forms_opset13_cannot_express_are_refused_by_name()
    {
        var g = new Graph();
        g.Add(new Softmax(1, coerce2d: true), g.AddInput("x", -1, 3, 4));
        var e = Assert.Throws<NotSupportedException>(() => OnnxExporter.ToBytes(new Model(g)));
        Assert.Contains("Softmax", e.Message);
    }
}
