// ImportRefusalTests: what the importer must refuse, and how. Unsupported content -> NotSupportedException naming the
// op/attribute; broken files -> InvalidDataException; never another exception type, a huge allocation or a hang,
// whether the file is hand-built, truncated, random or bit-flipped.
using CameraCnn.Engine.Layers;
using CameraCnn.Engine.Models;
using CameraCnn.Engine.Onnx;
using CameraCnn.Engine.Onnx.Proto;
using Google.Protobuf;
using static CameraCnn.Engine.Tests.OnnxInterop.ProtoKit;

namespace CameraCnn.Engine.Tests.OnnxInterop;

public sealed partial class ImportRefusalTests
{
    private static Model Load(ModelProto m) => OnnxImporter.FromBytes(Bytes(m));

    private static void AssertRuns(Model m)
    {
        var input = m.Graph.Inputs[0].InputShape!.Select(d => d < 0 ? 2 : d).ToArray();
        var x = new Tensor(input);
        for (int i = 0; i < x.Length; i++) x.Data[i] = (i % 11) * 0.1f - 0.5f;
        var y = m.Graph.Forward(x);
        Assert.All(y.Data, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void The_hand_built_base_models_load()
    {
        // Controls: the models the refusal tests mutate are fine without the mutation.
        var conv = Load(ConvModel(Ints("pads", 1, 0, 1, 2), Ints("strides", 2, 1), Int("group", 1), Str("auto_pad", "NOTSET")));
        Assert.IsType<Conv2d>(conv.Graph.Output.Layer);
        AssertRuns(conv);
        AssertRuns(Load(ConvModel(Str("auto_pad", "VALID"), Ints("kernel_shape", 3, 3))));
        AssertRuns(Load(UnaryModel("AveragePool", Ints("kernel_shape", 2, 2), Ints("dilations", 1, 1))));
        AssertRuns(Load(UnaryModel("MaxPool", Ints("kernel_shape", 2, 2), Ints("dilations", 2, 2))));
        AssertRuns(Load(UnaryModel("Relu")));
    }

    [Fact]
    public void Unknown_op_is_refused_by_name()
    {
        var e = Assert.Throws<NotSupportedException>(() => Load(UnaryModel("Foo")));
        Assert.Contains("unsupported: op Foo", e.Message);
        Assert.Contains("'y'", e.Message); // the node
    }

    [Fact]
    public void Op_from_another_domain_is_refused()
    {
        var m = UnaryModel("Relu");
        m.Graph.Node[0].Domain = "com.microsoft";
        var e = Assert.Throws<NotSupportedException>(() => Load(m));
        Assert.Contains("com.microsoft.Relu", e.Message);
    }

    [Fact]
    public void Unknown_attribute_is_refused_by_name()
    {
        var e = Assert.Throws<NotSupportedException>(() => Load(ConvModel(Int("bogus", 1))));
        Assert.Contains("unsupported: Conv attribute 'bogus'", e.Message);
        e = Assert.Throws<NotSupportedException>(() => Load(UnaryModel("Relu", Float("alpha", 0.5f))));
        Assert.Contains("unsupported: Relu attribute 'alpha'", e.Message);
    }

    [Fact]
    public void Average_pool_dilation_is_refused()
    {
        var e = Assert.Throws<NotSupportedException>(() => Load(UnaryModel("AveragePool", Ints("kernel_shape", 2, 2), Ints("dilations", 2, 2))));
        Assert.Contains("AveragePool", e.Message);
        Assert.Contains("dilations", e.Message);
    }

    [Theory]
    [InlineData("SAME_UPPER")]
    [InlineData("SAME_LOWER")]
    public void Conv_auto_pad_same_is_refused(string autoPad)
    {
        var e = Assert.Throws<NotSupportedException>(() => Load(ConvModel(Str("auto_pad", autoPad))));
        Assert.Contains("auto_pad", e.Message);
        Assert.Contains(autoPad, e.Message);
        e = Assert.Throws<NotSupportedException>(() => Load(UnaryModel("MaxPool", Ints("kernel_shape", 2, 2), Str("auto_pad", autoPad))));
        Assert.Contains("auto_pad", e.Message);
    }

    [Fact]
    public void Other_unsupported_attribute_values_are_refused()
    {
        Assert.Throws<NotSupportedException>(() => Load(UnaryModel("MaxPool", Ints("kernel_shape", 2, 2), Int("storage_order", 1))));
        Assert.Throws<NotSupportedException>(() => Load(UnaryModel("MaxPool", Ints("kernel_shape", 2, 2, 2))));
        Assert.Throws<NotSupportedException>(() => Load(UnaryModel("MaxPool")));
        Assert.Throws<NotSupportedException>(() => Load(UnaryModel("Pad", Str("mode", "wrap"))));
        Assert.Throws<NotSupportedException>(() => Load(UnaryModel("Clip", Float("min", 0f)))); // an attribute only before opset 11
        Assert.Throws<NotSupportedException>(() => Load(ConvModel(Ints("strides", 1, 1, 1))));
        Assert.Throws<InvalidDataException>(() => Load(ConvModel(Ints("kernel_shape", 2, 2))));
        Assert.Throws<InvalidDataException>(() => Load(ConvModel(Ints("strides", 0, 1))));
        Assert.Throws<InvalidDataException>(() => Load(ConvModel(Ints("pads", -1, 0, 0, 0))));
        Assert.Throws<InvalidDataException>(() => Load(ConvModel(Int("group", 0))));
        Assert.Throws<InvalidDataException>(() => Load(ConvModel(Int("group", 2)))); // 3 output channels, 2 groups
    }

    [Fact]
    public void Input_not_produced_anywhere_is_invalid()
    {
        var m = OnnxModel(OnnxGraph([Value("x", -1, 2, 7, 6)], [Value("z")], [],
            Node("Relu", ["x"], ["y"]),
            Node("Add", ["y", "ghost_value"], ["z"])));
        var e = Assert.Throws<InvalidDataException>(() => Load(m));
        Assert.Contains("ghost_value", e.Message);
    }

    [Fact]
    public void Graph_output_not_produced_is_invalid()
    {
        var m = OnnxModel(OnnxGraph([Value("x", -1, 2, 7, 6)], [Value("nowhere")], [], Node("Relu", ["x"], ["y"])));
        var e = Assert.Throws<InvalidDataException>(() => Load(m));
        Assert.Contains("nowhere", e.Message);
    }

    [Fact]
    public void Cycle_is_invalid()
    {
        var m = OnnxModel(OnnxGraph([Value("x", -1, 2, 7, 6)], [Value("b")], [],
            Node("Add", ["x", "b"], ["a"]),
            Node("Relu", ["a"], ["b"])));
        var e = Assert.Throws<InvalidDataException>(() => Load(m));
        Assert.Contains("cycle", e.Message);
        // A self-loop too.
        m = OnnxModel(OnnxGraph([Value("x", -1, 2, 7, 6)], [Value("a")], [], Node("Add", ["x", "a"], ["a"])));
        Assert.Contains("cycle", Assert.Throws<InvalidDataException>(() => Load(m)).Message);
    }

    [Theory]
    [InlineData(1L << 20, 1L << 20)]
    [InlineData(1L << 40, 1L)]
    [InlineData(-3L, 4L)]
    [InlineData(1L << 15, 1L << 15)] // exactly 2^30 elements is the limit: allowed shape, but the data is missing
    public void Huge_or_negative_initializer_is_refused_without_allocating(long d0, long d1)
    {
        var w = new TensorProto { Name = "W", DataType = (int)TensorProto.Types.DataType.Float };
        w.Dims.Add([d0, d1, 1, 1]);
        var m = OnnxModel(OnnxGraph([Value("x", -1, 2, 7, 6)], [Value("y")], [w], Node("Conv", ["x", "W"], ["y"])));
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Throws<InvalidDataException>(() => Load(m));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64 << 20, "the importer allocated for a tensor it then refused");
        // The same via raw_data and via a Gemm weight.
        w.RawData = ByteString.CopyFrom(new byte[16]);
        Assert.Throws<InvalidDataException>(() => Load(m));
        w.Dims.Clear();
        w.Dims.Add([d0, d1]);
        m = OnnxModel(OnnxGraph([Value("x", -1, 4)], [Value("y")], [w], Node("Gemm", ["x", "W"], ["y"], Int("transB", 1))));
        Assert.Throws<InvalidDataException>(() => Load(m));
    }

    [Fact]
    public void Mismatched_tensor_data_is_invalid()
    {
        var m = ConvModel();
        m.Graph.Initializer[0].FloatData.RemoveAt(0);
        Assert.Throws<InvalidDataException>(() => Load(m));
        m = ConvModel();
        m.Graph.Initializer[1].Dims[0] = 4; // bias of 4 for 3 output channels
        m.Graph.Initializer[1].FloatData.Add(1f);
        Assert.Throws<InvalidDataException>(() => Load(m));
    }

    [Fact]
    public void External_data_and_odd_element_types_are_refused()
    {
        var m = ConvModel();
        m.Graph.Initializer[0].DataLocation = TensorProto.Types.DataLocation.External;
        Assert.Contains("external", Assert.Throws<NotSupportedException>(() => Load(m)).Message);
        m = ConvModel();
        m.Graph.Initializer[0].DataType = (int)TensorProto.Types.DataType.Float16;
        m.Graph.Initializer[0].FloatData.Clear();
        m.Graph.Initializer[0].RawData = ByteString.CopyFrom(new byte[3 * 2 * 3 * 3 * 2]);
        Assert.Throws<NotSupportedException>(() => Load(m));
        m = ConvModel();
        m.Graph.Input[0].Type.TensorType.ElemType = (int)TensorProto.Types.DataType.Uint8;
        Assert.Throws<NotSupportedException>(() => Load(m));
    }

    /// <summary>Degenerate-but-parseable nodes: empty parameter tensors, empty outputs, bad constants.</summary>
    public static TheoryData<string> DegenerateCases => new(Degenerate.Keys);

    private static readonly Dictionary<string, Func<ModelProto>> Degenerate = new()
    {
        ["gemm_zero_outputs"] = () => OnnxModel(OnnxGraph([Value("x", -1, 4)], [Value("y")], [Init("W", [0, 4])],
            Node("Gemm", ["x", "W"], ["y"], Int("transB", 1)))),
        ["gemm_zero_inputs"] = () => OnnxModel(OnnxGraph([Value("x", -1, 4)], [Value("y")], [Init("W", [0, 5])],
            Node("Gemm", ["x", "W"], ["y"]))),
        ["batchnorm_zero_channels"] = () => OnnxModel(OnnxGraph([Value("x", -1, 2, 7, 6)], [Value("y")],
            [Init("s", [0]), Init("b", [0]), Init("m", [0]), Init("v", [0])],
            Node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"]))),
        ["dropout_empty_ratio"] = () => OnnxModel(OnnxGraph([Value("x", -1, 2, 7, 6)], [Value("y")], [Init("r", [0])],
            Node("Dropout", ["x", "r"], ["y"]))),
        ["dropout_empty_training_mode"] = () => OnnxModel(OnnxGraph([Value("x", -1, 2, 7, 6)], [Value("y")], [Init("r", [], [0.5f]), Init("t", [0])],
            Node("Dropout", ["x", "r", "t"], ["y"]))),
        ["constant_without_output"] = () => OnnxModel(OnnxGraph([Value("x", -1, 2, 7, 6)], [Value("y")], [],
            new NodeProto { OpType = "Constant", Attribute = { new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = Init("", [1], [1f]) } } },
            Node("Relu", ["x"], ["y"]))),
        ["relu_without_output"] = () => OnnxModel(OnnxGraph([Value("x", -1, 2, 7, 6)], [Value("x")], [], new NodeProto { OpType = "Relu", Input = { "x" } })),
        ["conv_zero_kernel"] = () => OnnxModel(OnnxGraph([Value("x", -1, 2, 7, 6)], [Value("y")], [Init("W", [3, 2, 0, 3])],
            Node("Conv", ["x", "W"], ["y"]))),
        ["conv_zero_in_channels"] = () => OnnxModel(OnnxGraph([Value("x", -1, 2, 7, 6)], [Value("y")], [Init("W", [3, 0, 3, 3])],
            Node("Conv", ["x", "W"], ["y"]))),
        ["conv_0d_weights"] = () => OnnxModel(OnnxGraph([Value("x", -1, 2, 7, 6)], [Value("y")], [Init("W", [3, 2])],
            Node("Conv", ["x", "W"], ["y"]))),
        ["conv_huge_window"] = () => ConvModel(Ints("pads", 1 << 20, 0, 0, 0)),
        ["maxpool_huge_kernel"] = () => UnaryModel("MaxPool", Ints("kernel_shape", 1L << 40, 2)),
        ["input_dim_too_large"] = () => OnnxModel(OnnxGraph([Value("x", -1, 1L << 33)], [Value("y")], [], Node("Relu", ["x"], ["y"]))),
        ["input_without_type"] = () => OnnxModel(OnnxGraph([new ValueInfoProto { Name = "x" }], [Value("y")], [], Node("Relu", ["x"], ["y"]))),
        ["no_graph_input"] = () => OnnxModel(OnnxGraph([], [Value("y")], [Init("c", [2])], Node("Relu", ["c"], ["y"]))),
        ["add_with_one_input"] = () => OnnxModel(OnnxGraph([Value("x", -1, 2, 7, 6)], [Value("y")], [], Node("Add", ["x"], ["y"]))),
        ["add_with_int64_constant"] = () => OnnxModel(OnnxGraph([Value("x", -1, 2, 7, 6)], [Value("y")],
            [new TensorProto { Name = "c", DataType = (int)TensorProto.Types.DataType.Int64, Dims = { 1 }, Int64Data = { 1 } }],
            Node("Add", ["x", "c"], ["y"]))),
        ["conv_computed_weights"] = () => OnnxModel(OnnxGraph([Value("x", -1, 2, 7, 6)], [Value("y")], [], Node("Conv", ["x", "x"], ["y"]))),
        ["output_is_constant"] = () => OnnxModel(OnnxGraph([Value("x", -1, 2, 7, 6)], [Value("c")], [Init("c", [1])], Node("Relu", ["x"], ["y"]))),
        ["dropout_training"] = () => OnnxModel(OnnxGraph([Value("x", -1, 2, 7, 6)], [Value("y")], [Init("r", [], [0.5f]), Init("t", [], [1f])],
            Node("Dropout", ["x", "r", "t"], ["y"]))),
        ["dropout_ratio_one"] = () => OnnxModel(OnnxGraph([Value("x", -1, 2, 7, 6)], [Value("y")], [], Node("Dropout", ["x"], ["y"], Float("ratio", 1f)))),
        ["batchnorm_training_mode"] = () => OnnxModel(OnnxGraph([Value("x", -1, 2, 7, 6)], [Value("y")],
            [Init("s", [2]), Init("b", [2]), Init("m", [2]), Init("v", [2])],
            Node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], Int("training_mode", 1)))),
        ["gemm_3d_weights"] = () => OnnxModel(OnnxGraph([Value("x", -1, 4)], [Value("y")], [Init("W", [4, 3, 1])], Node("Gemm", ["x", "W"], ["y"]))),
        ["bad_labels_json"] = () =>
        {
            var m = UnaryModel("Relu");
            m.MetadataProps.Add(new StringStringEntryProto { Key = Models.Model.LabelsKey, Value = "[1, {" });
            return m;
        },
        ["bad_preprocess_json"] = () =>
        {
            var m = UnaryModel("Relu");
            m.MetadataProps.Add(new StringStringEntryProto { Key = Models.Model.PreprocessKey, Value = "{\"channels\": \"three\"}" });
            return m;
        },
        ["preprocess_literal_null"] = () =>
        {
            var m = UnaryModel("Relu");
            m.MetadataProps.Add(new StringStringEntryProto { Key = Models.Model.PreprocessKey, Value = "null" });
            return m;
        },
    };

    // JSON "mean": null / "std": null in camcnn.preprocess once gave NullReferenceException.
    [Theory]
    [InlineData("{\"channels\": 1, \"mean\": null}")]
    [InlineData("{\"std\": null}")]
    public void Preprocessing_with_null_arrays_is_refused_cleanly(string json)
    {
        var m = UnaryModel("Relu");
        m.MetadataProps.Add(new StringStringEntryProto { Key = Models.Model.PreprocessKey, Value = json });
        Assert.Throws<InvalidDataException>(() => Load(m));
    }

    [Theory]
    [MemberData(nameof(DegenerateCases))]
    public void Degenerate_models_are_refused_cleanly(string name)
    {
        var e = Record.Exception(() => Load(Degenerate[name]()));
        Assert.True(e is InvalidDataException or NotSupportedException,
            e is null ? $"{name}: loaded without complaint" : $"{name}: {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
        Assert.DoesNotContain('\n', e!.Message);
    }
}
