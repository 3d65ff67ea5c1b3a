// OpContext: one ONNX node as the op table sees it: attributes by ONNX name with defaults, constant inputs,
// and the bookkeeping that makes an attribute nobody read a refusal instead of a silent difference.
using CameraCnn.Engine.Onnx.Proto;

namespace CameraCnn.Engine.Onnx;

internal sealed class OpContext(NodeProto node, string name, int opset, IReadOnlyDictionary<string, TensorProto> constants)
{
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);

    public NodeProto Node { get; } = node;
    public string Name { get; } = name;
    public int Opset { get; } = opset;
    public string OpType => Node.OpType;
    public int InputCount => Node.Input.Count;

    public bool HasInput(int i) => i < Node.Input.Count && !string.IsNullOrEmpty(Node.Input[i]);

    /// <summary>An exception that names the op, the attribute/value and the node: "unsupported: MaxPool dilations=[2,2] in node X".</summary>
    public NotSupportedException Unsupported(string what) => new($"unsupported: {OpType} {what} in node '{Name}'");

    private AttributeProto? Find(string attr)
    {
        _read.Add(attr);
        foreach (var a in Node.Attribute)
            if (a.Name == attr) return a;
        return null;
    }

    public long Int(string attr, long fallback) => Find(attr) is { } a ? a.I : fallback;
    public float Float(string attr, float fallback) => Find(attr) is { } a ? a.F : fallback;
    public string String(string attr, string fallback) => Find(attr) is { } a ? a.S.ToStringUtf8() : fallback;
    public long[]? Ints(string attr) => Find(attr) is { } a ? a.Ints.ToArray() : null;
    public TensorProto? TensorAttribute(string attr) => Find(attr)?.T;
    public AttributeProto? Attribute(string attr) => Find(attr);

    /// <summary>Marks an attribute as understood without reading it (e.g. one whose every value is fine).</summary>
    public void Ignore(string attr) => _read.Add(attr);

    public void CheckAllAttributesRead()
    {
        foreach (var a in Node.Attribute)
            if (!_read.Contains(a.Name)) throw Unsupported($"attribute '{a.Name}'");
    }

    /// <summary>The constant (initializer or Constant output) feeding input i; refused when it is computed at run time.</summary>
    public Tensor Constant(int i, string role)
    {
        if (!HasInput(i)) throw new InvalidDataException($"node '{Name}' ({OpType}) is missing its {role} input");
        if (!constants.TryGetValue(Node.Input[i], out var t))
            throw Unsupported($"with a computed (non-constant) {role}");
        return OnnxTensors.ToTensor(t);
    }

    /// <summary>Integer values of the constant feeding input i (shapes, axes, pads, split sizes), read exactly.</summary>
    public long[] ConstantInts(int i, string role)
    {
        if (!HasInput(i)) throw new InvalidDataException($"node '{Name}' ({OpType}) is missing its {role} input");
        if (!constants.TryGetValue(Node.Input[i], out var t))
            throw Unsupported($"with a computed (non-constant) {role}");
        return OnnxTensors.ToInt64(t);
    }

    /// <summary>The single value of a constant scalar input (clip bounds, pad value, dropout ratio).</summary>
    public float ConstantScalar(int i, string role)
    {
        var t = Constant(i, role);
        return t.Length == 1 ? t.Data[0] : throw new InvalidDataException($"node '{Name}': {role} has {t.Length} values, expected 1");
    }

    public bool IsConstant(int i) => HasInput(i) && constants.ContainsKey(Node.Input[i]);

    public static string Format(long[] v) => "[" + string.Join(",", v) + "]";
}
