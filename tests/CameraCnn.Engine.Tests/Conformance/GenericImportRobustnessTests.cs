// GenericImportRobustnessTests: what the extended op table must refuse, and how: unsupported values by name
// (NotSupportedException), broken ones as InvalidDataException, absurd Reshape/Pad/Concat sizes as ShapeException
// before anything is allocated; and bit-flipped copies of a model full of generic ops fail only in those ways.
using System.Diagnostics;
using CameraCnn.Engine.Onnx;
using CameraCnn.Engine.Onnx.Proto;
using Google.Protobuf;
using Xunit.Abstractions;
using static CameraCnn.Engine.Tests.OnnxInterop.ProtoKit;

namespace CameraCnn.Engine.Tests.Conformance;

public sealed class GenericImportRobustnessTests(ITestOutputHelper output)
{
    private static Models.Model Load(ModelProto m) => OnnxImporter.FromBytes(m.ToByteArray());

    private static ModelProto Model(ValueInfoProto[] inputs, TensorProto[] inits, params NodeProto[] nodes)
        => OnnxModel(OnnxGraph(inputs, [Value(nodes[^1].Output[0])], inits, nodes));

    public static TheoryData<string, string> RefusalCases
    {
        get
        {
            var data = new TheoryData<string, string>();
            foreach (var (name, (_, expected)) in Refusals) data.Add(name, expected);
            return data;
        }
    }

    private static readonly Dictionary<string, (Func<ModelProto> Model, string Expected)> Refusals = new()
    {
        ["split_computed_sizes"] = (() => Model([Value("x", 2, 6), Value("s", 2)], [],
            Node("Split", ["x", "s"], ["a", "b"], Int("axis", 1))), "unsupported: Split with a computed (non-constant) split in node 'a'"),
        ["clip_computed_min"] = (() => Model([Value("x", 2, 6), Value("lo")], [],
            Node("Clip", ["x", "lo"], ["y"])), "unsupported: Clip with a computed (non-constant) min in node 'y'"),
        ["reshape_computed_shape"] = (() => Model([Value("x", 2, 6), Value("s", 2)], [],
            Node("Reshape", ["x", "s"], ["y"])), "unsupported: Reshape with a computed (non-constant) shape in node 'y'"),
        ["pad_wrap"] = (() => Model([Value("x", 2, 6)], [OnnxTensors.FromInt64("p", 0, 1, 0, 1)],
            Node("Pad", ["x", "p"], ["y"], Str("mode", "wrap"))), "unsupported: Pad mode=wrap in node 'y'"),
        ["pad_axes_input"] = (() => Model([Value("x", 2, 6)], [OnnxTensors.FromInt64("p", 1, 1), OnnxTensors.FromInt64("a", 1)],
            Node("Pad", ["x", "p", "", "a"], ["y"])), "unsupported: Pad with an axes input in node 'y'"),
        ["int64_constant_as_data"] = (() => Model([Value("x", 2, 3)], [OnnxTensors.FromInt64("c", 1, 2, 3)],
            Node("Mul", ["x", "c"], ["y"])), "unsupported: Mul with int64 data 'c' in node 'y' (float only)"),
        ["dropout_mask_used"] = (() => OnnxModel(OnnxGraph([Value("x", 2, 3)], [Value("y"), Value("mask")], [],
            Node("Dropout", ["x"], ["y", "mask"]))), "unsupported: Dropout output 1 ('mask') in node 'y'"),
        ["int_output"] = (() =>
        {
            var m = Model([Value("x", 2, 3)], [], Node("Relu", ["x"], ["y"]));
            m.Graph.Output[0].Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Int64 } };
            return m;
        }, "unsupported: output 'y' has element type int64 (float only)"),
        ["maxpool_3d"] = (() => Model([Value("x", 1, 1, 4, 4, 4)], [], Node("MaxPool", ["x"], ["y"], Ints("kernel_shape", 2, 2, 2))),
            "unsupported: MaxPool kernel_shape=[2,2,2] (1-D and 2-D only) in node 'y'"),
        ["softmax_unknown_attribute"] = (() => Model([Value("x", 2, 3)], [], Node("Softmax", ["x"], ["y"], Int("axes", 1))),
            "unsupported: Softmax attribute 'axes' in node 'y'"),
        ["split_opset18_num_outputs"] = (() => Model([Value("x", 2, 6)], [], Node("Split", ["x"], ["a", "b"], Int("num_outputs", 2))),
            "unsupported: Split attribute 'num_outputs' in node 'a'"),
    };

    [Theory]
    [MemberData(nameof(RefusalCases))]
    public void Unsupported_content_is_refused_by_name(string name, string expected)
    {
        var e = Assert.Throws<NotSupportedException>(() => Load(Refusals[name].Model()));
        Assert.Equal(expected, e.Message);
    }

    [Theory]
    [InlineData("transpose_not_a_permutation")]
    [InlineData("split_sizes_do_not_match_outputs")]
    [InlineData("reshape_two_minus_ones")]
    [InlineData("pad_odd_count")]
    [InlineData("pad_beyond_the_element_limit")]
    [InlineData("concat_without_axis")]
    [InlineData("flatten_absurd_axis")]
    public void Broken_attributes_are_invalid_data(string name)
    {
        var m = name switch
        {
            "transpose_not_a_permutation" => Model([Value("x", 2, 3)], [], Node("Transpose", ["x"], ["y"], Ints("perm", 0, 0))),
            "split_sizes_do_not_match_outputs" => Model([Value("x", 2, 6)], [OnnxTensors.FromInt64("s", 1, 2, 3)],
                Node("Split", ["x", "s"], ["a", "b"], Int("axis", 1))),
            "reshape_two_minus_ones" => Model([Value("x", 2, 6)], [OnnxTensors.FromInt64("s", -1, -1)], Node("Reshape", ["x", "s"], ["y"])),
            "pad_odd_count" => Model([Value("x", 2, 6)], [OnnxTensors.FromInt64("p", 1, 1, 1)], Node("Pad", ["x", "p"], ["y"])),
            "pad_beyond_the_element_limit" => Model([Value("x", 2, 6)], [OnnxTensors.FromInt64("p", 0, 1L << 40, 0, 0)], Node("Pad", ["x", "p"], ["y"])),
            "concat_without_axis" => Model([Value("x", 2, 6)], [], Node("Concat", ["x", "x"], ["y"])),
            _ => Model([Value("x", 2, 6)], [], Node("Flatten", ["x"], ["y"], Int("axis", 1L << 40))),
        };
        var e = Record.Exception(() => Load(m));
        Assert.True(e is InvalidDataException, $"{name}: {e?.GetType().Name ?? "no exception"}: {e?.Message}");
    }

    [Fact]
    public void Absurd_sizes_are_shape_errors_without_allocating()
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        // Reshape [2, 6] to [65536, 65536]: 2^32 elements, refused by the element cap, not attempted.
        var reshape = Load(Model([Value("x", 2, 6)], [OnnxTensors.FromInt64("s", 65536, 65536)], Node("Reshape", ["x", "s"], ["y"]))).Graph;
        Assert.Throws<ShapeException>(() => reshape.Forward(new Tensor(2, 6)));
        // Pad that would make 2^31 elements, each pad legal on its own.
        var pad = Load(Model([Value("x", 2, 6)], [OnnxTensors.FromInt64("p", 0, 0, 1L << 30, 0)], Node("Pad", ["x", "p"], ["y"]))).Graph;
        Assert.Throws<ShapeException>(() => pad.Forward(new Tensor(2, 6)));
        // Concat whose inputs are each within the cap but whose result is not (shape inference only).
        var concat = Load(Model([Value("x", -1, -1)], [], Node("Concat", ["x", "x", "x"], ["y"], Int("axis", 0)))).Graph;
        Assert.Throws<ShapeException>(() => concat.InferShapes([[1 << 15, 1 << 14]]));
        // Unsqueeze and Transpose checks of rank at run time.
        var unsq = Load(Model([Value("x", 2, 6)], [OnnxTensors.FromInt64("a", 5)], Node("Unsqueeze", ["x", "a"], ["y"]))).Graph;
        Assert.Throws<ShapeException>(() => unsq.Forward(new Tensor(2, 6)));
        var tr = Load(Model([Value("x", 2, 6)], [], Node("Transpose", ["x"], ["y"], Ints("perm", 2, 0, 1)))).Graph;
        Assert.Throws<ShapeException>(() => tr.Forward(new Tensor(2, 6)));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64 << 20, "an absurd shape was allocated before it was refused");
    }

    /// <summary>Bit-flipped copies of an exported model made of generic layers: load and run, or fail only in the allowed ways.</summary>
    [Fact(Timeout = 30_000)]
    public async Task Bit_flipped_generic_models_fail_cleanly()
    {
        await Task.Run(() =>
        {
            byte[] original = OnnxExporter.ToBytes(ExportGenericLayersTests.BuildModel());
            var rng = new Random(77);
            int ran = 0, refused = 0, shape = 0;
            var bad = new List<string>();
            var slowest = TimeSpan.Zero;
            for (int k = 0; k < 400; k++)
            {
                var bytes = (byte[])original.Clone();
                for (int f = 0, n = 1 + rng.Next(3); f < n; f++) bytes[rng.Next(bytes.Length)] ^= (byte)(1 << rng.Next(8));
                var clock = Stopwatch.StartNew();
                try
                {
                    var g = OnnxImporter.FromBytes(bytes).Graph;
                    var shapes = g.Inputs.Select(i => i.InputShape!.Select(d => d < 0 ? 1 : d).ToArray()).ToList();
                    long total = shapes.Sum(s => Tensor.CheckedLength(s)) + g.InferShapes(shapes).Values.Sum(s => Tensor.CheckedLength(s));
                    if (total > 1 << 24) { shape++; continue; }
                    g.Forward(shapes.Select(s => new Tensor(s)).ToList());
                    ran++;
                }
                catch (Exception e) when (e is InvalidDataException or NotSupportedException) { refused++; }
                catch (ShapeException) { shape++; }
                catch (Exception e) { bad.Add($"copy #{k}: {e.GetType().Name}: {e.Message} @ {e.StackTrace?.Split('\n')[0].Trim()}"); }
                if (clock.Elapsed > slowest) slowest = clock.Elapsed;
            }
            output.WriteLine($"ran {ran}, refused {refused}, shape errors {shape}, slowest {slowest.TotalMilliseconds:F0} ms");
            Assert.True(bad.Count == 0, string.Join("\n", bad.Take(10)));
            Assert.True(ran > 0 && refused > 0, "the fuzzing did not reach both outcomes");
            Assert.True(slowest < TimeSpan.FromSeconds(5));
        });
    }
}
