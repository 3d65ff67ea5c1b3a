// Tests for the generated ONNX protobuf types: field numbers and enum values match the official schema.
using CameraCnn.Engine.Onnx.Proto;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace CameraCnn.Engine.Tests.Formats;

public sealed class OnnxProtoTests
{
    // Field numbers from onnx/onnx onnx/onnx.proto; a mismatch makes our files unreadable by other tools.
    public static TheoryData<string, string, int> Fields => new()
    {
        { "ModelProto", "ir_version", 1 }, { "ModelProto", "producer_name", 2 }, { "ModelProto", "producer_version", 3 },
        { "ModelProto", "domain", 4 }, { "ModelProto", "model_version", 5 }, { "ModelProto", "doc_string", 6 },
        { "ModelProto", "graph", 7 }, { "ModelProto", "opset_import", 8 }, { "ModelProto", "metadata_props", 14 },
        { "ModelProto", "training_info", 20 }, { "ModelProto", "functions", 25 },
        { "GraphProto", "node", 1 }, { "GraphProto", "name", 2 }, { "GraphProto", "initializer", 5 },
        { "GraphProto", "doc_string", 10 }, { "GraphProto", "input", 11 }, { "GraphProto", "output", 12 },
        { "GraphProto", "value_info", 13 }, { "GraphProto", "quantization_annotation", 14 },
        { "GraphProto", "sparse_initializer", 15 }, { "GraphProto", "metadata_props", 16 },
        { "NodeProto", "input", 1 }, { "NodeProto", "output", 2 }, { "NodeProto", "name", 3 }, { "NodeProto", "op_type", 4 },
        { "NodeProto", "attribute", 5 }, { "NodeProto", "doc_string", 6 }, { "NodeProto", "domain", 7 },
        { "NodeProto", "overload", 8 }, { "NodeProto", "metadata_props", 9 },
        { "AttributeProto", "name", 1 }, { "AttributeProto", "f", 2 }, { "AttributeProto", "i", 3 }, { "AttributeProto", "s", 4 },
        { "AttributeProto", "t", 5 }, { "AttributeProto", "g", 6 }, { "AttributeProto", "floats", 7 }, { "AttributeProto", "ints", 8 },
        { "AttributeProto", "strings", 9 }, { "AttributeProto", "tensors", 10 }, { "AttributeProto", "graphs", 11 },
        { "AttributeProto", "doc_string", 13 }, { "AttributeProto", "tp", 14 }, { "AttributeProto", "type_protos", 15 },
        { "AttributeProto", "type", 20 }, { "AttributeProto", "ref_attr_name", 21 }, { "AttributeProto", "sparse_tensor", 22 },
        { "AttributeProto", "sparse_tensors", 23 },
        { "ValueInfoProto", "name", 1 }, { "ValueInfoProto", "type", 2 }, { "ValueInfoProto", "doc_string", 3 },
        { "ValueInfoProto", "metadata_props", 4 },
        { "TensorProto", "dims", 1 }, { "TensorProto", "data_type", 2 }, { "TensorProto", "segment", 3 },
        { "TensorProto", "float_data", 4 }, { "TensorProto", "int32_data", 5 }, { "TensorProto", "string_data", 6 },
        { "TensorProto", "int64_data", 7 }, { "TensorProto", "name", 8 }, { "TensorProto", "raw_data", 9 },
        { "TensorProto", "double_data", 10 }, { "TensorProto", "uint64_data", 11 }, { "TensorProto", "doc_string", 12 },
        { "TensorProto", "external_data", 13 }, { "TensorProto", "data_location", 14 }, { "TensorProto", "metadata_props", 16 },
        { "SparseTensorProto", "values", 1 }, { "SparseTensorProto", "indices", 2 }, { "SparseTensorProto", "dims", 3 },
        { "TensorShapeProto", "dim", 1 },
        { "TypeProto", "tensor_type", 1 }, { "TypeProto", "sequence_type", 4 }, { "TypeProto", "map_type", 5 },
        { "TypeProto", "denotation", 6 }, { "TypeProto", "sparse_tensor_type", 8 }, { "TypeProto", "optional_type", 9 },
        { "OperatorSetIdProto", "domain", 1 }, { "OperatorSetIdProto", "version", 2 },
        { "StringStringEntryProto", "key", 1 }, { "StringStringEntryProto", "value", 2 },
        { "TensorAnnotation", "tensor_name", 1 }, { "TensorAnnotation", "quant_parameter_tensor_names", 2 },
        { "TrainingInfoProto", "initialization", 1 }, { "TrainingInfoProto", "algorithm", 2 },
        { "TrainingInfoProto", "initialization_binding", 3 }, { "TrainingInfoProto", "update_binding", 4 },
        { "FunctionProto", "name", 1 }, { "FunctionProto", "input", 4 }, { "FunctionProto", "output", 5 },
        { "FunctionProto", "attribute", 6 }, { "FunctionProto", "node", 7 }, { "FunctionProto", "doc_string", 8 },
        { "FunctionProto", "opset_import", 9 }, { "FunctionProto", "domain", 10 }, { "FunctionProto", "attribute_proto", 11 },
        { "FunctionProto", "value_info", 12 }, { "FunctionProto", "overload", 13 }, { "FunctionProto", "metadata_props", 14 },
    };

    [Theory]
    [MemberData(nameof(Fields))]
    public void Field_numbers_match_official_schema(string message, string field, int number)
    {
        var descriptor = OnnxReflection.Descriptor.FindTypeByName<MessageDescriptor>(message);
        Assert.NotNull(descriptor);
        var f = descriptor.FindFieldByName(field);
        Assert.NotNull(f);
        Assert.Equal(number, f.FieldNumber);
    }

    [Fact]
    public void Nested_message_field_numbers_match_official_schema()
    {
        Assert.Equal(1, TensorProto.Types.Segment.Descriptor.FindFieldByName("begin").FieldNumber);
        Assert.Equal(2, TensorProto.Types.Segment.Descriptor.FindFieldByName("end").FieldNumber);
        var dim = TensorShapeProto.Types.Dimension.Descriptor;
        Assert.Equal(1, dim.FindFieldByName("dim_value").FieldNumber);
        Assert.Equal(2, dim.FindFieldByName("dim_param").FieldNumber);
        Assert.Equal(3, dim.FindFieldByName("denotation").FieldNumber);
        Assert.Equal(1, TypeProto.Types.Tensor.Descriptor.FindFieldByName("elem_type").FieldNumber);
        Assert.Equal(2, TypeProto.Types.Tensor.Descriptor.FindFieldByName("shape").FieldNumber);
        Assert.Equal(1, TypeProto.Types.Sequence.Descriptor.FindFieldByName("elem_type").FieldNumber);
        Assert.Equal(1, TypeProto.Types.Map.Descriptor.FindFieldByName("key_type").FieldNumber);
        Assert.Equal(2, TypeProto.Types.Map.Descriptor.FindFieldByName("value_type").FieldNumber);
        Assert.Equal(1, TypeProto.Types.Optional.Descriptor.FindFieldByName("elem_type").FieldNumber);
        Assert.Equal(1, TypeProto.Types.SparseTensor.Descriptor.FindFieldByName("elem_type").FieldNumber);
        Assert.Equal(2, TypeProto.Types.SparseTensor.Descriptor.FindFieldByName("shape").FieldNumber);
    }

    [Fact]
    public void Enum_values_match_official_schema()
    {
        int[] dataTypes =
        [
            (int)TensorProto.Types.DataType.Undefined, (int)TensorProto.Types.DataType.Float, (int)TensorProto.Types.DataType.Uint8,
            (int)TensorProto.Types.DataType.Int8, (int)TensorProto.Types.DataType.Uint16, (int)TensorProto.Types.DataType.Int16,
            (int)TensorProto.Types.DataType.Int32, (int)TensorProto.Types.DataType.Int64, (int)TensorProto.Types.DataType.String,
            (int)TensorProto.Types.DataType.Bool, (int)TensorProto.Types.DataType.Float16, (int)TensorProto.Types.DataType.Double,
            (int)TensorProto.Types.DataType.Uint32, (int)TensorProto.Types.DataType.Uint64, (int)TensorProto.Types.DataType.Complex64,
            (int)TensorProto.Types.DataType.Complex128, (int)TensorProto.Types.DataType.Bfloat16,
            (int)TensorProto.Types.DataType.Float8E4M3Fn, (int)TensorProto.Types.DataType.Float8E4M3Fnuz,
            (int)TensorProto.Types.DataType.Float8E5M2, (int)TensorProto.Types.DataType.Float8E5M2Fnuz,
            (int)TensorProto.Types.DataType.Uint4, (int)TensorProto.Types.DataType.Int4,
            (int)TensorProto.Types.DataType.Float4E2M1, (int)TensorProto.Types.DataType.Float8E8M0,
            (int)TensorProto.Types.DataType.Uint2, (int)TensorProto.Types.DataType.Int2,
        ];
        Assert.Equal(Enumerable.Range(0, 27), dataTypes);

        Assert.Equal(0, (int)AttributeProto.Types.AttributeType.Undefined);
        Assert.Equal(1, (int)AttributeProto.Types.AttributeType.Float);
        Assert.Equal(2, (int)AttributeProto.Types.AttributeType.Int);
        Assert.Equal(3, (int)AttributeProto.Types.AttributeType.String);
        Assert.Equal(4, (int)AttributeProto.Types.AttributeType.Tensor);
        Assert.Equal(5, (int)AttributeProto.Types.AttributeType.Graph);
        Assert.Equal(6, (int)AttributeProto.Types.AttributeType.Floats);
        Assert.Equal(7, (int)AttributeProto.Types.AttributeType.Ints);
        Assert.Equal(8, (int)AttributeProto.Types.AttributeType.Strings);
        Assert.Equal(9, (int)AttributeProto.Types.AttributeType.Tensors);
        Assert.Equal(10, (int)AttributeProto.Types.AttributeType.Graphs);
        Assert.Equal(11, (int)AttributeProto.Types.AttributeType.SparseTensor);
        Assert.Equal(12, (int)AttributeProto.Types.AttributeType.SparseTensors);
        Assert.Equal(13, (int)AttributeProto.Types.AttributeType.TypeProto);
        Assert.Equal(14, (int)AttributeProto.Types.AttributeType.TypeProtos);

        Assert.Equal(0, (int)TensorProto.Types.DataLocation.Default);
        Assert.Equal(1, (int)TensorProto.Types.DataLocation.External);
        Assert.Equal(8, (int)Onnx.Proto.Version.IrVersion2021730);
        Assert.Equal(10, (int)Onnx.Proto.Version.IrVersion2024325);
        Assert.Equal(0, (int)OperatorStatus.Experimental);
        Assert.Equal(1, (int)OperatorStatus.Stable);
    }

    [Fact]
    public void Wire_bytes_match_hand_encoding()
    {
        // ir_version=8 -> tag (1<<3|0)=0x08, varint 8; opset_import{version=13} -> tag 0x42, len 2, {0x10, 13}.
        var model = new ModelProto { IrVersion = 8 };
        model.OpsetImport.Add(new OperatorSetIdProto { Version = 13 });
        Assert.Equal(new byte[] { 0x08, 0x08, 0x42, 0x02, 0x10, 0x0D }, model.ToByteArray());

        // float_data is packed: tag (4<<3|2)=0x22, length 8, two little-endian floats.
        var t = new TensorProto();
        t.FloatData.Add(1f);
        t.FloatData.Add(-2f);
        Assert.Equal(new byte[] { 0x22, 0x08, 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0 }, t.ToByteArray());
    }

    [Fact]
    public void Model_round_trips_through_bytes()
    {
        var weight = new TensorProto
        {
            Name = "w",
            DataType = (int)TensorProto.Types.DataType.Float,
            RawData = ByteString.CopyFrom(new byte[] { 0, 0, 128, 63 }),
        };
        weight.Dims.Add(1);
        var input = new ValueInfoProto
        {
            Name = "x",
            Type = new TypeProto
            {
                TensorType = new TypeProto.Types.Tensor
                {
                    ElemType = (int)TensorProto.Types.DataType.Float,
                    Shape = new TensorShapeProto
                    {
                        Dim = { new TensorShapeProto.Types.Dimension { DimParam = "N" }, new TensorShapeProto.Types.Dimension { DimValue = 1 } },
                    },
                },
            },
        };
        var node = new NodeProto { OpType = "Mul", Input = { "x", "w" }, Output = { "y" } };
        node.Attribute.Add(new AttributeProto { Name = "k", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 1, 2 } });
        var model = new ModelProto
        {
            IrVersion = 8,
            ProducerName = "test",
            OpsetImport = { new OperatorSetIdProto { Domain = "", Version = 13 } },
            MetadataProps = { new StringStringEntryProto { Key = "classes", Value = "a,b" } },
            Graph = new GraphProto { Name = "g", Node = { node }, Initializer = { weight }, Input = { input } },
        };

        var back = ModelProto.Parser.ParseFrom(model.ToByteArray());
        Assert.Equal(model, back);
        Assert.Equal("N", back.Graph.Input[0].Type.TensorType.Shape.Dim[0].DimParam);
        Assert.Equal(TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue, back.Graph.Input[0].Type.TensorType.Shape.Dim[1].ValueCase);
        Assert.True(back.Graph.Initializer[0].HasRawData);
        Assert.False(back.Graph.HasDocString);
    }

    [Fact]
    public void Unknown_fields_from_newer_schemas_survive_round_trip()
    {
        // Field 26 is not in our schema (e.g. a newer IR's addition); it must be preserved, not dropped.
        byte[] bytes = [0x08, 0x08, 0xD2, 0x01, 0x01, 0x07];
        var model = ModelProto.Parser.ParseFrom(bytes);
        Assert.Equal(8, model.IrVersion);
        Assert.Equal(bytes, model.ToByteArray());
    }
}
