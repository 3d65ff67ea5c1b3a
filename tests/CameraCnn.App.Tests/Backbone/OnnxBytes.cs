// OnnxBytes: just enough protobuf wire-format reading and writing to fuzz a real ONNX file without the engine's
// (internal) generated classes: which bytes are bulk tensor data and which are structure, where the graph field
// ends, and an appended graph fragment that overrides an initializer (protobuf merges a repeated message field).
using Google.Protobuf;

namespace CameraCnn.App.Tests.Backbone;

internal static class OnnxBytes
{
    // Field numbers from onnx.proto.
    private const int ModelGraph = 7, GraphInitializer = 5;
    private const int TensorDims = 1, TensorDataType = 2, TensorFloatData = 4, TensorName = 8, TensorRawData = 9;
    private static readonly int[] TensorBulkFields = [4, 5, 7, 9, 10, 11]; // float, int32, int64, raw, double, uint64

    /// <summary>The layout of one ModelProto: bytes that belong to bulk initializer data, and the end of the graph field.</summary>
    public sealed record Layout(bool[] IsData, int GraphEnd)
    {
        public int[] Structural => Enumerable.Range(0, IsData.Length).Where(i => !IsData[i]).ToArray();
    }

    public static Layout Scan(byte[] model)
    {
        var isData = new bool[model.Length];
        int graphEnd = -1;
        Walk(model, 0, model.Length, (field, wire, start, end) =>
        {
            if (field != ModelGraph || wire != 2) return;
            graphEnd = end;
            Walk(model, start, end, (gf, gw, gs, ge) =>
            {
                if (gf != GraphInitializer || gw != 2) return;
                Walk(model, gs, ge, (tf, tw, ts, te) =>
                {
                    if (tw == 2 && TensorBulkFields.Contains(tf) && te - ts >= 64) isData.AsSpan(ts, te - ts).Fill(true);
                });
            });
        });
        if (graphEnd < 0) throw new InvalidDataException("no graph field");
        return new Layout(isData, graphEnd);
    }

    /// <summary>Calls visit(field, wireType, payloadStart, payloadEnd) for each field of the message in [start, end).</summary>
    private static void Walk(byte[] b, int start, int end, Action<int, int, int, int> visit)
    {
        int at = start;
        while (at < end)
        {
            ulong key = Varint(b, ref at);
            int field = (int)(key >> 3), wire = (int)(key & 7);
            int payload = at;
            switch (wire)
            {
                case 0: Varint(b, ref at); break;
                case 1: at += 8; break;
                case 5: at += 4; break;
                case 2:
                    int length = checked((int)Varint(b, ref at));
                    payload = at;
                    at += length;
                    break;
                default: throw new InvalidDataException($"wire type {wire} at {at}");
            }
            if (at > end) throw new InvalidDataException($"field {field} runs past its message");
            visit(field, wire, payload, at);
        }
    }

    private static ulong Varint(byte[] b, ref int at)
    {
        ulong v = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            byte x = b[at++];
            v |= (ulong)(x & 0x7f) << shift;
            if (x < 0x80) return v;
        }
        throw new InvalidDataException("varint too long");
    }

    /// <summary>
    /// The model with one more graph fragment appended: an initializer named <paramref name="name"/> (replacing the
    /// original one of that name, the importer keeps the last) with the given dims and only <paramref name="dataBytes"/>
    /// bytes of float data: a file a few bytes longer that claims as many elements as the dims multiply to.
    /// </summary>
    public static byte[] WithInitializerOverride(byte[] model, string name, long[] dims, int dataBytes, bool raw)
    {
        var tensor = new MemoryStream();
        var t = new CodedOutputStream(tensor);
        foreach (long d in dims)
        {
            t.WriteTag(TensorDims, WireFormat.WireType.Varint);
            t.WriteInt64(d);
        }
        t.WriteTag(TensorDataType, WireFormat.WireType.Varint);
        t.WriteInt32(1); // float
        t.WriteTag(TensorName, WireFormat.WireType.LengthDelimited);
        t.WriteString(name);
        t.WriteTag(raw ? TensorRawData : TensorFloatData, WireFormat.WireType.LengthDelimited);
        t.WriteBytes(ByteString.CopyFrom(new byte[dataBytes]));
        t.Flush();

        var graph = new MemoryStream();
        var g = new CodedOutputStream(graph);
        g.WriteTag(GraphInitializer, WireFormat.WireType.LengthDelimited);
        g.WriteBytes(ByteString.CopyFrom(tensor.ToArray()));
        g.Flush();

        var tail = new MemoryStream();
        var m = new CodedOutputStream(tail);
        m.WriteTag(ModelGraph, WireFormat.WireType.LengthDelimited);
        m.WriteBytes(ByteString.CopyFrom(graph.ToArray()));
        m.Flush();
        return [.. model, .. tail.ToArray()];
    }
}
