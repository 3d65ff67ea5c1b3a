// OnnxTensors: TensorProto <-> Tensor conversion, with the size checks that keep a corrupt file from
// allocating absurd amounts of memory.
using System.Buffers.Binary;
using CameraCnn.Engine.Onnx.Proto;
using Google.Protobuf;

namespace CameraCnn.Engine.Onnx;

internal static class OnnxTensors
{
    public const int Float = 1, UInt8 = 2, Int8 = 3, Int32 = 6, Int64 = 7, Bool = 9, Double = 11;

    public static TensorProto FromTensor(string name, Tensor t)
    {
        var p = new TensorProto { Name = name, DataType = Float };
        foreach (int d in t.Shape) p.Dims.Add(d);
        var bytes = new byte[t.Length * 4];
        for (int i = 0; i < t.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), t.Data[i]);
        p.RawData = ByteString.CopyFrom(bytes);
        return p;
    }

    /// <summary>A 1-D int64 tensor (shapes, axes, pads and split sizes in exported models).</summary>
    public static TensorProto FromInt64(string name, params long[] values)
    {
        var p = new TensorProto { Name = name, DataType = Int64 };
        p.Dims.Add(values.Length);
        p.Int64Data.Add(values);
        return p;
    }

    public static int[] Shape(TensorProto p)
    {
        var shape = new int[p.Dims.Count];
        for (int i = 0; i < shape.Length; i++)
        {
            long d = p.Dims[i];
            if (d < 0 || d > Tensor.MaxElements)
                throw new InvalidDataException($"tensor '{p.Name}' has dimension {d}");
            shape[i] = (int)d;
        }
        try { Tensor.CheckedLength(shape); }
        catch (ShapeException e) { throw new InvalidDataException($"tensor '{p.Name}': {e.Message}"); }
        return shape;
    }

    /// <summary>Converts any supported element type to a float tensor (integers are exact up to 2^24).</summary>
    public static Tensor ToTensor(TensorProto p)
    {
        if (p.DataLocation == TensorProto.Types.DataLocation.External || p.ExternalData.Count > 0)
            throw new NotSupportedException($"unsupported: external data for tensor '{p.Name}'");
        int[] shape = Shape(p);
        int n = (int)Tensor.CheckedLength(shape);
        int size = ElementSize(p);
        // Check the data length before allocating: a tiny file may declare a shape of up to MaxElements.
        if (p.HasRawData)
        {
            var raw = p.RawData.Span;
            if (raw.Length != (long)n * size)
                throw new InvalidDataException($"tensor '{p.Name}' has {raw.Length} bytes of data, shape {Tensor.Format(shape)} needs {(long)n * size}");
            var data = new float[n];
            for (int i = 0; i < n; i++)
            {
                var b = raw.Slice(i * size, size);
                data[i] = p.DataType switch
                {
                    Float => BinaryPrimitives.ReadSingleLittleEndian(b),
                    Double => (float)BinaryPrimitives.ReadDoubleLittleEndian(b),
                    Int64 => BinaryPrimitives.ReadInt64LittleEndian(b),
                    Int32 => BinaryPrimitives.ReadInt32LittleEndian(b),
                    UInt8 or Bool => b[0],
                    _ => (sbyte)b[0],
                };
            }
            return new Tensor(shape, data);
        }
        int count = p.DataType switch
        {
            Float => p.FloatData.Count,
            Double => p.DoubleData.Count,
            Int64 => p.Int64Data.Count,
            _ => p.Int32Data.Count, // int32, int8, uint8 and bool are stored in int32_data
        };
        if (count != n)
            throw new InvalidDataException($"tensor '{p.Name}' has {count} values, shape {Tensor.Format(shape)} needs {n}");
        var values = new float[n];
        for (int i = 0; i < n; i++)
            values[i] = p.DataType switch
            {
                Float => p.FloatData[i],
                Double => (float)p.DoubleData[i],
                Int64 => p.Int64Data[i],
                _ => p.Int32Data[i],
            };
        return new Tensor(shape, values);
    }

    /// <summary>Integer values of a small constant (shapes, axes, pads), read exactly from int64/int32 data.</summary>
    public static long[] ToInt64(TensorProto p)
    {
        if (p.DataType is not (Int64 or Int32)) return ToTensor(p).Data.Select(v => (long)v).ToArray();
        if (p.DataLocation == TensorProto.Types.DataLocation.External || p.ExternalData.Count > 0)
            throw new NotSupportedException($"unsupported: external data for tensor '{p.Name}'");
        int[] shape = Shape(p);
        int n = (int)Tensor.CheckedLength(shape);
        if (p.HasRawData)
        {
            int size = ElementSize(p);
            var raw = p.RawData.Span;
            if (raw.Length != (long)n * size) throw new InvalidDataException($"tensor '{p.Name}' has the wrong data length");
            var r = new long[n];
            for (int i = 0; i < n; i++)
                r[i] = size == 8 ? BinaryPrimitives.ReadInt64LittleEndian(raw[(i * 8)..]) : BinaryPrimitives.ReadInt32LittleEndian(raw[(i * 4)..]);
            return r;
        }
        long[] values = p.DataType == Int64 ? p.Int64Data.ToArray() : p.Int32Data.Select(v => (long)v).ToArray();
        if (values.Length != n) throw new InvalidDataException($"tensor '{p.Name}' has {values.Length} values, needs {n}");
        return values;
    }

    private static int ElementSize(TensorProto p) => p.DataType switch
    {
        Float or Int32 => 4,
        Double or Int64 => 8,
        UInt8 or Int8 or Bool => 1,
        _ => throw new NotSupportedException($"unsupported: tensor '{p.Name}' element type {DataTypeName(p.DataType)}"),
    };

    public static string DataTypeName(int type) => Enum.IsDefined(typeof(TensorProto.Types.DataType), type)
        ? ((TensorProto.Types.DataType)type).ToString().ToLowerInvariant()
        : $"#{type}";
}
