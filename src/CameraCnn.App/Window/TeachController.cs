// TeachController: teach mode's input in the live window: hold 1-9 to record (through the inference worker, which
// records the frame it just inferred with its features), W then a digit, R with its text box, Backspace, T, S, V, a
// click on a class tile; a released key (and Backspace, W, a rename) retrains the head in the background by itself.
// It also keeps the teach lines and tiles the renderer draws. The head's verdict is not here: it comes with every
// result from the worker. LiveSession owns the loop and hands it input and time; TeachSession (Teach/) does the work.
using System.Diagnostics;
using System.Globalization;
using System.Text;
using CameraCnn.App.Live;
using CameraCnn.App.Teach;

namespace CameraCnn.App.Window;

/// <summary>The window's teach mode: what the render thread does for a <see cref="TeachSession"/>. Render thread only, except where said.</summary>
internal sealed class TeachController
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private readonly TeachSession _teach;
    private readonly LiveState _s;
    private readonly InferenceWorker _worker;
    private readonly LiveFeed _feed;
    private readonly GlWindow _window;
    private readonly LiveRenderer _renderer;
    private readonly string _savePath;
    private readonly long _recordPeriod;
    private readonly TeachFpsMeter _fps = new();
    private volatile bool _teachChanged = true;
    private long _nextRecordAt, _messageAt = long.MaxValue;
    private int _heldClass = -1, _currentClass = -1, _requested;
    private bool _awaitingClass, _retrain;
    // Renaming (R): the class being renamed (-1: not renaming), the text typed so far, and whether the next typed
    // character is the R itself (GLFW sends a key's text after its key event).
    private int _renaming = -1;
    private readonly StringBuilder _renameText = new();
    private bool _swallowChar;
    private string? _message;

    /// <param name="savePath">where S saves (DATA/teach.onnx).</param>
    /// <param name="recordRate">frames per second recorded while a digit is held.</param>
    public TeachController(TeachSession teach, LiveState state, InferenceWorker worker, LiveFeed feed, GlWindow window, LiveRenderer renderer,
        string savePath, double recordRate)
    {
        _teach = teach;
        _s = state;
        _worker = worker;
        _feed = feed;
        _window = window;
        _renderer = renderer;
        _savePath = savePath;
        _recordPeriod = (long)(Stopwatch.Frequency / Math.Clamp(recordRate, 0.1, 60));
        teach.Changed += OnTeachChanged;
    }

    /// <summary>Stops listening to the session (call before the window goes).</summary>
    public void Detach() => _teach.Changed -= OnTeachChanged;

    /// <summary>Frames asked of the inference thread and not yet recorded, or a retrain not yet asked for (a scripted run waits for them).</summary>
    public bool RecordsPending => _worker.Failure is null && (_worker.PendingRequests() > 0 || _retrain);

    /// <summary>
    /// Nothing is under way: no frame to record, no training, no message on screen, no change not yet drawn. From here
    /// on a frame only shows new results, so a steady state measured now allocates nothing.
    /// </summary>
    public bool Quiet => !RecordsPending && !_teachChanged && _message is null && !_teach.IsTraining;

    private static double Seconds(long ticks) => ticks / (double)Stopwatch.Frequency;

    /// <summary>A short answer to the last teach key, shown for a few seconds.</summary>
    private void Say(string? message)
    {
        _message = message;
        _messageAt = Stopwatch.GetTimestamp();
        _teachChanged = true;
    }

    private void OnTeachChanged() // a teach thread
    {
        _teachChanged = true;
        GlWindow.Wake();
    }

    /// <summary>Takes the input teach mode owns (true: consumed): the rename box, digits held and released, tile clicks, teach keys.</summary>
    public bool Handle(in InputEvent e)
    {
        switch (e.Kind)
        {
            case InputKind.Key or InputKind.KeyRepeat when _renaming >= 0:
                RenameKey(e.Key);
                return true;
            case InputKind.Char when _renaming >= 0:
                RenameChar(e.Key);
                return true;
            case InputKind.Key:
                return Key(e.Key, e.Mods);
            case InputKind.KeyRepeat when e.Key is >= '1' and <= '9':
                return true; // a held digit records on its own clock
            case InputKind.KeyRelease when e.Key - '1' == _heldClass:
                _heldClass = -1;
                _retrain = true; // the new frames are in the head as soon as they are written
                _teachChanged = true;
                return true;
            case InputKind.Click when e.Key == Glfw.MouseButtonLeft && _renderer.Layout.ClassAt(e.X, e.Y) is >= 0 and var cls:
                _currentClass = cls;
                Say($"class {cls + 1} selected (R renames it, Backspace deletes its last frame)");
                return true;
            default:
                return false;
        }
    }

    private bool Key(int key, int mods)
    {
        switch (key)
        {
            case >= '1' and <= '9':
                DigitDown(key - '1');
                break;
            case Glfw.KeyA + ('R' - 'A'):
                StartRename();
                break;
            case Glfw.KeyBackspace:
                _teach.DeleteLast(_currentClass >= 0 ? _currentClass : null);
                _retrain = true;
                Say(_currentClass >= 0 ? $"deleted the last frame of class {_currentClass + 1}" : "deleted the last frame");
                break;
            case Glfw.KeyA + ('T' - 'A') when (mods & Glfw.ModShift) == 0: // Shift+T: the window's timing strip
                if (_teach.FineTuneBlocks > 0)
                {
                    _teach.StartFineTuning(); // the deep run; the automatic ones (a key released) stay head-only
                    Say($"fine-tuning requested: the last {_teach.FineTuneBlocks} residual blocks + head, in the background");
                }
                else
                {
                    _teach.StartTraining();
                    Say("training requested");
                }
                break;
            case Glfw.KeyA + ('S' - 'A'):
                _teach.RequestSave(_savePath);
                Say($"saving {_savePath}");
                break;
            case Glfw.KeyA + ('W' - 'A'):
                _awaitingClass = !_awaitingClass;
                Say(_awaitingClass ? "wrong? press 1-9: the class this frame belongs to" : null);
                break;
            case Glfw.KeyA + ('V' - 'A'):
                _s.ShowConfusion = !_s.ShowConfusion;
                break;
            default:
                return false;
        }
        _teachChanged = true;
        return true;
    }

    /// <summary>Records the next frame of a held digit when it is due; asks for a retrain once the frames asked for are recorded.</summary>
    public void Tick(long now)
    {
        if (_retrain && _heldClass < 0 && _worker.PendingRequests() == 0)
        {
            _retrain = false;
            _teach.Retrain(); // the trainer waits for the recorder, then trains if two classes have frames
        }
        if (_heldClass < 0 || now < _nextRecordAt) return;
        RecordFrame(_heldClass, keyPress: false);
        _nextRecordAt = now + _recordPeriod;
    }

    /// <summary>The event wait, cut to when the next frame of a held digit is due.</summary>
    public double Wait(double wait) =>
        _heldClass < 0 ? wait : Math.Min(wait, Math.Max(0.001, Seconds(_nextRecordAt - Stopwatch.GetTimestamp())));

    /// <summary>One drawn frame, for the idle vs training rates.</summary>
    public void FrameDrawn(long swapped, long captured, long inferred) =>
        _fps.Frame(swapped, _teach.Status.Phase switch
        {
            TeachPhase.Idle => false,
            TeachPhase.Extracting or TeachPhase.Training => true,
            _ => null,
        }, captured, inferred);

    /// <summary>
    /// A digit went down: after W it adds one frame to that class (a correction); otherwise it selects the class and
    /// records frames into it until the key is released (the loop records every <see cref="_recordPeriod"/>).
    /// </summary>
    private void DigitDown(int classIndex)
    {
        _currentClass = classIndex;
        _teachChanged = true;
        if (_awaitingClass)
        {
            _awaitingClass = false;
            if (RecordFrame(classIndex, keyPress: true))
            {
                _retrain = true;
                Say($"adding this frame to class {classIndex + 1}");
            }
            return;
        }
        // The first frame at once (a tap records one), then one every period while held.
        _heldClass = classIndex;
        _nextRecordAt = Stopwatch.GetTimestamp() + _recordPeriod;
        RecordFrame(classIndex, keyPress: true);
    }

    /// <summary>
    /// Records the next frame into a class. While the camera runs, the inference worker records the next frame it
    /// infers together with its backbone features (no second forward); paused or without inference, the frame on
    /// screen is recorded and its features are computed in the background. False if nothing could be recorded.
    /// </summary>
    private bool RecordFrame(int classIndex, bool keyPress)
    {
        _teachChanged = true;
        if (!_s.HaveFrame || _feed.ForRender?.Current is not { } onScreen)
        {
            Say("no frame to record yet");
            return false;
        }
        if (_teach.IsRecordingStopped)
        {
            if (!keyPress) return false; // a held key does not retry: the line under the bars says why
            _teach.ResumeRecording(); // a new key press tries again (e.g. after space was freed)
        }
        if (!_s.Paused && _worker.Failure is null && _feed.State == FeedState.Live)
        {
            // A held key whose last request is still waiting adds none (no pile-up while inference is slow).
            if (!keyPress && _worker.PendingRequests(classIndex) > 0) return true;
            if (_worker.RequestFrame(classIndex)) _requested++;
            else Say("frame dropped (inference is behind)");
            return true;
        }
        _teach.Record(classIndex, onScreen.Image); // the frame on screen (unmirrored), copied by the recorder
        return true;
    }

    /// <summary>R: renames the class under the mouse pointer, else the current one; typed text goes into a box.</summary>
    private void StartRename()
    {
        var (x, y) = _window.CursorPosition;
        int cls = _renderer.Layout.ClassAt(x, y);
        if (cls < 0) cls = _currentClass;
        if (cls < 0)
        {
            Say("R renames a class: record into it (1-9) or point at its tile first");
            return;
        }
        _heldClass = -1;
        _renaming = cls;
        _renameText.Clear();
        _swallowChar = true;
        _teachChanged = true;
    }

    /// <summary>Keys while renaming: Enter keeps the name, Esc cancels, Backspace deletes a character; text comes as Char.</summary>
    private void RenameKey(int key)
    {
        _swallowChar = false; // a new key: its text is typed text
        switch (key)
        {
            case Glfw.KeyEnter or Glfw.KeyKpEnter:
                string name = _renameText.ToString().Trim();
                int cls = _renaming;
                _renaming = -1;
                if (name.Length == 0)
                {
                    Say("rename cancelled (empty name)");
                    break;
                }
                try
                {
                    string saved = _teach.Rename(cls, name);
                    _retrain = true;
                    Say($"class {cls + 1} is now '{saved}'");
                }
                catch (ArgumentException e)
                {
                    Say($"cannot rename: {e.Message}");
                }
                break;
            case Glfw.KeyEscape:
                _renaming = -1;
                Say("rename cancelled");
                break;
            case Glfw.KeyBackspace when _renameText.Length > 0:
                int cut = _renameText.Length - 1;
                if (cut > 0 && char.IsLowSurrogate(_renameText[cut]) && char.IsHighSurrogate(_renameText[cut - 1])) cut--;
                _renameText.Length = cut;
                break;
        }
        _teachChanged = true;
    }

    private void RenameChar(int codePoint)
    {
        if (_swallowChar)
        {
            _swallowChar = false; // the text of the R that opened the box
            return;
        }
        if (codePoint < 0x20 || _renameText.Length >= 40 || !Rune.IsValid(codePoint)) return;
        _renameText.Append(char.ConvertFromUtf32(codePoint));
        _teachChanged = true;
    }

    /// <summary>
    /// Rebuilds the teach lines and tiles when something changed (a key, the trainer's status, a class, a message that
    /// expired): nothing is built while nothing changes, so an idle frame allocates nothing.
    /// </summary>
    public void Update(long now)
    {
        _renderer.Strip.UpdateThumbnails(_teach.Recorder);
        _s.TeachCurrent = _currentClass;
        _s.TeachHeld = _heldClass;
        _s.TeachRenaming = _renaming;
        _s.TeachPredictionAt = _s.IsClassifier ? 2 : -1;
        bool expired = _message is not null && Seconds(now - _messageAt) >= 4;
        if (expired) _message = null;
        if (!_teachChanged && !expired) return;
        _teachChanged = false;
        _s.RenameText = _renameText.ToString();
        var classes = _teach.Classes;
        _s.TeachTiles = classes.Where(c => c.Index < TeachStrip.ThumbSlots)
            .Select(c => new TeachTile(c.Index, $"{c.Index + 1} {c.Name}", c.Count.ToString(Inv))).ToArray();

        var lines = new List<string>();
        int frames = classes.Sum(c => c.Count);
        string holding = _heldClass >= 0 ? $"; recording into class {_heldClass + 1} ({RecordRate:0.#}/s while held)" : "";
        lines.Add(classes.Count == 0 ? "teach: no frames yet (hold 1-9 to record into a class)"
            : $"teach: {frames} frame(s) in {classes.Count} class(es){holding}");
        var st = _teach.Status;
        bool busy = st.Phase is TeachPhase.Extracting or TeachPhase.Training;
        _s.TeachProgress = busy ? (float)st.Fraction : -1;
        string progress = busy ? $" [{st.Fraction:P0}]" : "";
        lines.Add($"{st.Phase.ToString().ToLowerInvariant()}{progress}: {st.Message}");
        // (the live prediction line goes here: Overlay formats it from the newest result)
        if (_teach.TakeRecorderProblem() is { } problem && !_teach.IsRecordingStopped) Say(problem);
        if (_teach.IsRecordingStopped) lines.Add($"{_teach.RecordingError ?? "recording stopped"} (press 1-9 to try again)");
        if (_renaming >= 0) lines.Add($"rename class {_renaming + 1}: type a name, Enter keeps it, Esc cancels");
        else if (_awaitingClass) lines.Add("W: press 1-9, the class this frame belongs to");
        else if (_message is { } m) lines.Add(m);
        _s.TeachLines = lines.ToArray();
        _s.ConfusionTable = _s.ShowConfusion ? ConfusionTable(_teach.LastTraining) : null;
    }

    private double RecordRate => Stopwatch.Frequency / (double)_recordPeriod;

    /// <summary>The confusion matrix as table cells: the title, then a header row and one row per true class.</summary>
    private static string[][] ConfusionTable(TeachTrainingResult? last)
    {
        if (last is null) return [["no training yet: record two classes (or press T) and a head is measured on held-out frames"]];
        var h = last.Head;
        var labels = h.Head.Labels;
        int k = labels.Count;
        string accuracy = float.IsNaN(h.ValAccuracy) ? "n/a" : h.ValAccuracy.ToString("P1");
        var rows = new List<string[]> { new[] { $"validation confusion (rows: true, columns: predicted), accuracy {accuracy}" } };
        rows.Add(["", .. Enumerable.Range(1, k).Select(c => c.ToString(Inv))]);
        for (int r = 0; r < k; r++)
            rows.Add([$"{r + 1} {labels[r]}", .. Enumerable.Range(0, k).Select(c => h.Confusion[r, c].ToString(Inv))]);
        return rows.ToArray();
    }

    /// <summary>The "teach" block of --stats-json (after the recorder has written what was queued).</summary>
    public Dictionary<string, object?> Stats()
    {
        var last = _teach.LastTraining;
        return new()
        {
            ["data"] = _teach.Dataset.Directory,
            ["recorded"] = _teach.RecordedFrames,
            ["recordRequests"] = _requested,
            ["recordRate"] = RunStats.Round(RecordRate),
            ["classes"] = _teach.Classes.Select(c => new { index = c.Index, name = c.Name, count = c.Count }).ToArray(),
            ["phase"] = _teach.Status.Phase.ToString(),
            ["status"] = _teach.Status.Message,
            ["head"] = _s.IsClassifier,
            ["trainings"] = _teach.Trainings,
            ["prediction"] = _s.IsClassifier ? _s.Prediction.Label : null,
            ["valAccuracy"] = last is null ? null : RunStats.Round(last.Head.ValAccuracy, 4),
            ["trainSeconds"] = last is null ? null : RunStats.Round(last.Head.Seconds, 3),
            ["featureSeconds"] = last is null ? null : RunStats.Round(last.Features.Seconds, 3),
            ["featuresComputed"] = last?.Features.Computed,
            ["saved"] = _teach.LastSaved,
            ["fps"] = _fps.ToStats(),
            ["fineTune"] = _teach.FineTuneBlocks,
            ["fineTunings"] = _teach.FineTunings,
            ["backbone"] = _teach.Network.Backbone.Name,
            ["lastFineTune"] = RunStats.FineTune(last),
        };
    }
}
