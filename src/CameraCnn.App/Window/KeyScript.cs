// KeyScript: the --keys option of `camcnn run`: a comma-separated list of keys (and clicks, wheel steps) replayed
// into the window's input queue during a run, exactly as if they had been typed (press, text, release); ScriptPlayer
// puts them in at their frames and times, and says from which frame on the run is in its steady state.
using System.Diagnostics;

namespace CameraCnn.App.Window;

/// <summary>One step of a key script: an input event (null: only a pause) and the seconds it waits after the previous step.</summary>
/// <param name="Token">which comma-separated token of the script the step comes from (a tap's press, text and release
/// share one and go in together).</param>
internal readonly record struct ScriptStep(InputEvent? Event, double Delay, int Token);

/// <summary>Parses a key script such as "F,],],C", "F,Click:0.8:0.3,Wheel:-1,Esc" or "Hold:1:2,Hold:2:2,T,Wait:5,S".</summary>
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
    /// Single characters are keys as printed on a US keyboard ('+' is Shift+'='), pressed and released, with the text
    /// they type; "Click:X:Y" clicks at fractions of the framebuffer (0..1) with the left button; "RightClick:X:Y" with
    /// the right; "Wheel:N" scrolls N steps; "Hold:K:S" holds key K for S seconds (the script waits meanwhile);
    /// "Wait:S" pauses the script S seconds; "Text:abc" types text (as into a rename box).
    /// </summary>
    public static ScriptStep[] Parse(string script, float framebufferWidth, float framebufferHeight)
    {
        var steps = new List<ScriptStep>();
        double delay = 0; // seconds the next step waits after the previous one
        int token = 0;
        void Add(InputEvent e)
        {
            steps.Add(new ScriptStep(e, delay, token));
            delay = 0;
        }
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        foreach (string raw in script.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            string text = raw.Trim();
            if (text.Length == 0) continue;
            token++;
            if (text.Length == 1)
            {
                var press = CharKey(text[0]) ?? throw Bad(text);
                Add(press);
                if (text[0] is > ' ' and < (char)127) Add(InputEvent.Text(text[0]));
                Add(InputEvent.KeyRelease(press.Key, press.Mods));
                continue;
            }
            if (Named.TryGetValue(text, out int key))
            {
                Add(InputEvent.KeyPress(key));
                Add(InputEvent.KeyRelease(key));
                continue;
            }
            string[] parts = text.Split(':');
            string verb = parts[0].ToLowerInvariant();
            if (parts.Length == 3 && verb is "click" or "rightclick"
                && float.TryParse(parts[1], inv, out float fx) && float.TryParse(parts[2], inv, out float fy)
                && fx is >= 0 and <= 1 && fy is >= 0 and <= 1)
            {
                int button = verb == "click" ? Glfw.MouseButtonLeft : Glfw.MouseButtonRight;
                Add(new InputEvent(InputKind.Click, button, 0, fx * framebufferWidth, fy * framebufferHeight, 0));
                continue;
            }
            if (parts.Length == 2 && verb == "wheel" && int.TryParse(parts[1], out int notches))
            {
                Add(new InputEvent(InputKind.Scroll, 0, 0, 0, 0, notches));
                continue;
            }
            if (parts.Length == 2 && verb == "wait" && double.TryParse(parts[1], inv, out double wait) && wait is >= 0 and <= 3600)
            {
                delay += wait;
                continue;
            }
            if (parts.Length == 3 && verb == "hold" && parts[1].Length == 1 && CharKey(parts[1][0]) is { } held
                && double.TryParse(parts[2], inv, out double hold) && hold is > 0 and <= 3600)
            {
                Add(held);
                delay += hold;
                Add(InputEvent.KeyRelease(held.Key, held.Mods));
                continue;
            }
            if (verb == "text" && text.Length > 5)
            {
                foreach (var rune in text[5..].EnumerateRunes()) Add(InputEvent.Text(rune.Value));
                continue;
            }
            throw Bad(text);
        }
        if (delay > 0) steps.Add(new ScriptStep(null, delay, token + 1)); // a trailing Wait keeps the run going that long
        return steps.ToArray();
    }

    /// <summary>Checks the syntax without a window (the command validates --keys before opening one).</summary>
    public static void Validate(string script) => Parse(script, 1, 1);

    private static ArgumentException Bad(string token) =>
        new($"--keys: unknown key '{token}' (use single characters such as F ] C + -, names such as Space Esc Up Down F11, Click:X:Y with X, Y in 0..1, Wheel:N, Hold:K:S, Wait:S or Text:abc; commas separate steps)");

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

/// <summary>
/// Replays a key script during a run. A --frames run puts the keys in over its second quarter (a step's own Wait or
/// Hold time comes on top); the steady state, where allocations are counted, starts after them.
/// </summary>
internal sealed class ScriptPlayer
{
    private readonly ScriptStep[] _steps;
    private readonly int[] _atFrame;
    private readonly int _events; // steps up to the last one with an event (a trailing Wait has none)
    private int _next;
    private long _lastStepAt = Stopwatch.GetTimestamp();

    /// <param name="frames">the run's --frames, or -1 for a --seconds or open-ended run (keys as soon as due).</param>
    public ScriptPlayer(string? script, int frames, float framebufferWidth, float framebufferHeight)
    {
        _steps = script is null ? [] : KeyScript.Parse(script, framebufferWidth, framebufferHeight);
        int tokens = _steps.Length == 0 ? 0 : _steps[^1].Token, spacing = Math.Max(1, frames / 4 / Math.Max(1, tokens));
        _atFrame = new int[_steps.Length];
        for (int i = 0; i < _steps.Length; i++) _atFrame[i] = frames > 0 ? frames / 4 + (_steps[i].Token - 1) * spacing : 0;
        SteadyStart = frames > 0 ? Math.Max(frames / 2, _steps.Length == 0 ? 0 : _atFrame[^1] + 5) : 120;
        _events = Array.FindLastIndex(_steps, s => s.Event is not null) + 1;
    }

    /// <summary>The first frame of the steady state (after warm-up and the last scripted key).</summary>
    public int SteadyStart { get; }
    /// <summary>Every step has been played.</summary>
    public bool Done => _next >= _steps.Length;
    /// <summary>Every key, click and text has been put in (a trailing Wait may still run).</summary>
    public bool EventsDone => _next >= _events;
    /// <summary>When the last step was played (Stopwatch ticks), 0 before the first.</summary>
    public long LastKeyAt { get; private set; }

    /// <summary>The event wait, cut to when the next step is due.</summary>
    public double Wait(double wait)
    {
        if (Done || _steps[_next].Delay <= 0) return wait;
        double elapsed = (Stopwatch.GetTimestamp() - _lastStepAt) / (double)Stopwatch.Frequency;
        return Math.Min(wait, Math.Max(0.001, _steps[_next].Delay - elapsed));
    }

    /// <summary>Puts the steps due at <paramref name="frame"/> into the window's input queue.</summary>
    public void Play(long frame, GlWindow window)
    {
        while (!Done && frame >= _atFrame[_next]
               && Stopwatch.GetTimestamp() - _lastStepAt >= (long)(_steps[_next].Delay * Stopwatch.Frequency))
        {
            if (_steps[_next++].Event is { } scripted) window.Enqueue(scripted);
            LastKeyAt = _lastStepAt = Stopwatch.GetTimestamp();
        }
    }
}
