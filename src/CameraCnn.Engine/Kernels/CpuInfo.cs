// CpuInfo: which processor this is, read from CPUID (vendor, brand string, family / model / stepping as the vendors'
// manuals define the displayed values). For reports next to speed figures; nothing dispatches on it (the kernels
// choose by instruction-set support, Gemm.ActivePath).
using System.Runtime.Intrinsics.X86;
using System.Text;

namespace CameraCnn.Engine.Kernels;

/// <summary>The processor's identity as CPUID reports it ("unknown" and zeros off x86).</summary>
public sealed record CpuInfo(string Vendor, string ModelName, int Family, int Model, int Stepping)
{
    /// <summary>This machine's processor, read once.</summary>
    public static CpuInfo Current { get; } = Read();

    /// <summary>"AMD EPYC 9R14 (family 25, model 17, stepping 1)".</summary>
    public override string ToString() => Family == 0 ? ModelName : $"{ModelName} (family {Family}, model {Model}, stepping {Stepping})";

    private static CpuInfo Read()
    {
        if (!X86Base.IsSupported) return new CpuInfo("unknown", System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString(), 0, 0, 0);
        var (maxLeaf, ebx0, ecx0, edx0) = X86Base.CpuId(0, 0);
        string vendor = Ascii(ebx0, edx0, ecx0);
        int family = 0, model = 0, stepping = 0;
        if (maxLeaf >= 1)
        {
            int eax = X86Base.CpuId(1, 0).Eax;
            stepping = eax & 0xF;
            int baseModel = (eax >> 4) & 0xF, baseFamily = (eax >> 8) & 0xF;
            int extModel = (eax >> 16) & 0xF, extFamily = (eax >> 20) & 0xFF;
            // Intel SDM / AMD APM: the extended family counts only when the base family is 0xF; the extended model
            // when the base family is 0xF (both vendors) or 6 (Intel).
            family = baseFamily == 0xF ? baseFamily + extFamily : baseFamily;
            model = baseFamily == 0xF || baseFamily == 6 ? (extModel << 4) + baseModel : baseModel;
        }
        string name = vendor;
        if ((uint)X86Base.CpuId(unchecked((int)0x80000000), 0).Eax >= 0x80000004)
        {
            var brand = new StringBuilder();
            for (int leaf = 0; leaf < 3; leaf++)
            {
                var (a, b, c, d) = X86Base.CpuId(unchecked((int)0x80000002) + leaf, 0);
                brand.Append(Ascii(a, b, c, d));
            }
            string s = brand.ToString().Trim('\0', ' ');
            if (s.Length > 0) name = string.Join(' ', s.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        }
        return new CpuInfo(vendor, name, family, model, stepping);
    }

    private static string Ascii(params int[] registers)
    {
        var bytes = new byte[registers.Length * 4];
        for (int i = 0; i < registers.Length; i++) BitConverter.TryWriteBytes(bytes.AsSpan(i * 4), registers[i]);
        return Encoding.ASCII.GetString(bytes).TrimEnd('\0');
    }
}
