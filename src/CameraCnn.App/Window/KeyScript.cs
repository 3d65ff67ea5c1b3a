// KeyScript: the --keys option of `camcnn run`: a comma-separated list of keys (and clicks, wheel steps) replayed
// into the window's input queue during a --frames run, exactly as if they had been typed.
namespace CameraCnn.App.Window;

/// <summary>Parses and holds a key script such as "F,],],C" or "F,Click:0.8:0.3,Wheel:-1,Esc".</summary>
internal static class KeyScript
{
    /// <summary>Names accepted besides single characters (case-insensitive).</summary>
    public static readonly IReadOnlyDictionary<string, int> Named = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase)
    {
        ["Space"] = Glfw.KeySpace,
        ["Esc"] = Glfw.KeyEscape,
        ["Escape"] = Glfw.KeyEscape,
        ["Enter"] = Glfw.KeyEnter,
        ["Up"] = Glfw.KeyUp,
        ["Down"] = Glfw.KeyDown,
        ["Left"] = Glfw.KeyLeft,
        ["Right"] = Glfw.KeyRight,
        ["F11"] = Glfw.KeyF11,
        ["Plus"] = Glfw.KeyEqual,
        ["Minus"] = Glfw.KeyMinus,
        ["Backspace"] = Glfw.KeyBackspace,
    };

    /// <summary>
    /// Single characters are keys as printed on a US keyboard ('+' is Shift+'='); "Click:X:Y" clicks at fractions of the
    /// framebuffer (0..1) with the left button; "RightClick:X:Y" with the right; "Wheel:N" scrolls N steps.
    /// </summary>
    public static InputEvent[] Parse(string script, float framebufferWidth, float framebufferHeight)
    {
        var events = new List<InputEvent>();
        foreach (string raw in script.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            string token = raw.Trim();
            if (token.Length == 0) continue;
            if (token.Length == 1)
            {
                events.Add(CharKey(token[0]) ?? throw Bad(token));
                continue;
            }
            if (Named.TryGetValue(token, out int key))
            {
                events.Add(InputEvent.KeyPress(key));
                continue;
            }
            string[] parts = token.Split(':');
            var inv = System.Globalization.CultureInfo.InvariantCulture;
            if (parts.Length == 3 && parts[0].ToLowerInvariant() is "click" or "rightclick"
                && float.TryParse(parts[1], inv, out float fx) && float.TryParse(parts[2], inv, out float fy)
                && fx is >= 0 and <= 1 && fy is >= 0 and <= 1)
            {
                int button = parts[0].Equals("click", StringComparison.OrdinalIgnoreCase) ? Glfw.MouseButtonLeft : Glfw.MouseButtonRight;
                events.Add(new InputEvent(InputKind.Click, button, 0, fx * framebufferWidth, fy * framebufferHeight, 0));
                continue;
            }
            if (parts.Length == 2 && parts[0].Equals("wheel", StringComparison.OrdinalIgnoreCase) && int.TryParse(parts[1], out int steps))
            {
                events.Add(new InputEvent(InputKind.Scroll, 0, 0, 0, 0, steps));
                continue;
            }
            throw Bad(token);
        }
        return events.ToArray();
    }

    /// <summary>Checks the syntax without a window (the command validates --keys before opening one).</summary>
    public static void Validate(string script) => Parse(script, 1, 1);

    private static ArgumentException Bad(string token) =>
        new($"--keys: unknown key '{token}' (use single characters such as F ] C + -, names such as Space Esc Up Down F11, Click:X:Y with X, Y in 0..1, or Wheel:N)");

    private static InputEvent? CharKey(char c)
    {
        char u = char.ToUpperInvariant(c);
        if (u is >= 'A' and <= 'Z') return InputEvent.KeyPress(Glfw.KeyA + (u - 'A'));
        if (c is >= '0' and <= '9') return InputEvent.KeyPress('0' + (c - '0'));
        return c switch
        {
            '[' => InputEvent.KeyPress(Glfw.KeyLeftBracket),
            ']' => InputEvent.KeyPress(Glfw.KeyRightBracket),
            '=' => InputEvent.KeyPress(Glfw.KeyEqual),
            '+' => InputEvent.KeyPress(Glfw.KeyEqual, Glfw.ModShift),
            '-' => InputEvent.KeyPress(Glfw.KeyMinus),
            ' ' => InputEvent.KeyPress(Glfw.KeySpace),
            _ => null,
        };
    }
}
