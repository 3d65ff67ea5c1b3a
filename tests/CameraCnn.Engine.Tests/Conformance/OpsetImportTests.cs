// OpsetImportTests: hand-built models for what changed across opsets 7-17 (attributes that became inputs: Split
// 'split', Clip min/max, Pad pads, Squeeze/Unsqueeze axes, Dropout ratio; Softmax's axis default and semantics) and
// for constant operands with numpy broadcasting, each run by our importer and by ONNX Runtime on the same bytes.
using CameraCnn.Engine.Onnx;
using CameraCnn.Engine.Onnx.Proto;
using CameraCnn.Engine.Tests.OnnxInterop;
using Google.Protobuf;
using static CameraCnn.Engine.Tests.OnnxInterop.ProtoKit;

namespace CameraCnn.Engine.Tests.Conformance;

public sealed class OpsetImportTests
{
    private static TensorProto Int64s(string name, params long[] v) => OnnxTensors.FromInt64(name, v);
    private static TensorProto Scalar(string name, float v) => Init(name, [], [v]);

    private static NodeProto NodeOut(string op, string[] inputs, string[] outputs, params AttributeProto[] attributes)
        => Node(op, inputs, outputs, attributes);

    /// <summary>Runs the model in ONNX Runtime and in our engine; every graph output must match (same name, shape, values).</summary>
    private static void AssertMatchesOrt(ModelProto m, params Tensor[] inputs)
    {
        byte[] bytes = m.ToByteArray();
        var ort = OnnxTestKit.RunOrt(bytes, inputs);
        var graph = OnnxImporter.FromBytes(bytes).Graph;
        graph.Forward(inputs);
        Assert.Equal(ort.Keys.Order(), graph.Outputs.Select(o => o.Name).Order());
        foreach (var node in graph.Outputs)
        {
            var (shape, data) = ort[node.Name];
            Assert.Equal(shape, node.Output.Shape.Select(d => (long)d).ToArray());
            double diff = OnnxTestKit.MaxAbsDiff(node.Output.Data, data, out int at);
            Assert.True(diff <= 1e-5, $"output '{node.Name}': max |ours - ort| = {diff:g3} at {at}");
        }
    }

    private static Tensor X(params int[] shape) => OnnxTestKit.RandomTensor(new Random(shape.Sum()), -2f, 2f, shape);

    private static ModelProto Model(long opset, ValueInfoProto[] inputs, string[] outputs, TensorProto[] inits, params NodeProto[] nodes)
        => OnnxModel(OnnxGraph(inputs, outputs.Select(o => Value(o)).ToArray(), inits, nodes), opset);

    [Theory]
    [InlineData(11)]
    [InlineData(13)]
    public void Split_sizes_as_attribute_before13_as_input_from13(long opset)
    {
        var sizes = opset < 13 ? Array.Empty<TensorProto>() : [Int64s("s", 1, 2, 3)];
        var split = opset < 13
            ? NodeOut("Split", ["x"], ["a", "b", "c"], Int("axis", 1), Ints("split", 1, 2, 3))
            : NodeOut("Split", ["x", "s"], ["a", "b", "c"], Int("axis", 1));
        AssertMatchesOrt(Model(opset, [Value("x", 2, 6, 3)], ["a", "b", "c"], sizes, split), X(2, 6, 3));
        // Equal parts when no sizes are given; one part unused.
        AssertMatchesOrt(Model(opset, [Value("x", 2, 6, 3)], ["p", "r"], [],
            NodeOut("Split", ["x"], ["p", "q", "r"], Int("axis", -2))), X(2, 6, 3));
    }

    [Theory]
    [InlineData(7)]
    [InlineData(11)]
    [InlineData(13)]
    public void Clip_bounds_as_attributes_before11_as_inputs_from11(long opset)
    {
        var m = opset < 11
            ? Model(opset, [Value("x", 3, 4)], ["y"], [], NodeOut("Clip", ["x"], ["y"], Float("min", -0.5f), Float("max", 1.25f)))
            : Model(opset, [Value("x", 3, 4)], ["y"], [Scalar("lo", -0.5f), Scalar("hi", 1.25f)], NodeOut("Clip", ["x", "lo", "hi"], ["y"]));
        AssertMatchesOrt(m, X(3, 4));
        if (opset >= 11) // only a max: min left empty
            AssertMatchesOrt(Model(opset, [Value("x", 3, 4)], ["y"], [Scalar("hi", 0.3f)], NodeOut("Clip", ["x", "", "hi"], ["y"])), X(3, 4));
    }

    [Theory]
    [InlineData(7, "reflect")]
    [InlineData(11, "edge")]
    [InlineData(13, "constant")]
    public void Pad_pads_as_attribute_before11_as_input_from11(long opset, string mode)
    {
        long[] pads = [0, 1, 2, 0, 0, 2, 1, -1];
        var m = opset < 11
            ? Model(opset, [Value("x", 1, 3, 4, 5)], ["y"], [], NodeOut("Pad", ["x"], ["y"], Str("mode", mode), Ints("pads", pads)))
            : Model(opset, [Value("x", 1, 3, 4, 5)], ["y"], [Int64s("p", pads), Scalar("v", 0.75f)],
                NodeOut("Pad", mode == "constant" ? ["x", "p", "v"] : ["x", "p"], ["y"], Str("mode", mode)));
        AssertMatchesOrt(m, X(1, 3, 4, 5));
    }

    [Theory]
    [InlineData(11)]
    [InlineData(13)]
    public void Squeeze_unsqueeze_axes_as_attribute_before13_as_input_from13(long opset)
    {
        var m = opset < 13
            ? Model(opset, [Value("x", 2, 1, 3)], ["y"], [],
                NodeOut("Squeeze", ["x"], ["s"], Ints("axes", 1)), NodeOut("Unsqueeze", ["s"], ["y"], Ints("axes", 0, -1)))
            : Model(opset, [Value("x", 2, 1, 3)], ["y"], [Int64s("a", 1), Int64s("b", 0, -1)],
                NodeOut("Squeeze", ["x", "a"], ["s"]), NodeOut("Unsqueeze", ["s", "b"], ["y"]));
        AssertMatchesOrt(m, X(2, 1, 3));
        // Squeeze without axes removes every size-1 axis.
        AssertMatchesOrt(Model(opset, [Value("x", 1, 3, 1, 2)], ["y"], [], NodeOut("Squeeze", ["x"], ["y"])), X(1, 3, 1, 2));
    }

    [Theory]
    [InlineData(10)]
    [InlineData(13)]
    public void Dropout_ratio_as_attribute_before12_as_input_from12_is_the_identity_at_inference(long opset)
    {
        var m = opset < 12
            ? Model(opset, [Value("x", 2, 5)], ["y"], [], NodeOut("Dropout", ["x"], ["y"], Float("ratio", 0.3f)))
            : Model(opset, [Value("x", 2, 5)], ["y"], [Scalar("r", 0.3f)], NodeOut("Dropout", ["x", "r"], ["y"]));
        AssertMatchesOrt(m, X(2, 5));
        var imported = OnnxImporter.FromBytes(m.ToByteArray());
        Assert.Equal(0.3f, Assert.IsType<CameraCnn.Engine.Layers.Dropout>(imported.Graph.Output.Layer).Ratio);
    }

    [Theory]
    [InlineData(11, 1)] // before 13: [2, 3*4*5] rows normalised as a whole
    [InlineData(11, 2)]
    [InlineData(13, 1)] // from 13: axis 1 alone
    [InlineData(13, 0)]
    [InlineData(13, -2)]
    public void Softmax_coerced_to2d_before13_one_axis_from13(long opset, long axis)
    {
        AssertMatchesOrt(Model(opset, [Value("x", 2, 3, 4, 5)], ["y"], [], NodeOut("Softmax", ["x"], ["y"], Int("axis", axis))), X(2, 3, 4, 5));
    }

    [Theory]
    [InlineData(11)]
    [InlineData(13)]
    public void Softmax_default_axis(long opset)
    {
        AssertMatchesOrt(Model(opset, [Value("x", 2, 3, 4)], ["y"], [], NodeOut("Softmax", ["x"], ["y"])), X(2, 3, 4));
    }

    [Theory]
    [InlineData(7)]
    [InlineData(13)]
    [InlineData(14)]
    public void Reshape_zero_copies_and_minus_one_infers(long opset)
    {
        AssertMatchesOrt(Model(opset, [Value("x", 2, 3, 4)], ["y"], [Int64s("s", 0, -1, 2)], NodeOut("Reshape", ["x", "s"], ["y"])), X(2, 3, 4));
    }

    [Fact]
    public void Flatten_any_axis_and_constant_operands_with_broadcasting()
    {
        AssertMatchesOrt(Model(13, [Value("x", 2, 3, 4, 5)], ["y"], [], NodeOut("Flatten", ["x"], ["y"], Int("axis", 2))), X(2, 3, 4, 5));
        AssertMatchesOrt(Model(13, [Value("x", 2, 3, 4, 5)], ["y"], [], NodeOut("Flatten", ["x"], ["y"], Int("axis", -1))), X(2, 3, 4, 5));
        // x - mean[1,3,1,1], scale * x, x + bias[5], c / x with c a scalar: the constant on either side.
        var m = Model(13, [Value("x", 2, 3, 4, 5)], ["a", "b", "c", "d"],
            [Init("mean", [1, 3, 1, 1], [0.5f, -1f, 2f]), Scalar("scale", 1.5f), Init("bias", [5]), Scalar("k", 2f)],
            NodeOut("Sub", ["x", "mean"], ["a"]), NodeOut("Mul", ["scale", "x"], ["b"]),
            NodeOut("Add", ["x", "bias"], ["c"]), NodeOut("Div", ["k", "x"], ["d"]));
        AssertMatchesOrt(m, X(2, 3, 4, 5));
    }

    [Fact]
    public void Constant_nodes_feed_shapes_and_data()
    {
        var shape = new AttributeProto { Name = "value_ints", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 2, -1 } };
        var half = new AttributeProto { Name = "value_float", Type = AttributeProto.Types.AttributeType.Float, F = 0.5f };
        var table = new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = Init("", [4], [1, 2, 3, 4]) };
        var m = Model(13, [Value("x", 2, 2, 2)], ["y"], [],
            NodeOut("Constant", [], ["shape"], shape), NodeOut("Constant", [], ["half"], half), NodeOut("Constant", [], ["table"], table),
            NodeOut("Identity", ["shape"], ["shape2"]), // an alias of a constant is still a constant
            NodeOut("Reshape", ["x", "shape2"], ["r"]), NodeOut("Mul", ["r", "half"], ["m"]), NodeOut("Add", ["m", "table"], ["y"]));
        AssertMatchesOrt(m, X(2, 2, 2));
    }

    [Fact]
    public void Gemm_with_computed_operands_and_trans_a_MatMul_transpose_concat()
    {
        AssertMatchesOrt(Model(13, [Value("a", 4, 3), Value("b", 4, 5)], ["y"], [Init("c", [3, 1])],
            NodeOut("Gemm", ["a", "b", "c"], ["y"], Int("transA", 1), Float("alpha", 0.5f), Float("beta", 2f))), X(4, 3), X(4, 5));
        AssertMatchesOrt(Model(13, [Value("a", 2, 3, 4)], ["y"], [Init("w", [4, 6])],
            NodeOut("Transpose", ["a"], ["t"], Ints("perm", 1, 0, 2)), NodeOut("MatMul", ["t", "w"], ["m"]),
            NodeOut("Concat", ["m", "m"], ["y"], Int("axis", -1))), X(2, 3, 4));
    }

    [Fact]
    public void Max_min_sum_neg_exp_GlobalMaxPool()
    {
        AssertMatchesOrt(Model(13, [Value("a", 2, 3, 4, 4), Value("b", 3, 1, 1)], ["s", "mx", "mn", "g"], [],
            NodeOut("Sum", ["a", "b", "a"], ["s"]), NodeOut("Max", ["a", "b"], ["mx"]), NodeOut("Min", ["b", "a"], ["mn0"]),
            NodeOut("Neg", ["mn0"], ["mn1"]), NodeOut("Exp", ["mn1"], ["mn"]), NodeOut("GlobalMaxPool", ["a"], ["g"])), X(2, 3, 4, 4), X(3, 1, 1));
    }

    [Fact]
    public void One_dimensional_conv_and_pooling()
    {
        AssertMatchesOrt(Model(13, [Value("x", 2, 4, 11)], ["c", "m", "p"], [Init("w", [6, 2, 3]), Init("bias", [6])],
            NodeOut("Conv", ["x", "w", "bias"], ["c"], Int("group", 2), Ints("pads", 1, 2), Ints("strides", 2), Ints("dilations", 2)),
            NodeOut("MaxPool", ["x"], ["m"], Ints("kernel_shape", 3), Ints("strides", 2), Int("ceil_mode", 1)),
            NodeOut("AveragePool", ["x"], ["p"], Ints("kernel_shape", 2), Ints("pads", 1, 0), Int("count_include_pad", 1))), X(2, 4, 11));
    }

    [Fact]
    public void Outputs_that_alias_keep_their_names()
    {
        // y is x passed through Identity, z is Relu(x) and also returned a second time as w.
        var m = Model(13, [Value("x", 2, 3)], ["y", "z", "w"], [],
            NodeOut("Identity", ["x"], ["y"]), NodeOut("Relu", ["x"], ["z"]), NodeOut("Identity", ["z"], ["w"]));
        AssertMatchesOrt(m, X(2, 3));
    }

    [Fact]
    public void Legacy_broadcast_before7_is_numpy_broadcasting()
    {
        // Opset 6 Add with broadcast=1 aligns B with A's trailing axes (ONNX Runtime no longer runs opset 6 models).
        var m = Model(6, [Value("x", 2, 3)], ["y"], [Init("b", [3], [1f, 2f, 3f])],
            NodeOut("Add", ["x", "b"], ["y"], Int("broadcast", 1)));
        var x = X(2, 3);
        var y = OnnxImporter.FromBytes(m.ToByteArray()).Graph.Forward(x);
        Assert.Equal(x.Data.Select((v, i) => v + (i % 3 + 1)).ToArray(), y.Data);
        m.Graph.Node[0].Attribute.Add(Int("axis", 0));
        Assert.Contains("legacy broadcast axis=0", Assert.Throws<NotSupportedException>(() => OnnxImporter.FromBytes(m.ToByteArray())).Message);
    }
}
